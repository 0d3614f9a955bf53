"""Per-process caches of what changes rarely (issue 17 finding 10): the JWKS, API-key lookups, the
active signing key; kept true across processes by generation counters in the database.

Every change to a cached family of rows increments that family's counter (``bump_generation``) in the
same transaction as the change. A process serves its copy only while the counter still has the value
it was read at; one indexed read of two small rows per transaction tells it so. Why a row and not Redis
pub/sub: the counter commits (or rolls back) with the change itself, so there is no moment at which a
revoked API key is gone from the database but still accepted by a worker that has not yet heard of it,
and no second service whose outage would have to be handled; the read costs one round trip on a
connection the request opens anyway (docs/operations.md#caches, docs/benchmarks.md#http).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.models import CacheGeneration

# Keys in force: the credential signing keys (the JWKS and the active key: escrow.services.signing_keys)
# and the proven escrow key (escrow.services.key_pinning).
KEYS: Final = "keys"
# Platforms and their API keys (escrow.services.platforms.authenticate_platform).
PLATFORMS: Final = "platforms"
GENERATIONS: Final = (KEYS, PLATFORMS)
# API keys are cached by prefix; a bound keeps a flood of distinct valid keys from growing a worker.
MAX_ENTRIES: Final = 10_000
_SESSION_INFO_KEY: Final = "escrow.read_cache.generations"
# {family: how many times this session moved it}: ReadCache.get keeps no value whose load moved it.
_BUMPS_INFO_KEY: Final = "escrow.read_cache.bumps"

T = TypeVar("T")


def bump_generation(session: Session, name: str) -> None:
    """Records, in the session's transaction, that the rows of family ``name`` changed: every process
    reloads them on its next read after the commit. Does not commit.

    Read nothing of that family through a ReadCache later in the same transaction: were it rolled
    back, the value would sit under a number that another change may commit next.
    """
    result = session.execute(
        update(CacheGeneration)
        .where(CacheGeneration.name == name)
        .values(generation=CacheGeneration.generation + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # the migration seeds every name
        raise LookupError(f"no cache generation row named {name!r}: run `escrow db upgrade`")
    session.info.pop(_SESSION_INFO_KEY, None)
    bumps = session.info.setdefault(_BUMPS_INFO_KEY, {})
    bumps[name] = bumps.get(name, 0) + 1


def current_generations(session: Session) -> dict[str, int]:
    """Returns {family: generation}, read once per transaction of ``session``."""
    transaction = session.get_transaction()
    memo = session.info.get(_SESSION_INFO_KEY)
    if memo is not None and transaction is not None and memo[0] is transaction:
        return cast(dict[str, int], memo[1])
    generations = {
        name: generation
        for name, generation in session.execute(select(CacheGeneration.name, CacheGeneration.generation))
    }
    session.info[_SESSION_INFO_KEY] = (session.get_transaction(), generations)
    return generations


@dataclass(frozen=True, slots=True)
class _Entry:
    generation: int
    value: object
    valid_until: datetime | None


class ReadCache:
    """One process's cached values, each under (family, key) and the family's generation when read.

    Thread-safe (gthread workers share it). Built once per process with the composition root
    (escrow.bootstrap.Components.read_cache) and passed to the services that use it.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, Hashable], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        session: Session,
        family: str,
        key: Hashable,
        load: Callable[[], T],
        *,
        now: datetime | None = None,
        valid_until: Callable[[T], datetime | None] = lambda _value: None,
    ) -> T:
        """Returns the cached value of (family, key) if the family's generation has not moved since it
        was loaded (and ``now`` is before its ``valid_until``), else ``load()``'s value, then cached.

        ``load`` runs on ``session`` after the generation was read in the same transaction, so a value
        is never older than the generation it is stored under (at worst newer, which costs one extra
        reload). Raises whatever ``load`` raises (nothing is cached then). A value whose ``load`` moved
        the family itself (the first signing key, made by the issuance that looked for it) is returned
        but not kept: it would sit under the generation read before the change, and if the change then
        rolls back (one_transaction: a fault after the operation) that generation stays, and the value
        with it, naming rows that do not exist (review of issue 15).
        """
        generation = current_generations(session).get(family, -1)
        slot = (family, key)
        with self._lock:
            entry = self._entries.get(slot)
            is_current = entry is not None and entry.generation == generation
            if entry is not None and is_current and _is_unexpired(entry, now):
                self._entries.move_to_end(slot)
                return cast(T, entry.value)
        bumps_before = session.info.get(_BUMPS_INFO_KEY, {}).get(family, 0)
        value = load()
        if session.info.get(_BUMPS_INFO_KEY, {}).get(family, 0) != bumps_before:
            return value
        with self._lock:
            self._entries[slot] = _Entry(generation, value, valid_until(value))
            self._entries.move_to_end(slot)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _is_unexpired(entry: _Entry, now: datetime | None) -> bool:
    return entry.valid_until is None or (now is not None and now < entry.valid_until)
