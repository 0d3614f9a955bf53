"""In-person identity proofing: a verification officer checks a document and enters what it says."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Final

from escrow.errors import IdentityProofError
from escrow.identity.base import (
    ASSURANCE_HIGH,
    PROVIDER_OFFICER,
    VerifiedIdentity,
    clean_birthdate,
    clean_text,
)

DOCUMENT_TYPES: Final = ("passport", "id_card", "residence_permit", "driving_licence")
_COUNTRY = re.compile(r"^[A-Z]{3}$")  # ICAO 9303 / ISO 3166-1 alpha-3, as printed in the MRZ
_DOCUMENT_NUMBER = re.compile(r"^[A-Z0-9]{4,20}$")


@dataclass(frozen=True, slots=True, repr=False)
class DocumentCheck:
    """What the officer read off the document, as typed into the portal (unvalidated)."""

    document_type: str
    issuing_country: str
    document_number: str
    name: str
    birthdate: str

    def __repr__(self) -> str:
        return "DocumentCheck(<hidden>)"


def verify_document(check: DocumentCheck, *, today: date) -> VerifiedIdentity:
    """Returns the verified identity for an officer's document check.

    The canonical identity key is (issuing country, document number), normalised (upper case, no
    spaces or dashes), so the same document always names the same person. Raises
    IdentityProofError naming the bad field (never its value).
    """
    if check.document_type not in DOCUMENT_TYPES:
        raise IdentityProofError(f"document type must be one of {', '.join(DOCUMENT_TYPES)}")
    country = clean_text(check.issuing_country, "issuing country").upper()
    if not _COUNTRY.match(country):
        raise IdentityProofError("issuing country must be a three-letter ISO 3166-1 alpha-3 code")
    number = re.sub(r"[\s-]", "", clean_text(check.document_number, "document number")).upper()
    if not _DOCUMENT_NUMBER.match(number):
        raise IdentityProofError("document number must be 4 to 20 letters or digits")
    return VerifiedIdentity(
        provider_kind=PROVIDER_OFFICER,
        issuer=country,
        subject=number,
        name=clean_text(check.name, "name"),
        birthdate=clean_birthdate(check.birthdate, today=today),
        assurance=ASSURANCE_HIGH,
        document=(check.document_type, number),
    )


def officer_identity_key(issuing_country: str, document_number: str) -> bytes:
    """Returns the canonical identity key of a document (as verify_document() would compute it).

    Used at password login, where the person types their document again. Raises IdentityProofError
    if either value is malformed.
    """
    check = DocumentCheck("passport", issuing_country, document_number, "-", "1970-01-01")
    return verify_document(check, today=date(2100, 1, 1)).identity_key
