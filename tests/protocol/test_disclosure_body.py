"""The disclosure request body (escrow.protocol.disclosure): the same bytes, a strict parser, scope kinds."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Self

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.disclosure import VERDICT_INVALID, VERDICT_UNSIGNED, VERDICT_VERIFIED, request_digest
from escrow.crypto.transcript import b64u_encode, canonical_json, sha256
from escrow.errors import EscrowError, ValidationError
from escrow.protocol import scope as scope_module
from escrow.protocol.disclosure import BODY_VERSION, CourtReference, DisclosureBody, Submitter
from escrow.protocol.errors import ProtocolError, UnsupportedVersionError
from escrow.protocol.scope import (
    DEFAULT_KIND,
    PseudonymScope,
    ScopeItem,
    ScopeMismatchError,
    UnknownScopeKindError,
    parse_scope_item,
    scope_kind,
    scope_kinds,
)
from tests.protocol.support import DIGEST, EXPIRES, ITEMS, OTHER_DIGEST, dict_literal


def _body(items: list[tuple[str, str, str]], *, expires_at: datetime = EXPIRES) -> DisclosureBody:
    """The same body, built with the protocol class as create_draft builds it now."""
    return DisclosureBody(
        nonce="0f" * 16,
        court=CourtReference(id=3, name="District Court", jurisdiction="Exampleland"),
        case_number="2031-CV-0042",
        order_sha256=sha256(b"%PDF-1.7 order").hex(),
        court_verdict="verified",
        legal_basis='Section 12(3), Ümlaut & "quotes" <tags>',
        is_emergency=False,
        scope=tuple(PseudonymScope(p, s, d) for p, s, d in items),
        expires_at=expires_at,
        notify_delay_days=30,
        key_id="key-2031",
        submitter=Submitter(username="alice", organisation="Forum Legal"),
    )


# --- the same bytes as the dict literal, so every signature and digest still verifies ---------


def test_canonical_bytes_and_digest_equal_those_of_the_formerdict_literal() -> None:
    body = _body(ITEMS)

    assert body.canonical_bytes() == canonical_json(dict_literal(ITEMS))
    assert body.digest() == request_digest(dict_literal(ITEMS))
    assert body.to_dict() == dict_literal(ITEMS)


def test_expiry_in_another_timezone_encodes_as_the_former_utc_text() -> None:
    local = EXPIRES.astimezone(timezone(timedelta(hours=-7)))

    assert _body(ITEMS, expires_at=local).canonical_bytes() == canonical_json(dict_literal(ITEMS))


def test_a_stored_body_parses_and_encodes_to_the_same_bytes() -> None:
    stored = canonical_json(dict_literal(ITEMS)).decode()

    body = DisclosureBody.from_json(stored)

    assert body == _body(ITEMS)
    assert body.canonical_bytes().decode() == stored
    assert body.version == BODY_VERSION == 2
    assert body.scope_list() == dict_literal(ITEMS)["scope"]
    assert body.expires_at_text == "2031-05-17T09:30:12Z"


def test_the_default_kind_carries_no_kind_member() -> None:
    assert PseudonymScope("forum", "p", DIGEST).to_dict() == {
        "platform": "forum",
        "pseudonym": "p",
        "envelope_digest": DIGEST,
    }
    assert DEFAULT_KIND in scope_kinds()


# --- the strict parser ----------------------------------------------------------------------------


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(dict_literal(ITEMS))
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(notify_delay_days="30"), "notify_delay_days must be an integer"),
        (lambda d: d.update(notify_delay_days=True), "notify_delay_days must be an integer"),
        (lambda d: d.update(notify_delay_days=-1), "notify_delay_days must be an integer of at least 0"),
        (lambda d: d.update(emergency=0), "emergency must be true or false"),
        (lambda d: d.update(case_number=42), "case_number must be text"),
        (lambda d: d.update(nonce="short"), "nonce must be of the form"),
        (lambda d: d.update(order_sha256="AB" * 32), "order_sha256 must be of the form"),
        (lambda d: d.update(court_signature="trust me"), "court_signature must be of the form"),
        (lambda d: d.update(expires_at="2031-05-17 09:30:12"), "expires_at must be of the form"),
        (lambda d: d.update(expires_at="2031-02-30T09:30:12Z"), "expires_at is not a valid date"),
        (lambda d: d.update(key_id=""), "key_id must not be empty"),
        (lambda d: d.update(court=[3]), "court must be a JSON object"),
        (lambda d: d["court"].update(id="3"), "court: id must be an integer of at least 1"),
        (lambda d: d["submitter"].update(username=None), "submitter: username must be text"),
        (lambda d: d.update(scope=[]), "scope must be a non-empty list"),
        (lambda d: d.update(scope={"platform": "forum"}), "scope must be a non-empty list"),
        (lambda d: d["scope"].append("forum/pseudo"), "a scope item must be a JSON object"),
        (
            lambda d: d["scope"][0].update(envelope_digest="not-a-digest"),
            "envelope_digest must be the base64url",
        ),
        (lambda d: d["scope"][0].update(platform=""), "platform must not be empty"),
        (lambda d: d.update(v="2"), "version '2' is not supported"),
        (lambda d: d.update(blinding=["x"]), "blinding point is not a valid group element"),
        (lambda d: d.update(blinding=[7]), "a blinding point is base64url text"),
        (lambda d: d.update(blinding={}), "blinding must be a list"),
        (
            lambda d: d.update(blinding=[d["court"]["name"]] * 2),
            "blinding point is not a valid group element",
        ),
    ],
)
def test_wrong_types_and_formats_are_refused_by_name(change: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message.replace("(", r"\(")):
        DisclosureBody.from_dict(_broken(change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra="x"), "disclosure request body has unknown member(s) 'extra'"),
        (lambda d: d["court"].update(seal="x"), "court has unknown member(s) 'seal'"),
        (lambda d: d["submitter"].update(role="x"), "submitter has unknown member(s) 'role'"),
        (lambda d: d["scope"][0].update(note="x"), "pseudonym scope item has unknown member(s) 'note'"),
    ],
)
def test_an_extra_member_is_refused(change: Any, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        DisclosureBody.from_dict(_broken(change))

    assert message in caught.value.detail


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("legal_basis"), "disclosure request body lacks legal_basis"),
        (lambda d: d.pop("v"), "disclosure request body lacks v"),
        (lambda d: d["court"].pop("jurisdiction"), "court lacks jurisdiction"),
        (lambda d: d["submitter"].pop("organisation"), "submitter lacks organisation"),
        (lambda d: d["scope"][1].pop("envelope_digest"), "pseudonym scope item lacks envelope_digest"),
    ],
)
def test_a_missing_member_is_refused(change: Any, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        DisclosureBody.from_dict(_broken(change))

    assert message in caught.value.detail


@pytest.mark.parametrize("version", [0, 1, 17])
def test_an_unknown_version_is_refused_naming_it(version: int) -> None:
    # A newer release's body may have other members too: the version is what the tool must name.
    data = _broken(lambda d: d.update(v=version, added_later="x"))

    with pytest.raises(UnsupportedVersionError) as caught:
        DisclosureBody.from_dict(data)

    assert str(caught.value).startswith(
        f"disclosure request body version {version} is not supported (this tool understands 2)"
    )
    assert caught.value.version == version


def test_protocol_errors_are_escrow_validation_errors() -> None:
    # So the API maps them to 422 through the one table (api/problems.py), and tools catch EscrowError.
    assert issubclass(UnsupportedVersionError, ProtocolError)
    assert issubclass(UnknownScopeKindError, ProtocolError)
    assert issubclass(ProtocolError, ValidationError)
    assert issubclass(ProtocolError, EscrowError)


@pytest.mark.parametrize("text", ["{not json", b"\xff", "[]", "null"])
def test_from_json_refuses_what_is_not_a_body_object(text: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        DisclosureBody.from_json(text)


def test_an_unknown_scope_kind_is_refused_naming_it() -> None:
    data = _broken(
        lambda d: d["scope"].append({"kind": "account-2040", "account": "x", "envelope_digest": DIGEST})
    )

    with pytest.raises(UnknownScopeKindError) as caught:
        DisclosureBody.from_dict(data)

    assert (
        "scope kind 'account-2040' is not supported (this tool understands pseudonym" in caught.value.detail
    )


@pytest.mark.parametrize("kind", [17, None, ["pseudonym"]])
def test_a_scope_kind_that_is_not_text_is_refused(kind: object) -> None:
    with pytest.raises(UnknownScopeKindError):
        parse_scope_item({"kind": kind, "platform": "forum", "pseudonym": "p", "envelope_digest": DIGEST})


def test_an_explicit_default_kind_is_refused_so_each_item_has_one_encoding() -> None:
    # Accepting it would re-encode without `kind`: the digest the tool computes would not be the signed one.
    with pytest.raises(ProtocolError, match="carries no kind member"):
        parse_scope_item(
            {"kind": "pseudonym", "platform": "forum", "pseudonym": "p", "envelope_digest": DIGEST}
        )


def test_a_naive_expiry_is_refused_when_building() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _body(ITEMS, expires_at=datetime(2031, 1, 1))


# --- scope items check the envelope the server serves ----------------------------------------------


def test_pseudonym_item_accepts_its_own_envelope() -> None:
    item = PseudonymScope("forum", "pseudo-a", DIGEST)

    item.check_envelope(DIGEST, {"platform": "forum", "pseudonym": "pseudo-a", "key_id": "k"})

    assert item.label == "forum / pseudo-a"


@pytest.mark.parametrize(
    ("digest", "context"),
    [
        (OTHER_DIGEST, {"platform": "forum", "pseudonym": "pseudo-a"}),
        (DIGEST, {"platform": "chat", "pseudonym": "pseudo-a"}),
        (DIGEST, {"platform": "forum", "pseudonym": "pseudo-b"}),
        (DIGEST, {}),
    ],
)
def test_pseudonym_item_refuses_another_envelope(digest: str, context: dict[str, object]) -> None:
    with pytest.raises(ScopeMismatchError, match="does not match the digest the officers signed"):
        PseudonymScope("forum", "pseudo-a", DIGEST).check_envelope(digest, context)


# --- the registry: a new kind is one class; the body and the tools need no change -------------------


@dataclass(frozen=True, slots=True)
class _AccountScope(ScopeItem):
    """A made-up kind, registered only inside the test below."""

    account: str
    envelope_digest: str

    @classmethod
    def from_members(cls, data: Any) -> Self:
        return cls(account=str(data["account"]), envelope_digest=str(data["envelope_digest"]))

    def members(self) -> dict[str, Any]:
        return {"account": self.account, "envelope_digest": self.envelope_digest}

    @property
    def label(self) -> str:
        return f"account {self.account}"

    def check_envelope(self, envelope_digest: str, context: Any) -> None:
        if envelope_digest != self.envelope_digest:
            raise ScopeMismatchError("another envelope")


def test_a_registered_kind_round_trips_inside_a_body_with_its_kind_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a kind registered in a copy of the registry (so other tests do not see it)
    monkeypatch.setattr(scope_module, "_KINDS", dict(scope_module._KINDS))
    account = scope_kind("account")(_AccountScope)
    data = _broken(
        lambda d: d["scope"].append({"kind": "account", "account": "a-1", "envelope_digest": DIGEST})
    )

    # When a body with an item of that kind is parsed and encoded again
    body = DisclosureBody.from_dict(data)

    # Then the item dispatched on its kind and the bytes are unchanged
    assert body.scope[-1] == account(account="a-1", envelope_digest=DIGEST)
    assert body.scope[-1].kind == "account"
    assert body.canonical_bytes() == canonical_json(data)
    assert scope_kinds() == (DEFAULT_KIND, "account")


def test_a_kind_cannot_be_registered_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scope_module, "_KINDS", dict(scope_module._KINDS))

    with pytest.raises(ValueError, match="registered twice"):
        scope_kind(DEFAULT_KIND)(_AccountScope)


# --- property: every body round-trips, to the same object and the same bytes -----------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_NAME = _TEXT.filter(bool)
_DIGESTS = st.binary(min_size=32, max_size=32).map(b64u_encode)
_SCOPE = st.lists(st.builds(PseudonymScope, _NAME, _NAME, _DIGESTS), min_size=1, max_size=5)
_BODIES = st.builds(
    DisclosureBody,
    nonce=st.binary(min_size=16, max_size=16).map(bytes.hex),
    court=st.builds(CourtReference, st.integers(min_value=1, max_value=2**62), _TEXT, _TEXT),
    case_number=_TEXT,
    order_sha256=st.binary().map(lambda b: sha256(b).hex()),
    court_verdict=st.sampled_from([VERDICT_VERIFIED, VERDICT_UNSIGNED, VERDICT_INVALID]),
    legal_basis=_TEXT,
    is_emergency=st.booleans(),
    scope=_SCOPE.map(tuple),
    expires_at=st.datetimes(
        min_value=datetime(1, 1, 2),  # hypothesis takes naive bounds
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    ),
    notify_delay_days=st.integers(min_value=0, max_value=10**6),
    key_id=_NAME,
    submitter=st.builds(Submitter, _NAME, _TEXT),
)


@given(_BODIES)
@settings(max_examples=200, deadline=None)
def test_every_body_round_trips_through_its_json(body: DisclosureBody) -> None:
    encoded = body.canonical_bytes()

    parsed = DisclosureBody.from_json(encoded)

    assert parsed == body
    assert parsed.canonical_bytes() == encoded
    assert parsed.digest() == body.digest() == request_digest(json.loads(encoded))
