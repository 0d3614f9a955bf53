"""The OPRF key in force and the service's own evaluation counts (issue 13, docs/protocol.md#oprf-nodes).

The key is made by the same dealerless ceremony as the escrow key (purpose ``oprf``); its public record
(public key, threshold, every node's public share) is stored here and appended to the transparency log
(``oprf.key_activated``), so anyone can check a node's /key against the log. The service counts the
elements it sends to the nodes per UTC hour and logs each finished hour (``oprf.usage``): a node that
has evaluated more than the log says was asked by someone other than this service.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import CryptoError
from escrow.crypto.ristretto import from_edwards
from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.errors import InvalidStateError
from escrow.models import KEY_STATUS_ACTIVE, KEY_STATUS_RETIRED, OprfKey, OprfUsage
from escrow.protocol._fields import utc_second_text
from escrow.services.transparency import LogSigner, append_event, queue_event


@functools.lru_cache(maxsize=16)
def _parse_key_record(record: str) -> ThresholdPublicKey:
    return ThresholdPublicKey.from_dict(json.loads(record))


def active_oprf_key(session: Session) -> ThresholdPublicKey:
    """Returns the active OPRF key. Raises InvalidStateError if none has been made yet."""
    row = session.execute(select(OprfKey).where(OprfKey.status == KEY_STATUS_ACTIVE)).scalar_one_or_none()
    if row is None:
        raise InvalidStateError(
            "no OPRF key is active yet: the node operators run its ceremony first "
            "(docs/operations.md#oprf-nodes)"
        )
    try:
        return _parse_key_record(row.key_record)
    except (ValueError, CryptoError) as e:
        raise InvalidStateError(f"OPRF key {row.key_id} has a damaged record") from e


def oprf_key_event(key: ThresholdPublicKey) -> dict[str, object]:
    """The public record the log keeps of an OPRF key: what an auditor checks every node's /key against."""
    return {
        "key_id": key.key_id,
        "threshold": key.threshold,
        "nodes": len(key.verification_keys),
        "public_key": b64u_encode(bytes(from_edwards(key.public_key))),
        "public_shares": {
            str(i): b64u_encode(bytes(from_edwards(key.verification_key(i))))
            for i in sorted(key.verification_keys)
        },
    }


def install_oprf_key(session: Session, key: ThresholdPublicKey, *, log: LogSigner, now: datetime) -> None:
    """Stores `key` as the active OPRF key (retiring any other) and logs ``oprf.key_activated`` with its
    public key and every node's public share. Does not commit (the ceremony use case does).

    Raises InvalidStateError if persons were registered under another OPRF key: their person keys
    come from it, so replacing it would lock every one of them out.
    """
    current = session.execute(select(OprfKey).where(OprfKey.status == KEY_STATUS_ACTIVE)).scalar_one_or_none()
    if current is not None and current.key_id == key.key_id:
        return
    if current is not None:
        from escrow.models import Person  # noqa: PLC0415 - one use

        if session.execute(select(Person.id).limit(1)).first() is not None:
            raise InvalidStateError(
                f"persons are registered under OPRF key {current.key_id}; a new OPRF key would lock them out "
                "(reshare the key among new nodes instead)"
            )
        current.status = KEY_STATUS_RETIRED
    session.add(
        OprfKey(
            key_id=key.key_id,
            threshold=key.threshold,
            node_count=len(key.verification_keys),
            public_key=bytes(from_edwards(key.public_key)),
            status=KEY_STATUS_ACTIVE,
            created_at=now,
            activated_at=now,
            key_record=canonical_json(key.to_dict()).decode(),
        )
    )
    append_event(session, log, kind="oprf.key_activated", data=oprf_key_event(key), now=now)
    session.flush()


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


SERVICE_TOTAL_NODE = 0
"""The ``oprf_usage`` row of an hour that counts the elements the service had evaluated (each once)."""


def record_evaluations(
    session: Session,
    *,
    elements: int,
    nodes: Sequence[int],
    log: LogSigner,
    now: datetime,
    sent: int | None = None,
) -> None:
    """Counts `elements` evaluated in `now`'s hour and `sent` (default: `elements`) sent to each of
    `nodes` (an evaluation too few nodes answered evaluated 0 but was sent to those that did), logs
    every earlier hour not yet logged (``oprf.usage``), and commits, so the count survives whatever
    the caller does next."""
    hour = _hour(now)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    per_node = elements if sent is None else sent
    for node, count in ((SERVICE_TOTAL_NODE, elements), *((n, per_node) for n in nodes)):
        statement = insert(OprfUsage).values(hour=hour, node=node, elements=count, logged=False)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[OprfUsage.hour, OprfUsage.node],
                set_={"elements": OprfUsage.elements + count},
            )
        )
    finished = session.scalars(
        select(OprfUsage.hour)
        .where(OprfUsage.hour < hour, OprfUsage.node == SERVICE_TOTAL_NODE, OprfUsage.logged.is_(False))
        .order_by(OprfUsage.hour)
    ).all()
    for finished_hour in finished:
        claimed = session.execute(
            update(OprfUsage)
            .where(OprfUsage.hour == finished_hour, OprfUsage.logged.is_(False))
            .values(logged=True)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]  # CursorResult: another request logged it
            continue
        counts = {
            row.node: row.elements
            for row in session.scalars(select(OprfUsage).where(OprfUsage.hour == finished_hour))
        }
        queue_event(
            session,
            kind="oprf.usage",
            data={
                "hour": utc_second_text(finished_hour),
                "until": utc_second_text(finished_hour + timedelta(hours=1)),
                "elements": counts.pop(SERVICE_TOTAL_NODE, 0),
                "nodes": {str(n): counts[n] for n in sorted(counts)},
            },
            now=now,
        )
    session.commit()
