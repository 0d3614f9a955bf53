"""Platforms and API keys: registration rules, keys shown once and stored hashed, revocation."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from escrow.models import PlatformApiKey
from escrow.services.platforms import (
    authenticate_platform,
    create_api_key,
    list_api_keys,
    list_platforms,
    register_platform,
    revoke_api_key,
)
from tests.credentials_support import NOW, add_platform, make_log


def test_registered_platform_has_default_policy(db_session: Session) -> None:
    platform = add_platform(db_session)

    assert platform.pseudonyms_per_person == 1
    assert platform.credential_lifetime_s == 30 * 24 * 3600
    assert [p.id for p in list_platforms(db_session)] == ["forum"]


def test_duplicate_platform_id_is_a_conflict(db_session: Session) -> None:
    add_platform(db_session)

    with pytest.raises(ConflictError):
        add_platform(db_session)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("platform_id", "Has Spaces"),
        ("platform_id", "-dash"),
        ("name", ""),
        ("contact", "x" * 400),
        ("redirect_uris", ["http://example.org/cb"]),
        ("redirect_uris", ["javascript:alert(1)"]),
        ("redirect_uris", ["https://example.org/cb#frag"]),
        ("credential_lifetime_s", 10),
        ("credential_lifetime_s", "3600"),
        ("pseudonyms_per_person", 0),
    ],
)
def test_malformed_platform_is_refused(db_session: Session, field: str, value: object) -> None:
    values: dict[str, object] = {
        "platform_id": "forum",
        "name": "Forum",
        "contact": "abuse@example.org",
        "redirect_uris": ["https://example.org/cb", "http://127.0.0.1:8080/cb"],
    }
    values[field] = value

    with pytest.raises(ValidationError):
        register_platform(db_session, log=make_log(), now=NOW, **values)  # type: ignore[arg-type]


def test_api_key_is_shown_once_and_stored_only_as_its_hash(db_session: Session) -> None:
    add_platform(db_session)

    new = create_api_key(db_session, platform_id="forum", log=make_log(), now=NOW)

    row = db_session.scalars(select(PlatformApiKey)).one()
    assert new.api_key.startswith(new.info.prefix + "_")
    assert row.key_hash == hashlib.sha256(new.api_key.encode()).digest()
    assert new.api_key not in repr(new)
    assert authenticate_platform(db_session, new.api_key).id == "forum"


def test_revoked_api_key_no_longer_authenticates(db_session: Session) -> None:
    add_platform(db_session)
    new = create_api_key(db_session, platform_id="forum", log=make_log(), now=NOW)

    revoke_api_key(db_session, platform_id="forum", prefix=new.info.prefix, log=make_log(), now=NOW)

    with pytest.raises(AuthenticationError):
        authenticate_platform(db_session, new.api_key)
    assert [k.is_revoked for k in list_api_keys(db_session, "forum")] == [True]


@pytest.mark.parametrize(
    "transform", [lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), lambda k: k[:20], lambda k: ""]
)
def test_wrong_or_malformed_api_keys_do_not_authenticate(db_session: Session, transform) -> None:  # type: ignore[no-untyped-def]
    add_platform(db_session)
    new = create_api_key(db_session, platform_id="forum", log=make_log(), now=NOW)

    with pytest.raises(AuthenticationError):
        authenticate_platform(db_session, transform(new.api_key))


def test_missing_api_key_does_not_authenticate(db_session: Session) -> None:
    with pytest.raises(AuthenticationError):
        authenticate_platform(db_session, None)


def test_api_keys_need_a_known_platform_and_prefix(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        create_api_key(db_session, platform_id="nope", log=make_log(), now=NOW)
    add_platform(db_session)
    with pytest.raises(NotFoundError):
        revoke_api_key(db_session, platform_id="forum", prefix="esk_nope", log=make_log(), now=NOW)
