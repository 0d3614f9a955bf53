"""Logout for platforms (issue 19): OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

RP-initiated logout: ``check_end_session`` reads the platform's ``id_token_hint`` (an ID token we
signed; an expired one is accepted, section 2), ``client_id`` and ``post_logout_redirect_uri``, and
allows a redirect only to a URI the platform registered, exactly: never an open redirect.

Back-channel logout: when an escrow session ends, every platform signed in to from it that registered
a ``backchannel_logout_uri`` gets a signed ``logout_token`` (section 2.4) naming its own pairwise
pseudonym (``sub``) and its own ``sid``. A sid is random per escrow session *and* platform
(``new_sid``): two platforms never hold the same sid, so their logout tokens share no value, and each
token's ``iat`` is the moment it is sent, after an independent random delay, not the common logout
time (docs/platforms.md#logout). Nothing about the session's platforms is stored in the database:
the list lives in the person's escrow session only.
"""

from __future__ import annotations

import json
import logging
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from escrow.crypto.errors import CryptoError
from escrow.crypto.rsa import verify_rs256
from escrow.crypto.tokens import TYP_ID_TOKEN, verify_token
from escrow.crypto.transcript import b64u_decode
from escrow.errors import NotFoundError, ValidationError
from escrow.identity.transport import HttpClient
from escrow.keystore import Keyring
from escrow.models import Platform, SigningKey
from escrow.services import oidc
from escrow.services.platforms import check_redirect_uri
from escrow.services.transparency import LogSigner, append_event
from escrow.services.webhooks import check_outbound_url

BACKCHANNEL_LOGOUT_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYP: Final = "logout+jwt"  # noqa: S105 - Back-Channel Logout 1.0 section 2.4: explicitly typed
LOGOUT_TOKEN_TTL_S: Final = 120  # section 2.4 recommends an exp of at most two minutes
SID_BYTES: Final = 16
MAX_POST_LOGOUT_URIS: Final = 10
_MAX_HINT = 8192

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedInPlatform:
    """A platform the escrow session signed in to: its pseudonym there and the session's sid for it."""

    platform_id: str
    sub: str
    sid: str


@dataclass(frozen=True, slots=True)
class EndSession:
    """What an end-session request may do: ``redirect_uri`` (registered, with ``state``) or None;
    ``hint`` the verified ID token hint's platform, sub and sid, or None when missing or invalid
    (then the person confirms the logout on a page)."""

    platform_id: str | None
    redirect_uri: str | None
    hint: SignedInPlatform | None
    is_redirect_refused: bool = False


@dataclass(frozen=True, slots=True, repr=False)
class LogoutDelivery:
    """A signed logout token for one platform's back-channel URI, to send after ``delay_s``."""

    platform_id: str
    url: str
    logout_token: str
    delay_s: float

    def __repr__(self) -> str:
        return f"LogoutDelivery(platform_id={self.platform_id!r}, delay_s={self.delay_s:.1f})"


def new_sid() -> str:
    """Returns a fresh sid (128 random bits): one per escrow session and platform, never shared."""
    return secrets.token_urlsafe(SID_BYTES)


# --- platform settings ---------------------------------------------------------------------------


def set_logout_settings(
    session: Session,
    *,
    platform_id: str,
    post_logout_redirect_uris: Sequence[str],
    backchannel_logout_uri: str | None,
    allow_loopback: bool,
    log: LogSigner,
    now: datetime,
) -> None:
    """Sets the platform's post-logout redirect URIs (https, or http on loopback; exact match) and
    back-channel logout URI (None or "": none), logs ``platform.logout_set`` and commits.

    Raises NotFoundError, ValidationError.
    """
    platform = session.get(Platform, platform_id) if isinstance(platform_id, str) else None
    if platform is None:
        raise NotFoundError("no platform with this id")
    if len(post_logout_redirect_uris) > MAX_POST_LOGOUT_URIS:
        raise ValidationError(f"at most {MAX_POST_LOGOUT_URIS} post-logout redirect URIs")
    uris = [check_redirect_uri(u) for u in post_logout_redirect_uris]
    backchannel = (
        check_outbound_url(backchannel_logout_uri, allow_loopback=allow_loopback)
        if backchannel_logout_uri
        else None
    )
    platform.post_logout_redirect_uris = json.dumps(uris)
    platform.backchannel_logout_uri = backchannel
    append_event(
        session,
        log,
        kind="platform.logout_set",
        data={"platform": platform.id, "redirect_uris": len(uris), "backchannel": backchannel is not None},
        now=now,
    )
    session.commit()


def logout_settings(session: Session, platform_id: str) -> tuple[tuple[str, ...], str | None]:
    """Returns the platform's post-logout redirect URIs and back-channel logout URI."""
    platform = session.get(Platform, platform_id) if isinstance(platform_id, str) else None
    if platform is None:
        raise NotFoundError("no platform with this id")
    return tuple(json.loads(platform.post_logout_redirect_uris)), platform.backchannel_logout_uri


# --- RP-initiated logout -------------------------------------------------------------------------


def check_end_session(
    session: Session,
    *,
    keyring: Keyring,
    issuer: str,
    id_token_hint: object,
    client_id: object,
    post_logout_redirect_uri: object,
    state: object,
) -> EndSession:
    """Returns what the end-session request may do (RP-Initiated Logout 1.0 sections 2 and 3).

    The hint counts only if we signed it, for this issuer, for an existing platform. A
    ``post_logout_redirect_uri`` is followed only when it is registered, exactly, for the platform
    the hint or ``client_id`` names; otherwise nobody is redirected (``is_redirect_refused``).
    Raises ValidationError if ``client_id`` and the hint's audience disagree (section 2).
    """
    hint = _verified_hint(session, keyring, issuer, id_token_hint)
    named = client_id if isinstance(client_id, str) and client_id else None
    if hint is not None and named is not None and named != hint.platform_id:
        raise ValidationError("client_id is not the audience of id_token_hint")
    platform_id = hint.platform_id if hint is not None else named
    platform = session.get(Platform, platform_id) if platform_id is not None else None
    if platform is None:
        platform_id = None
    redirect_uri = None
    refused = False
    if post_logout_redirect_uri is not None and post_logout_redirect_uri != "":
        registered = () if platform is None else tuple(json.loads(platform.post_logout_redirect_uris))
        if isinstance(post_logout_redirect_uri, str) and post_logout_redirect_uri in registered:
            redirect_uri = _with_state(post_logout_redirect_uri, state)
        else:
            refused = True
    return EndSession(platform_id, redirect_uri, hint, refused)


def _with_state(uri: str, state: object) -> str:
    if not isinstance(state, str) or not state:
        return uri
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("state", state)])
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _verified_hint(session: Session, keyring: Keyring, issuer: str, token: object) -> SignedInPlatform | None:
    if not isinstance(token, str) or not token or len(token) > _MAX_HINT:
        return None
    try:
        claims = _hint_claims(session, keyring, token)
    except (CryptoError, ValueError, KeyError, TypeError):
        return None
    aud, sub, sid = claims.get("aud"), claims.get("sub"), claims.get("sid", "")
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if claims.get("iss") != issuer or not isinstance(aud, str) or not isinstance(sub, str):
        return None
    if session.get(Platform, aud) is None or not isinstance(sid, str):
        return None
    return SignedInPlatform(aud, sub, sid)


def _hint_claims(session: Session, keyring: Keyring, token: str) -> Mapping[str, Any]:
    header = json.loads(b64u_decode(token.split(".")[0]))
    if header.get("alg") == oidc.ALG_RS256:
        return verify_rs256(oidc.rs256_private_pem(keyring), token)

    def find_key(kid: str) -> bytes | None:
        row = session.get(SigningKey, kid) if isinstance(kid, str) else None
        return None if row is None else row.public_key

    return verify_token(token, find_key, typ=TYP_ID_TOKEN).claims


# --- back-channel logout -------------------------------------------------------------------------


def prepare_backchannel_logouts(
    session: Session,
    *,
    keyring: Keyring,
    issuer: str,
    signed_in: Sequence[SignedInPlatform],
    delays_s: Sequence[float],
    now: datetime,
) -> list[LogoutDelivery]:
    """Returns a signed logout token for each platform in ``signed_in`` that registered a back-channel
    logout URI, to be sent ``delays_s[i]`` seconds from ``now``; its ``iat`` is that moment.

    Claims (section 2.4): iss, aud, iat, exp, jti, events, and both ``sub`` (the platform's pairwise
    pseudonym) and ``sid`` (this session's sid for that platform only); never a nonce. Signed like
    the platform's ID tokens (its algorithm, ``typ: logout+jwt``). Commits (key publication).
    """
    deliveries = []
    for target, delay in zip(signed_in, delays_s, strict=True):
        platform = session.get(Platform, target.platform_id)
        if platform is None or platform.backchannel_logout_uri is None:
            continue
        iat = int(now.timestamp() + delay)
        claims = {
            "iss": issuer,
            "aud": platform.id,
            "iat": iat,
            "exp": iat + LOGOUT_TOKEN_TTL_S,
            "jti": secrets.token_urlsafe(16),
            "sub": target.sub,
            "sid": target.sid,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        token = oidc.sign_id_token(
            session, keyring=keyring, alg=platform.id_token_alg, claims=claims, now=now, typ=LOGOUT_TOKEN_TYP
        )
        deliveries.append(LogoutDelivery(platform.id, platform.backchannel_logout_uri, token, delay))
    return deliveries


def send_backchannel_logout(delivery: LogoutDelivery, http: HttpClient) -> int | None:
    """POSTs the logout token (``application/x-www-form-urlencoded``, section 2.5). Returns the
    HTTP status, or None if the platform could not be reached. Logs the outcome, never the token."""
    try:
        status: int | None = http.post_form(delivery.url, {"logout_token": delivery.logout_token}).status
    except (OSError, ValueError) as e:
        _log.warning(
            "oidc.backchannel_logout_failed platform_id=%s error=%s", delivery.platform_id, type(e).__name__
        )
        return None
    _log.info("oidc.backchannel_logout platform_id=%s status=%s", delivery.platform_id, status)
    return status
