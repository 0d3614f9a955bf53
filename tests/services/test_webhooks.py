"""Events to platforms (issue 19): the outbox, Standard Webhooks signatures, retries with backoff.

Every delivery goes over real HTTP to a receiver on a loopback port (tests/http_receiver.py), and the
receiver's bytes are verified with the `standardwebhooks` package from PyPI and, separately, with the
specification's formula computed here, never with escrow's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from escrow.config import Settings
from escrow.keystore import Keyring, load_keyring
from escrow.models import LogEntry, Platform, WebhookAttempt, WebhookMessage
from escrow.services import oidc, webhooks
from escrow.services.credentials import revoke_as_platform
from escrow.services.disclosure import RequestState
from escrow.services.platforms import get_platform
from tests.http_receiver import Received, http_receiver
from tests.services.disclosure_desk import LOG, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return load_keyring(Settings.for_tests("sqlite://", tmp_path / "keys"))


def _hook(desk: Desk, url: str, keyring: Keyring | None = None) -> str | None:
    """Points forum's webhooks at ``url``; with a keyring, makes its first secret and returns it."""
    webhooks.set_webhook_url(
        desk.session, platform_id="forum", url=url, allow_loopback=True, log=LOG, now=desk.now
    )
    if keyring is None:
        return None
    return webhooks.rotate_webhook_secret(
        desk.session, platform_id="forum", keyring=keyring, log=LOG, now=desk.now
    ).secret


def _revoke(desk: Desk) -> None:
    revoke_as_platform(
        desk.session,
        platform=get_platform(desk.session, "forum"),
        credential_id=desk.credential.credential_id,
        log=LOG,
        now=desk.now,
    )


def _messages(session: Session) -> list[WebhookMessage]:
    return list(session.scalars(select(WebhookMessage).order_by(WebhookMessage.created_at)))


def _from_spec(secret: str, received: Received) -> str:
    """The specification's signature, computed from the received bytes: base64(HMAC-SHA256(key,
    id "." timestamp "." body)), the key being the base64 after ``whsec_``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = (
        received.headers["webhook-id"].encode()
        + b"."
        + received.headers["webhook-timestamp"].encode()
        + b"."
        + received.body
    )
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_revoked_credential_event_is_queued_with_the_revocation(desk: Desk) -> None:
    _hook(desk, "http://127.0.0.1:9/hook")

    _revoke(desk)

    (message,) = _messages(desk.session)
    body = json.loads(message.payload)
    assert body["type"] == "credential.revoked"
    assert body["data"] == {
        "credential_id": desk.credential.credential_id,
        "sub": desk.credential.pseudonym,
        "revoked_by": "platform",
    }


def test_event_is_not_queued_when_its_transaction_rolls_back(desk: Desk) -> None:
    _hook(desk, "http://127.0.0.1:9/hook")

    webhooks.enqueue_event(
        desk.session, platform_id="forum", event_type="consent.withdrawn", data={"sub": "x"}, now=desk.now
    )
    desk.session.rollback()

    assert _messages(desk.session) == []


def test_no_event_is_queued_for_a_platform_without_webhook_url(desk: Desk) -> None:
    _revoke(desk)

    assert _messages(desk.session) == []


def test_unknown_event_type_is_refused(desk: Desk) -> None:
    from escrow.errors import ValidationError

    with pytest.raises(ValidationError):
        webhooks.enqueue_event(
            desk.session, platform_id="forum", event_type="person.found", data={}, now=desk.now
        )


def test_delivery_verifies_with_the_standardwebhooks_library(desk: Desk, keyring: Keyring) -> None:
    with http_receiver() as receiver:
        secret = _hook(desk, receiver.url, keyring)
        assert secret is not None
        _revoke(desk)

        report = webhooks.deliver_due(desk.session, keyring=keyring, now=datetime.now(UTC))

        (received,) = receiver.wait_for(1)
    assert report == webhooks.DeliveryReport(delivered=1, retrying=0, failed=0)
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["type"] == "credential.revoked"
    assert received.headers["webhook-id"] == _messages(desk.session)[0].id
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(received.body + b" ", received.headers)
    other = webhooks.rotate_webhook_secret(
        desk.session, platform_id="forum", keyring=keyring, log=LOG, now=desk.now
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret).verify(received.body, received.headers)


def test_signature_is_the_specifications_hmac_byte_for_byte(desk: Desk, keyring: Keyring) -> None:
    with http_receiver() as receiver:
        secret = _hook(desk, receiver.url, keyring)
        assert secret is not None
        _revoke(desk)
        now = datetime.now(UTC)
        webhooks.deliver_due(desk.session, keyring=keyring, now=now)
        (received,) = receiver.wait_for(1)

    assert received.headers["webhook-signature"] == _from_spec(secret, received)
    assert received.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert received.headers["content-type"] == "application/json"
    assert received.body == _messages(desk.session)[0].payload.encode()
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_failing_receiver_is_retried_with_exponential_backoff_then_delivered(
    desk: Desk, keyring: Keyring
) -> None:
    with http_receiver(statuses=[500, 200]) as receiver:
        secret = _hook(desk, receiver.url, keyring)
        assert secret is not None
        _revoke(desk)
        now = datetime.now(UTC)

        # When the first attempt fails
        first = webhooks.deliver_due(desk.session, keyring=keyring, now=now)
        # Then nothing is sent again before the backoff, and it is delivered after it
        early = webhooks.deliver_due(desk.session, keyring=keyring, now=now + timedelta(seconds=4))
        later = webhooks.deliver_due(desk.session, keyring=keyring, now=now + timedelta(seconds=5))
        first_try, second_try = receiver.wait_for(2)

    assert (first.retrying, early.delivered + early.retrying, later.delivered) == (1, 0, 1)
    assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"]  # the same message
    Webhook(secret).verify(second_try.body, second_try.headers)
    attempts = desk.session.scalars(select(WebhookAttempt.status_code).order_by(WebhookAttempt.id)).all()
    assert attempts == [500, 200]


def test_retry_delays_grow_exponentially_up_to_a_cap() -> None:
    delays = [webhooks.retry_delay(n) for n in range(1, webhooks.MAX_ATTEMPTS + 1)]

    assert delays[:4] == [
        timedelta(seconds=5),
        timedelta(seconds=30),
        timedelta(minutes=3),
        timedelta(minutes=18),
    ]
    assert delays[-1] == webhooks.MAX_RETRY_DELAY
    assert delays == sorted(delays)


def test_delivery_gives_up_after_max_attempts(desk: Desk, keyring: Keyring) -> None:
    with http_receiver(statuses=[503]) as receiver:
        _hook(desk, receiver.url, keyring)
        _revoke(desk)
        now = datetime.now(UTC)
        for _ in range(webhooks.MAX_ATTEMPTS):
            webhooks.deliver_due(desk.session, keyring=keyring, now=now)
            now += webhooks.MAX_RETRY_DELAY
        after = webhooks.deliver_due(desk.session, keyring=keyring, now=now + timedelta(days=30))
        receiver.wait_for(webhooks.MAX_ATTEMPTS)

    (message,) = _messages(desk.session)
    assert message.failed_at is not None
    assert message.next_attempt_at is None
    assert message.attempts == webhooks.MAX_ATTEMPTS
    assert after == webhooks.DeliveryReport(0, 0, 0)
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS


def test_unreachable_receiver_is_an_attempt_with_no_status(desk: Desk, keyring: Keyring) -> None:
    with http_receiver() as receiver:
        url = receiver.url
    _hook(desk, url, keyring)  # the receiver has stopped: nothing listens there now
    _revoke(desk)

    report = webhooks.deliver_due(desk.session, keyring=keyring, now=datetime.now(UTC))

    assert report.retrying == 1
    (attempt,) = desk.session.scalars(select(WebhookAttempt)).all()
    assert attempt.status_code is None
    assert attempt.error


def test_messages_wait_until_the_platform_has_a_secret(desk: Desk, keyring: Keyring) -> None:
    with http_receiver() as receiver:
        _hook(desk, receiver.url)
        _revoke(desk)

        report = webhooks.deliver_due(desk.session, keyring=keyring, now=datetime.now(UTC))

    assert report == webhooks.DeliveryReport(0, 0, 0)
    assert receiver.requests == []


def test_rotation_signs_with_the_new_and_previous_secret_for_a_day(desk: Desk, keyring: Keyring) -> None:
    with http_receiver() as receiver:
        old = _hook(desk, receiver.url, keyring)
        new = webhooks.rotate_webhook_secret(
            desk.session, platform_id="forum", keyring=keyring, log=LOG, now=desk.now
        )
        assert old is not None
        assert new.secret != old
        _revoke(desk)
        webhooks.deliver_due(desk.session, keyring=keyring, now=desk.now + timedelta(hours=1))
        (during,) = receiver.wait_for(1)

    # Both secrets verify while the platform switches over (two space-separated signatures)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.headers["webhook-signature"].split(" ")[0] == _from_spec(new.secret, during)
    assert during.headers["webhook-signature"].split(" ")[1] == _from_spec(old, during)
    platform_row = desk.session.get(Platform, "forum")
    assert platform_row is not None
    assert webhooks._signing_secrets(
        platform_row, webhooks._instance_key(keyring), desk.now + timedelta(hours=25)
    ) == [base64.b64decode(new.secret.removeprefix("whsec_"))]


def test_webhook_url_must_be_https(desk: Desk) -> None:
    from escrow.errors import ValidationError

    for url in (
        "http://hooks.example/x",
        "http://127.0.0.1/x",
        "ftp://hooks.example/",
        "https://u:p@hooks.example/",
    ):
        with pytest.raises(ValidationError):
            webhooks.set_webhook_url(
                desk.session, platform_id="forum", url=url, allow_loopback=False, log=LOG, now=desk.now
            )


def test_consent_withdrawn_event_names_only_the_platforms_pseudonym(desk: Desk) -> None:
    _hook(desk, "http://127.0.0.1:9/hook")
    args = {
        "person_id": desk.person_id,
        "platform_id": "forum",
        "secret": desk.person_secret,
        "log": LOG,
        "now": desk.now,
    }
    oidc.grant_consent(desk.session, **args)  # type: ignore[arg-type]

    oidc.withdraw_consent(desk.session, **args)  # type: ignore[arg-type]

    (message,) = _messages(desk.session)
    body = json.loads(message.payload)
    assert body["type"] == "consent.withdrawn"
    assert body["data"] == {"sub": desk.person_secret.pseudonym("forum")}


def test_disclosure_event_names_only_the_pseudonym_request_and_log_index(desk: Desk) -> None:
    _hook(desk, "http://127.0.0.1:9/hook")
    view = desk.cosigned()
    for holder in range(3):
        view = desk.decide(view, holder, "approve")
    assert view.status is RequestState.DISCLOSED

    (message,) = [m for m in _messages(desk.session) if m.event_type == "pseudonym.disclosed"]
    body = json.loads(message.payload)
    index = desk.session.scalars(select(LogEntry.idx).where(LogEntry.kind == "disclosure.disclosed")).one()
    assert body["data"] == {"sub": desk.credential.pseudonym, "request": view.id, "log_index": index}
    # Nothing of the person: no account id, nothing of their identity, no other member
    assert set(body) == {"type", "timestamp", "data"}
    assert "Jane" not in message.payload
    assert "1990" not in message.payload


def test_node_standardwebhooks_verifies_the_delivery(
    desk: Desk, keyring: Keyring, node_relying_parties: Path
) -> None:
    import shutil
    import subprocess

    with http_receiver() as receiver:
        secret = _hook(desk, receiver.url, keyring)
        assert secret is not None
        _revoke(desk)
        webhooks.deliver_due(desk.session, keyring=keyring, now=datetime.now(UTC))
        (received,) = receiver.wait_for(1)
    node = shutil.which("node")
    assert node is not None
    script = str(node_relying_parties / "verify_webhook.mjs")

    def run(body: bytes) -> subprocess.CompletedProcess[str]:
        stdin = json.dumps({"headers": received.headers, "body_b64": base64.b64encode(body).decode()})
        return subprocess.run([node, script, secret], input=stdin, capture_output=True, text=True, timeout=60)  # noqa: S603

    verified = run(received.body)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["data"]["credential_id"] == desk.credential.credential_id
    tampered = run(received.body.replace(b"platform", b"admin"))
    assert tampered.returncode == 1
    assert "refused" in tampered.stderr
