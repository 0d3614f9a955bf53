"""The registry of scope kinds: what a disclosure request may open, one class per kind.

Every scope item names one sealed envelope by its digest (what the officers sign, and what a key-holder's
tool checks the served envelope against) plus what the kind says the envelope is about. Items are
JSON objects with a ``kind`` member, except for the first kind, ``pseudonym``, whose items carry no
``kind`` (request bodies from before the registry have none, and their digests must not change); an
explicit ``"kind": "pseudonym"`` is refused, so every item has exactly one encoding.

To add a kind (docs/architecture.md): a frozen dataclass here decorated with ``@scope_kind``; the
drafting step of escrow.services that finds its stored envelope; its tests. The key-holders' and
officers' tools need no change: they ask the item (``label``, ``check_envelope``).
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self, TypeVar

from escrow.protocol import _fields
from escrow.protocol.errors import ProtocolError

DEFAULT_KIND: Final = "pseudonym"


class UnknownScopeKindError(ProtocolError):
    """A scope item names a kind this code does not know (a newer release's kind, or garbage)."""

    code = "unknown-scope-kind"
    title = "Unknown scope kind"


class ScopeMismatchError(ProtocolError):
    """An envelope is not the one a scope item names (another digest, platform or pseudonym)."""

    code = "scope-mismatch"
    title = "Envelope does not match the scope"


class ScopeItem(ABC):
    """One entry of a request's scope. Subclasses are frozen slots dataclasses registered by kind."""

    __slots__ = ()
    kind: ClassVar[str]
    envelope_digest: str

    @classmethod
    @abstractmethod
    def from_members(cls, data: Mapping[str, object]) -> Self:
        """Returns the item in `data` (its members without ``kind``). Raises ProtocolError."""

    @abstractmethod
    def members(self) -> dict[str, Any]:
        """Returns the item's members without ``kind``, as they are encoded."""

    @property
    @abstractmethod
    def label(self) -> str:
        """Returns one line naming what is in scope, for the officers' and key-holders' tools."""

    @abstractmethod
    def check_envelope(self, envelope_digest: str, context: Mapping[str, object]) -> None:
        """Checks that an envelope with `envelope_digest` and `context` is the one this item names.

        Raises ScopeMismatchError otherwise.
        """

    def to_dict(self) -> dict[str, Any]:
        """Returns the item as encoded in a request body (no ``kind`` for the default kind)."""
        members = self.members()
        return members if self.kind == DEFAULT_KIND else {**members, "kind": self.kind}


_KINDS: dict[str, type[ScopeItem]] = {}
_Item = TypeVar("_Item", bound=type[ScopeItem])


def scope_kind(name: str) -> Callable[[_Item], _Item]:
    """Registers a ScopeItem class under kind `name` (a class decorator). Raises ValueError if taken."""

    def register(cls: _Item) -> _Item:
        if name in _KINDS:
            raise ValueError(f"scope kind {name!r} is registered twice")
        cls.kind = name
        _KINDS[name] = cls
        return cls

    return register


def scope_kinds() -> tuple[str, ...]:
    """Returns the registered kinds, in registration order."""
    return tuple(_KINDS)


def parse_scope_item(data: object) -> ScopeItem:
    """Returns the scope item encoded in `data`, dispatched on its ``kind`` (absent: ``pseudonym``).

    Raises UnknownScopeKindError naming an unknown kind, ProtocolError for anything else malformed.
    """
    if not isinstance(data, dict):
        raise ProtocolError("a scope item must be a JSON object")
    if "kind" not in data:
        return _KINDS[DEFAULT_KIND].from_members(data)
    kind = data["kind"]
    if kind == DEFAULT_KIND:
        raise ProtocolError(f"a {DEFAULT_KIND} scope item carries no kind member (it is the default)")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise UnknownScopeKindError(
            f"scope kind {kind!r} is not supported (this tool understands {', '.join(_KINDS)}); "
            "upgrade the tool if the kind is newer"
        )
    return _KINDS[kind].from_members({k: v for k, v in data.items() if k != "kind"})


@scope_kind(DEFAULT_KIND)
@dataclass(frozen=True, slots=True)
class PseudonymScope(ScopeItem):
    """A platform pseudonym and the digest of its envelope, as the platform took it from the credential."""

    platform: str
    pseudonym: str
    envelope_digest: str

    _WHAT: ClassVar[str] = "a pseudonym scope item"

    @classmethod
    def from_members(cls, data: Mapping[str, object]) -> Self:
        data = _fields.members(data, cls._WHAT, ("platform", "pseudonym", "envelope_digest"))
        return cls(
            platform=_fields.name(data, "platform", cls._WHAT),
            pseudonym=_fields.name(data, "pseudonym", cls._WHAT),
            envelope_digest=_fields.b64u_digest(data, "envelope_digest", cls._WHAT),
        )

    def members(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "pseudonym": self.pseudonym,
            "envelope_digest": self.envelope_digest,
        }

    @property
    def label(self) -> str:
        return f"{self.platform} / {self.pseudonym}"

    def check_envelope(self, envelope_digest: str, context: Mapping[str, object]) -> None:
        # The envelope's context binds platform and pseudonym (DESIGN.md section 5): a served envelope
        # of another person, or of this person on another platform, is refused here.
        if (
            not hmac.compare_digest(envelope_digest, self.envelope_digest)
            or context.get("platform") != self.platform
            or context.get("pseudonym") != self.pseudonym
        ):
            raise ScopeMismatchError(
                f"the envelope for {self.platform}/{self.pseudonym} does not match the digest the officers "
                "signed (tampered or substituted)"
            )
