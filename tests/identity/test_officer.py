"""In-person document checks by a verification officer."""

from __future__ import annotations

from datetime import date

import pytest

from escrow.errors import IdentityProofError
from escrow.identity.officer import DocumentCheck, officer_identity_key, verify_document

TODAY = date(2026, 11, 29)


def _check(**overrides: str) -> DocumentCheck:
    values = {
        "document_type": "passport",
        "issuing_country": "nld",
        "document_number": "ab-12 34567",
        "name": "Bea Example",
        "birthdate": "1980-05-06",
    }
    values.update(overrides)
    return DocumentCheck(**values)


def test_document_check_normalises_country_and_number() -> None:
    identity = verify_document(_check(), today=TODAY)

    assert (identity.issuer, identity.subject, identity.assurance) == ("NLD", "AB1234567", "high")
    assert identity.document == ("passport", "AB1234567")


def test_identity_key_ignores_spelling_of_the_document_number() -> None:
    one = verify_document(_check(document_number="AB1234567"), today=TODAY)
    other = verify_document(_check(document_number="ab 1234-567", name="B. Example"), today=TODAY)

    assert one.identity_key == other.identity_key == officer_identity_key("nld", "AB1234567")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("document_type", "library_card", "document type"),
        ("issuing_country", "NL", "issuing country"),
        ("document_number", "12", "document number"),
        ("document_number", "AB#123456", "document number"),
        ("name", "", "name"),
        ("name", "x" * 300, "name"),
        ("birthdate", "2030-01-01", "birthdate"),
        ("birthdate", "06/05/1980", "birthdate"),
    ],
)
def test_bad_entries_are_refused_naming_the_field_not_the_value(field: str, value: str, message: str) -> None:
    with pytest.raises(IdentityProofError, match=message) as caught:
        verify_document(_check(**{field: value}), today=TODAY)

    assert value not in str(caught.value) or not value


def test_sealed_record_holds_document_type_and_number() -> None:
    record = verify_document(_check(), today=TODAY).to_sealed_bytes()

    assert b'"document_number":"AB1234567"' in record
    assert b'"document_type":"passport"' in record


def test_repr_hides_the_document() -> None:
    assert "Bea" not in repr(_check())
    assert "AB1234567" not in repr(verify_document(_check(), today=TODAY))
