"""The one small interface of identity proofing: what a provider hands over once it has verified someone.

A VerifiedIdentity lives in memory only between verification and sealing (issue 3): it is never
logged (its repr hides every attribute), stored or sent anywhere but into the identity seal.
IdentityProvider is the protocol of the providers a browser is sent to and comes back from
(issue 12); escrow.identity.registry builds them from Settings.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Protocol

from escrow.crypto.transcript import canonical_json
from escrow.errors import IdentityProofError
from escrow.protocol.identity import identity_key

PROVIDER_OIDC: Final = "oidc"
PROVIDER_OFFICER: Final = "officer"
PROVIDER_KINDS: Final = (PROVIDER_OIDC, PROVIDER_OFFICER)

ASSURANCE_LOW: Final = "low"
ASSURANCE_SUBSTANTIAL: Final = "substantial"
ASSURANCE_HIGH: Final = "high"
ASSURANCE_LEVELS: Final = (ASSURANCE_LOW, ASSURANCE_SUBSTANTIAL, ASSURANCE_HIGH)
MAX_ATTRIBUTE_LENGTH: Final = 256


@dataclass(frozen=True, slots=True, repr=False)
class VerifiedIdentity:
    """Verified attributes of one person, as the provider vouched for them.

    ``identity_key`` is the canonical key naming the person at that provider (issuer + subject for
    OIDC, country + document number for an officer check): registration turns it into the keyed
    ``person_key``. ``document`` holds the document type and number for officer checks.
    """

    provider_kind: str
    issuer: str
    subject: str
    name: str
    birthdate: str
    assurance: str
    document: tuple[str, str] | None = None

    def __repr__(self) -> str:
        return f"VerifiedIdentity(provider_kind={self.provider_kind!r}, <attributes hidden>)"

    @property
    def identity_key(self) -> bytes:
        """Returns the canonical, provider-scoped key of this person (input to person_key)."""
        return identity_key(self.provider_kind, self.issuer, self.subject)

    def to_sealed_bytes(self) -> bytes:
        """Returns the canonical JSON record that is sealed to the escrow key (and nothing else)."""
        record: dict[str, str] = {
            "provider": self.provider_kind,
            "issuer": self.issuer,
            "subject": self.subject,
            "name": self.name,
            "birthdate": self.birthdate,
            "assurance": self.assurance,
        }
        if self.document is not None:
            record["document_type"], record["document_number"] = self.document
        return canonical_json(record)


@dataclass(frozen=True, slots=True, repr=False)
class LoginStart:
    """Where to send the browser, and what to keep (server side, in its session) to finish the login.

    ``kept`` holds the login attempt's secrets (state, nonce, PKCE verifier): never logged.
    """

    url: str
    kept: Mapping[str, str]

    def __repr__(self) -> str:
        return "LoginStart(<hidden>)"


class IdentityProvider(Protocol):
    """A provider the browser is sent to and comes back from with proof of who the person is.

    ``id`` is a stable slug (it names the provider in URLs and in the session) and ``label`` what
    the register and login pages call it. Verification officers check people in person instead
    (escrow.identity.officer), so they are no such provider.
    """

    @property
    def id(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def begin(self) -> LoginStart:
        """Returns a fresh login attempt. Raises IdentityProofError if the provider cannot be used."""
        ...

    def finish(
        self, *, kept: Mapping[str, str], callback: Mapping[str, str], now: datetime
    ) -> VerifiedIdentity:
        """Returns the identity the provider vouched for, given what begin() kept and the query the
        browser came back with. Raises IdentityProofError if anything does not verify."""
        ...


def clean_text(value: object, field: str, *, max_length: int = MAX_ATTRIBUTE_LENGTH) -> str:
    """Returns ``value`` NFC-normalised and stripped. Raises IdentityProofError if empty or too long.

    The message names the field, never its value.
    """
    if not isinstance(value, str):
        raise IdentityProofError(f"{field} must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if not text or len(text) > max_length or any(unicodedata.category(c) == "Cc" for c in text):
        raise IdentityProofError(f"{field} must be 1 to {max_length} printable characters")
    return text


def clean_birthdate(value: object, *, today: date) -> str:
    """Returns an ISO 8601 birthdate (YYYY-MM-DD) in the past. Raises IdentityProofError otherwise."""
    if not isinstance(value, str):
        raise IdentityProofError("birthdate must be text")
    try:
        born = date.fromisoformat(value.strip())
    except ValueError:
        raise IdentityProofError("birthdate must be a date written YYYY-MM-DD") from None
    if born >= today or born.year < 1900:
        raise IdentityProofError("birthdate is out of range")
    return born.isoformat()
