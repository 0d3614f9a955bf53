"""Ceremony and key-holder use cases on a real session: one test per rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import nacl.signing
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.client.holder import new_holder_secrets
from escrow.config import Settings
from escrow.crypto.ceremony_messages import b64, public_keys, sign_message, sign_request
from escrow.crypto.holderfile import decrypt_holder_file
from escrow.errors import ConflictError, InvalidStateError, InvalidTokenError, NotFoundError, ValidationError
from escrow.models import LogEntry
from escrow.protocol.ceremony import AccessBelowFloorError, enrolment_body
from escrow.protocol.signed_request import HolderAuthorization, InvalidHolderSignatureError
from escrow.services import ceremony as ceremony_service
from escrow.services import keyholders as keyholder_service
from escrow.services.dev_ceremony import PASSPHRASE_FILE, ensure_dev_escrow_key
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.transparency import LogSigner

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LOG = LogSigner("escrow.test/log", nacl.signing.SigningKey(b"\x09" * 32))


def _enrolled(session: Session, n: int) -> list[tuple[int, bytes]]:
    """Returns (holder id, signing seed) of `n` freshly enrolled holders."""
    found = []
    for i in range(n):
        invitation = keyholder_service.invite_keyholder(
            session, name=f"H{i}", organisation="O", contact="c", log=LOG, now=NOW
        )
        secrets = new_holder_secrets("")
        keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
        signature = sign_message(
            secrets.signing_seed, enrolment_body(invitation.code, keys.signing_key, keys.exchange_key)
        )
        view = keyholder_service.enrol_keyholder(
            session,
            code=invitation.code,
            signing_key_b64=b64(keys.signing_key),
            exchange_key_b64=b64(keys.exchange_key),
            signature_b64=b64(signature),
            log=LOG,
            now=NOW,
        )
        found.append((view.id, secrets.signing_seed))
    return found


def test_open_ceremony_refuses_a_holder_twice(db_session: Session) -> None:
    (a, _), _b = _enrolled(db_session, 2)

    with pytest.raises(ValidationError, match="only once"):
        ceremony_service.open_ceremony(db_session, threshold=1, holder_ids=[a, a], log=LOG, now=NOW)


def test_open_ceremony_refuses_an_invited_but_not_enrolled_holder(db_session: Session) -> None:
    (a, _), (b, _) = _enrolled(db_session, 2)
    invited = keyholder_service.invite_keyholder(
        db_session, name="X", organisation="O", contact="c", log=LOG, now=NOW
    )

    with pytest.raises(ValidationError, match="not enrolled"):
        ceremony_service.open_ceremony(
            db_session, threshold=2, holder_ids=[a, b, invited.holder_id], log=LOG, now=NOW
        )


@pytest.mark.parametrize("threshold", [0, 3])
def test_open_ceremony_refuses_a_threshold_out_of_range(db_session: Session, threshold: int) -> None:
    ids = [h for h, _ in _enrolled(db_session, 2)]

    with pytest.raises(ValidationError, match="threshold"):
        ceremony_service.open_ceremony(db_session, threshold=threshold, holder_ids=ids, log=LOG, now=NOW)


def test_open_ceremony_needs_two_holders(db_session: Session) -> None:
    ids = [h for h, _ in _enrolled(db_session, 1)]

    with pytest.raises(ValidationError, match="at least 2"):
        ceremony_service.open_ceremony(db_session, threshold=1, holder_ids=ids, log=LOG, now=NOW)


@pytest.mark.parametrize(("threshold", "holders"), [(1, 2), (1, 3), (2, 4)])
def test_open_ceremony_refuses_an_access_structure_below_the_published_minimum(
    db_session: Session, threshold: int, holders: int
) -> None:
    # Issue 16: t >= 2 and 2t > n, whatever the administrator asks for
    ids = [h for h, _ in _enrolled(db_session, holders)]

    with pytest.raises(AccessBelowFloorError, match=f"{threshold} of {holders} is below the published"):
        ceremony_service.open_ceremony(db_session, threshold=threshold, holder_ids=ids, log=LOG, now=NOW)
    assert ceremony_service.list_ceremonies(db_session) == []


def test_open_ceremony_logs_the_published_minimum(db_session: Session) -> None:
    ids = [h for h, _ in _enrolled(db_session, 4)]

    ceremony_service.open_ceremony(db_session, threshold=3, holder_ids=ids, log=LOG, now=NOW)

    body = db_session.scalars(select(LogEntry.body).where(LogEntry.kind == "ceremony.opened")).one()
    assert json.loads(body)["data"]["access_floor"] == {"min_threshold": 2, "rule": "t >= 2 and 2t > n"}


def test_only_one_ceremony_is_open_at_a_time(db_session: Session) -> None:
    ids = [h for h, _ in _enrolled(db_session, 2)]
    ceremony_service.open_ceremony(db_session, threshold=2, holder_ids=ids, log=LOG, now=NOW)

    with pytest.raises(InvalidStateError, match="in progress"):
        ceremony_service.open_ceremony(db_session, threshold=2, holder_ids=ids, log=LOG, now=NOW)


def test_reshare_needs_an_active_key(db_session: Session) -> None:
    ids = [h for h, _ in _enrolled(db_session, 2)]

    with pytest.raises(InvalidStateError, match="no escrow key"):
        ceremony_service.open_reshare(
            db_session, threshold=2, dealer_ids=ids, holder_ids=ids, log=LOG, now=NOW
        )


def test_reshare_of_a_development_key_is_refused(db_session: Session, settings: Settings) -> None:
    ensure_dev_escrow_key(db_session, _dev(settings), log=LOG, now=NOW)
    ids = [h for h, _ in _enrolled(db_session, 2)]

    with pytest.raises(InvalidStateError, match="not made by a ceremony"):
        ceremony_service.open_reshare(
            db_session, threshold=2, dealer_ids=ids, holder_ids=ids, log=LOG, now=NOW
        )


def test_unknown_ceremony_is_not_found(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        ceremony_service.ceremony_state(db_session, 999)


def test_cancel_twice_is_refused(db_session: Session) -> None:
    ids = [h for h, _ in _enrolled(db_session, 2)]
    ceremony_id = ceremony_service.open_ceremony(db_session, threshold=2, holder_ids=ids, log=LOG, now=NOW)
    ceremony_service.cancel_ceremony(db_session, ceremony_id=ceremony_id, reason="", log=LOG, now=NOW)

    with pytest.raises(InvalidStateError, match="already cancelled"):
        ceremony_service.cancel_ceremony(db_session, ceremony_id=ceremony_id, reason="", log=LOG, now=NOW)


def test_expired_invitation_is_refused(db_session: Session) -> None:
    invitation = keyholder_service.invite_keyholder(
        db_session, name="A", organisation="O", contact="c", log=LOG, now=NOW
    )
    secrets = new_holder_secrets("")
    keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
    signature = sign_message(
        secrets.signing_seed, enrolment_body(invitation.code, keys.signing_key, keys.exchange_key)
    )

    with pytest.raises(InvalidTokenError, match="expired"):
        keyholder_service.enrol_keyholder(
            db_session,
            code=invitation.code,
            signing_key_b64=b64(keys.signing_key),
            exchange_key_b64=b64(keys.exchange_key),
            signature_b64=b64(signature),
            log=LOG,
            now=NOW + timedelta(days=8),
        )


def test_enrolment_signed_by_another_key_is_refused(db_session: Session) -> None:
    invitation = keyholder_service.invite_keyholder(
        db_session, name="A", organisation="O", contact="c", log=LOG, now=NOW
    )
    secrets, other = new_holder_secrets(""), new_holder_secrets("")
    keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
    signature = sign_message(
        other.signing_seed, enrolment_body(invitation.code, keys.signing_key, keys.exchange_key)
    )

    with pytest.raises(InvalidHolderSignatureError):
        keyholder_service.enrol_keyholder(
            db_session,
            code=invitation.code,
            signing_key_b64=b64(keys.signing_key),
            exchange_key_b64=b64(keys.exchange_key),
            signature_b64=b64(signature),
            log=LOG,
            now=NOW,
        )


def test_a_signing_key_enrols_only_once(db_session: Session) -> None:
    ((_, seed),) = _enrolled(db_session, 1)
    invitation = keyholder_service.invite_keyholder(
        db_session, name="B", organisation="O", contact="c", log=LOG, now=NOW
    )
    keys = public_keys(seed, b"\x05" * 32)
    signature = sign_message(seed, enrolment_body(invitation.code, keys.signing_key, keys.exchange_key))

    with pytest.raises(ConflictError):
        keyholder_service.enrol_keyholder(
            db_session,
            code=invitation.code,
            signing_key_b64=b64(keys.signing_key),
            exchange_key_b64=b64(keys.exchange_key),
            signature_b64=b64(signature),
            log=LOG,
            now=NOW,
        )


def test_request_outside_the_time_window_is_refused(db_session: Session) -> None:
    ((_, seed),) = _enrolled(db_session, 1)
    ts = int((NOW - timedelta(minutes=10)).timestamp() * 1000)
    signature = sign_request(seed, "GET", "/api/v1/keyholders/me", ts, b"")

    with pytest.raises(InvalidHolderSignatureError, match="window"):
        keyholder_service.authenticate_holder(
            db_session,
            authorization=HolderAuthorization(
                signing_key=public_keys(seed, bytes(32)).signing_key, timestamp_ms=ts, signature=signature
            ),
            method="GET",
            target="/api/v1/keyholders/me",
            body=b"",
            now=NOW,
        )


def test_request_for_another_path_is_refused(db_session: Session) -> None:
    ((_, seed),) = _enrolled(db_session, 1)
    ts = int(NOW.timestamp() * 1000)
    signature = sign_request(seed, "GET", "/api/v1/keyholders/me", ts, b"")

    with pytest.raises(InvalidHolderSignatureError, match="does not verify"):
        keyholder_service.authenticate_holder(
            db_session,
            authorization=HolderAuthorization(
                signing_key=public_keys(seed, bytes(32)).signing_key, timestamp_ms=ts, signature=signature
            ),
            method="GET",
            target="/api/v1/ceremonies",
            body=b"",
            now=NOW,
        )


def _dev(settings: Settings) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, dev_mode=True)


def test_dev_mode_simulates_and_activates_a_key_once(db_session: Session, settings: Settings) -> None:
    # Given development mode and no key
    # When the dev key is ensured twice
    report = ensure_dev_escrow_key(db_session, _dev(settings), log=LOG, now=NOW)
    again = ensure_dev_escrow_key(db_session, _dev(settings), log=LOG, now=NOW)

    # Then one key is active, its five holder files open with the stored passphrase (mode 0600)
    assert report is not None
    assert again is None
    assert active_escrow_key(db_session).key_id == report.key_id
    passphrase = (report.directory / PASSPHRASE_FILE).read_text().strip()
    assert oct((report.directory / PASSPHRASE_FILE).stat().st_mode & 0o777) == "0o600"
    holder = decrypt_holder_file((report.directory / "holder-1.escrow").read_bytes(), passphrase)
    assert holder.shares[0].key.key_id == report.key_id


def test_production_mode_never_simulates_a_key(db_session: Session, settings: Settings) -> None:
    assert ensure_dev_escrow_key(db_session, settings, log=LOG, now=NOW) is None
    with pytest.raises(InvalidStateError):
        active_escrow_key(db_session)
    assert not (settings.keys_dir / "dev-holders").exists()
