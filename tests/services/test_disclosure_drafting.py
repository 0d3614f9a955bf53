"""Drafting a request, and the registries it relies on (escrow.services.disclosure: drafting, courts,
officer_keys), one rule a test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import new_officer_secrets, request_digest
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from escrow.models import DisclosureRequest
from escrow.services import disclosure
from escrow.services.disclosure import RequestState
from tests.services.disclosure_desk import LOG, PDF, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


def test_draft_fixes_the_canonical_body_and_its_digest(desk: Desk) -> None:
    view = desk.draft()

    row = desk.session.scalars(select(DisclosureRequest)).one()
    assert view.status is RequestState.DRAFT
    assert row.status == "draft"
    assert b64u_decode(view.digest_b64) == request_digest(json.loads(row.body))
    assert view.body["scope"] == desk.scope()
    assert view.body["submitter"] == {"username": "alice", "organisation": "Forum Legal"}
    assert view.body["court_signature"] == "unsigned"


def test_draft_is_for_legal_officers_only(desk: Desk) -> None:
    with pytest.raises(PermissionDeniedError, match="only legal officers"):
        desk.draft("root")


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (None, "needs the court order"),
        (b"not a pdf", "must be a PDF"),
        (PDF + b"x" * (4 * 1024 * 1024), "larger than 4 MiB"),
    ],
)
def test_draft_refuses_a_missing_or_bad_order_document(desk: Desk, order: bytes | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        desk.draft(order=order)


def test_draft_refuses_a_digest_that_matches_no_stored_envelope(desk: Desk) -> None:
    scope = [{**desk.scope()[0], "envelope_digest": b64u_encode(b"\x00" * 32)}]

    with pytest.raises(ValidationError, match="does not match a stored envelope"):
        desk.draft(scope=scope)


def test_draft_refuses_one_envelope_named_twice(desk: Desk) -> None:
    with pytest.raises(ValidationError, match="one envelope twice"):
        desk.draft(scope=desk.scope() * 2)


def test_draft_refuses_an_expiry_in_the_past(desk: Desk) -> None:
    with pytest.raises(ValidationError, match="expiry must be in the future"):
        desk.draft(expires_at=desk.now)


def test_draft_refuses_an_unknown_court(desk: Desk) -> None:
    with pytest.raises(NotFoundError, match="no such court"):
        desk.draft(court_id=999)


def test_court_is_registered_once_per_name_and_jurisdiction(desk: Desk) -> None:
    with pytest.raises(ConflictError, match="already registered"):
        disclosure.add_court(
            desk.session, name="District Court", jurisdiction="EX", public_key_b64=None, log=LOG, now=desk.now
        )
    assert [c.name for c in disclosure.list_courts(desk.session)] == ["District Court"]


def _register(desk: Desk, username: str, key_b64: str, *, actor: str) -> str:
    return disclosure.register_officer_key(
        desk.session,
        actor=desk.staff[actor],
        username=username,
        public_key_b64=key_b64,
        log=LOG,
        now=desk.now,
    )


def test_officer_registers_only_their_own_key_unless_an_admin(desk: Desk) -> None:
    key_b64 = b64u_encode(new_officer_secrets("bob").public_key)

    with pytest.raises(PermissionDeniedError, match="register their own key"):
        _register(desk, "bob", key_b64, actor="alice")
    _register(desk, "bob", key_b64, actor="bob")
    assert disclosure.registered_officer_key(desk.session, "bob") == key_b64


def test_officer_key_in_use_by_another_officer_is_refused(desk: Desk) -> None:
    alice_key = b64u_encode(desk.officers["alice"].public_key)

    with pytest.raises(ConflictError, match="registered to another officer"):
        _register(desk, "bob", alice_key, actor="bob")
