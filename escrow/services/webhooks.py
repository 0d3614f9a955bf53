"""Events to platforms (issue 19): Standard Webhooks deliveries from an outbox.

A change that a platform should hear of (a credential revoked, a consent withdrawn, one of its
pseudonyms disclosed) adds a ``webhook_messages`` row in its own transaction (``enqueue_event``, no
commit), so the event exists exactly when the change does. ``deliver_due`` (run by
``escrow webhooks deliver``) posts due messages, signed as the specification says, and retries a
failure with exponential backoff; every attempt is kept for the platform portal's delivery log.

What an event says is what the platform already knows: its own pseudonym, its own credential id, a
disclosure request id and the public log index. Never a person id, never another platform.
The platform's ``whsec_`` secret is derived from one instance key under keys/
(crypto/webhooks.py): nothing secret is stored in the database, and it is shown once, at rotation.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.crypto.webhooks import derive_webhook_secret, secret_text, sign_webhook
from escrow.errors import NotFoundError, ValidationError
from escrow.keystore import Keyring, load_or_create_secret
from escrow.models import Platform, WebhookAttempt, WebhookMessage
from escrow.services.pagination import Page, fetch_page
from escrow.services.transparency import LogSigner, append_event

EVENT_CREDENTIAL_REVOKED: Final = "credential.revoked"
EVENT_CONSENT_WITHDRAWN: Final = "consent.withdrawn"
EVENT_PSEUDONYM_DISCLOSED: Final = "pseudonym.disclosed"
EVENT_TYPES: Final = (EVENT_CREDENTIAL_REVOKED, EVENT_CONSENT_WITHDRAWN, EVENT_PSEUDONYM_DISCLOSED)
INSTANCE_KEY_NAME: Final = "webhook-instance-key"  # under keys/, mode 0600
INSTANCE_KEY_BYTES: Final = 32
# Standard Webhooks recommends exponential backoff; this is its example schedule's shape: 5 s after
# the first failure, then x6 each time, capped at 10 hours; after MAX_ATTEMPTS the message fails.
FIRST_RETRY: Final = timedelta(seconds=5)
BACKOFF_FACTOR: Final = 6
MAX_RETRY_DELAY: Final = timedelta(hours=10)
MAX_ATTEMPTS: Final = 8
# A worker claims a message for this long before posting it, so two workers do not both send it.
CLAIM_LEASE: Final = timedelta(seconds=60)
TIMEOUT_S: Final = 10
# After a rotation the previous secret signs too (a second signature) for a day, so a platform can
# switch without dropping events (the specification allows several space-separated signatures).
PREVIOUS_SECRET_GRACE: Final = timedelta(hours=24)
BATCH: Final = 50
_MAX_URL = 2000
_LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "::1")

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, repr=False)
class NewWebhookSecret:
    """A platform's new webhook secret (``whsec_...``): shown once, never stored."""

    platform_id: str
    secret: str
    generation: int

    def __repr__(self) -> str:
        return f"NewWebhookSecret(platform_id={self.platform_id!r}, generation={self.generation})"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str | None
    has_secret: bool
    generation: int


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """A message as the platform portal shows it: its id, type, state and attempts."""

    message_id: str
    event_type: str
    created_at: datetime
    state: str  # pending, delivered, failed
    attempts: tuple[DeliveryAttempt, ...]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int
    retrying: int
    failed: int


@dataclass(frozen=True, slots=True)
class PostResult:
    status_code: int | None
    error: str | None


Poster = Callable[[str, bytes, Mapping[str, str]], PostResult]


def check_outbound_url(value: object, *, allow_loopback: bool) -> str:
    """Returns ``value`` if it is an https URL (or, in development and tests, http on loopback) the
    server may POST to. Raises ValidationError."""
    if not isinstance(value, str) or not value or len(value) > _MAX_URL:
        raise ValidationError("the URL must be an absolute https URL")
    parts = urllib.parse.urlsplit(value)
    is_loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if not (parts.scheme == "https" or (allow_loopback and is_loopback)) or not parts.hostname:
        raise ValidationError("the URL must be an absolute https URL")
    if parts.fragment or parts.username or parts.password:
        raise ValidationError("the URL must have no fragment and no user name")
    return value


# --- settings and secrets ------------------------------------------------------------------------


def _platform(session: Session, platform_id: str) -> Platform:
    platform = session.get(Platform, platform_id) if isinstance(platform_id, str) else None
    if platform is None:
        raise NotFoundError("no platform with this id")
    return platform


def webhook_settings(session: Session, platform_id: str) -> WebhookSettings:
    """Returns the platform's webhook URL and secret generation. Raises NotFoundError."""
    platform = _platform(session, platform_id)
    generation = platform.webhook_secret_generation
    return WebhookSettings(platform.webhook_url, generation > 0, generation)


def set_webhook_url(
    session: Session,
    *,
    platform_id: str,
    url: str | None,
    allow_loopback: bool,
    log: LogSigner,
    now: datetime,
) -> None:
    """Sets (or, with None or "", removes) the platform's webhook URL, logs ``platform.webhook_set``
    and commits. Events are queued only while a URL is set. Raises NotFoundError, ValidationError."""
    platform = _platform(session, platform_id)
    platform.webhook_url = check_outbound_url(url, allow_loopback=allow_loopback) if url else None
    append_event(
        session, log, kind="platform.webhook_set", data={"platform": platform.id, "on": bool(url)}, now=now
    )
    session.commit()


def rotate_webhook_secret(
    session: Session, *, platform_id: str, keyring: Keyring, log: LogSigner, now: datetime
) -> NewWebhookSecret:
    """Makes the platform's next webhook secret, logs ``platform.webhook_secret_rotated`` and
    commits. The previous one (if any) still signs for PREVIOUS_SECRET_GRACE. Returns the new secret
    (shown once). Raises NotFoundError, KeyFileError for an unsafe instance key file."""
    platform = _platform(session, platform_id)
    key = _instance_key(keyring)
    if platform.webhook_secret_generation > 0:
        platform.webhook_previous_until = now + PREVIOUS_SECRET_GRACE
    platform.webhook_secret_generation += 1
    generation = platform.webhook_secret_generation
    append_event(
        session,
        log,
        kind="platform.webhook_secret_rotated",
        data={"platform": platform.id, "generation": generation},
        now=now,
    )
    session.commit()
    _log.info("platform.webhook_secret_rotated platform_id=%s generation=%d", platform_id, generation)
    return NewWebhookSecret(
        platform_id, secret_text(derive_webhook_secret(key, platform_id, generation)), generation
    )


def _instance_key(keyring: Keyring) -> bytes:
    if keyring.keys_dir is None:
        raise ValidationError("the keyring has no keys directory for the webhook key")
    return load_or_create_secret(keyring.keys_dir, INSTANCE_KEY_NAME, INSTANCE_KEY_BYTES)


def _signing_secrets(platform: Platform, key: bytes, now: datetime) -> list[bytes]:
    generation = platform.webhook_secret_generation
    result = [derive_webhook_secret(key, platform.id, generation)]
    until = platform.webhook_previous_until
    if generation > 1 and until is not None and now < until:
        result.append(derive_webhook_secret(key, platform.id, generation - 1))
    return result


# --- the outbox ----------------------------------------------------------------------------------


def enqueue_event(
    session: Session, *, platform_id: str, event_type: str, data: Mapping[str, Any], now: datetime
) -> str | None:
    """Adds the event for the platform to the outbox in the caller's transaction (no commit), if the
    platform has a webhook URL. Returns the message id (the ``webhook-id``), or None.

    The body is Standard Webhooks' shape: ``{"type", "timestamp", "data"}``. Raises ValidationError
    for an unknown event type.
    """
    if event_type not in EVENT_TYPES:
        raise ValidationError(f"unknown webhook event type {event_type!r}")
    url = session.scalar(select(Platform.webhook_url).where(Platform.id == platform_id))
    if url is None:
        return None
    message_id = "msg_" + secrets.token_urlsafe(24)
    body = {"type": event_type, "timestamp": _rfc3339(now), "data": dict(data)}
    session.add(
        WebhookMessage(
            id=message_id,
            platform_id=platform_id,
            event_type=event_type,
            payload=json.dumps(body, separators=(",", ":"), sort_keys=True),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )
    return message_id


def _rfc3339(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_delay(attempts: int) -> timedelta:
    """Returns how long to wait after the ``attempts``-th failed attempt (1, 2, ...)."""
    delay: timedelta = FIRST_RETRY * int(BACKOFF_FACTOR ** max(0, attempts - 1))
    return min(delay, MAX_RETRY_DELAY)


def deliver_due(
    session: Session, *, keyring: Keyring, now: datetime, post: Poster | None = None
) -> DeliveryReport:
    """Posts every message due at ``now`` (up to BATCH), records each attempt and commits after each.

    A 2xx answer delivers it; anything else (another status, a timeout, no connection) schedules a
    retry by ``retry_delay``, and after MAX_ATTEMPTS the message fails. A message whose platform
    removed its URL or has no secret yet waits. Returns the counts.
    """
    send = post or post_json
    key = _instance_key(keyring)
    due = list(
        session.execute(
            select(WebhookMessage.id, WebhookMessage.next_attempt_at)
            .join(Platform, Platform.id == WebhookMessage.platform_id)
            .where(
                WebhookMessage.next_attempt_at.is_not(None),
                WebhookMessage.next_attempt_at <= now,
                Platform.webhook_url.is_not(None),
                Platform.webhook_secret_generation > 0,
            )
            .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
            .limit(BATCH)
        )
    )
    session.commit()
    delivered = retrying = failed = 0
    for message_id, due_at in due:
        # Claim it (one conditional UPDATE): of two workers, one posts it.
        claimed = session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id == message_id, WebhookMessage.next_attempt_at == due_at)
            .values(next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            continue
        session.commit()
        message = session.get(WebhookMessage, message_id)
        platform = None if message is None else session.get(Platform, message.platform_id)
        if message is None or platform is None or platform.webhook_url is None:  # pragma: no cover
            continue
        outcome = _attempt(session, message, platform, key, now=now, send=send)
        delivered += outcome == "delivered"
        retrying += outcome == "retrying"
        failed += outcome == "failed"
    return DeliveryReport(delivered, retrying, failed)


def _attempt(
    session: Session, message: WebhookMessage, platform: Platform, key: bytes, *, now: datetime, send: Poster
) -> str:
    body = message.payload.encode()
    timestamp = int(now.timestamp())
    signature = " ".join(
        sign_webhook(secret, message_id=message.id, timestamp=timestamp, body=body)
        for secret in _signing_secrets(platform, key, now)
    )
    headers = {
        "content-type": "application/json",
        "webhook-id": message.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    started = time.monotonic()
    assert platform.webhook_url is not None  # noqa: S101 - checked by the caller
    result = send(platform.webhook_url, body, headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    message.attempts += 1
    session.add(
        WebhookAttempt(
            message_id=message.id,
            attempted_at=now,
            status_code=result.status_code,
            error=None if result.error is None else result.error[:200],
            duration_ms=duration_ms,
        )
    )
    if result.status_code is not None and 200 <= result.status_code < 300:
        message.delivered_at = now
        message.next_attempt_at = None
        outcome = "delivered"
    elif message.attempts >= MAX_ATTEMPTS:
        message.failed_at = now
        message.next_attempt_at = None
        outcome = "failed"
    else:
        message.next_attempt_at = now + retry_delay(message.attempts)
        outcome = "retrying"
    session.commit()
    _log.info(
        "webhook.%s platform_id=%s message_id=%s status=%s attempts=%d",
        outcome,
        platform.id,
        message.id,
        result.status_code,
        message.attempts,
    )
    return outcome


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is a failed delivery: the platform registers the final URL


def post_json(url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
    """POSTs ``body`` to ``url`` (no redirects, TIMEOUT_S). Returns the status, or the error's kind."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            return PostResult(response.status, None)
    except urllib.error.HTTPError as e:
        with e:
            return PostResult(e.code, None)
    except (OSError, ValueError) as e:  # refused, timed out, DNS, TLS
        return PostResult(None, type(e).__name__)


# --- the delivery log ----------------------------------------------------------------------------


def page_deliveries(session: Session, platform_id: str, *, page: int) -> Page[DeliveryInfo]:
    """Returns one page of the platform's messages, newest first, with their attempts.

    Raises InvalidPageError, PageNotFoundError.
    """
    query = (
        select(WebhookMessage)
        .where(WebhookMessage.platform_id == platform_id)
        .order_by(WebhookMessage.created_at.desc(), WebhookMessage.id)
    )
    return fetch_page(session, query, number=page).map(lambda m: _delivery_info(session, m))


def _delivery_info(session: Session, message: WebhookMessage) -> DeliveryInfo:
    attempts = session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.message_id == message.id).order_by(WebhookAttempt.id)
    )
    if message.delivered_at is not None:
        state = "delivered"
    elif message.failed_at is not None:
        state = "failed"
    else:
        state = "pending"
    return DeliveryInfo(
        message.id,
        message.event_type,
        message.created_at,
        state,
        tuple(DeliveryAttempt(a.attempted_at, a.status_code, a.error, a.duration_ms) for a in attempts),
    )
