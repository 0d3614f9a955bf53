"""Ending an escrow session (issue 19): the one logout path, which also tells the platforms signed in
to from this session, by OpenID Connect Back-Channel Logout 1.0 (escrow/services/logout.py).

Which platforms those are lives only in the person's escrow session (``SIGNED_IN_KEY``: platform id
-> that platform's sid and pseudonym), sealed under the browser-held session box key, never in the
database or readable in the session store, where it would join the platforms.
"""

from __future__ import annotations

import json
import random
import threading

from flask import session as cookie_session

from escrow.crypto.transcript import canonical_json
from escrow.errors import PermissionDeniedError
from escrow.httpkit import (
    current_person,
    current_time,
    end_session,
    get_components,
    get_session,
    open_from_session,
    seal_in_session,
)
from escrow.identity.transport import UrllibHttp
from escrow.services import logout as service

SIGNED_IN_KEY = "escrow_oidc_signed_in"
_random = random.SystemRandom()


def session_sid(platform_id: str) -> str:
    """Returns this escrow session's sid for the platform, made on its first sign-in there."""
    entry = signed_in_platforms().get(platform_id)
    return entry.sid if entry is not None else service.new_sid()


def _aad() -> bytes:
    return b"escrow/v2/signed-in/" + str(current_person().id).encode()


def _stored() -> dict[str, object]:
    try:
        plaintext = open_from_session(SIGNED_IN_KEY, _aad())
        raw = json.loads(plaintext) if plaintext is not None else {}
    except (PermissionDeniedError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def record_signed_in(platform_id: str, *, sid: str, sub: str) -> None:
    """Remembers, in the escrow session only and sealed under the browser-held session box key
    (escrow.httpkit.seal_in_session), that it signed in to the platform as ``sub``."""
    entries = _stored()
    entries[platform_id] = {"sid": sid, "sub": sub}
    seal_in_session(SIGNED_IN_KEY, canonical_json(entries), _aad())


def signed_in_platforms() -> dict[str, service.SignedInPlatform]:
    """Returns the platforms this escrow session signed in to, by platform id."""
    raw = _stored()
    result = {}
    if isinstance(raw, dict):
        for platform_id, entry in raw.items():
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("sid"), str)
                and isinstance(entry.get("sub"), str)
            ):
                result[platform_id] = service.SignedInPlatform(platform_id, entry["sub"], entry["sid"])
    return result


def forget_signed_in() -> None:
    """Forgets the session's platforms (a new sign-in starts a new escrow session)."""
    cookie_session.pop(SIGNED_IN_KEY, None)


def end_escrow_session() -> None:
    """Signs the person out and sends each platform signed in to from this session its logout token,
    each after its own random delay (Settings.backchannel_logout_max_delay_s), from a thread: the
    person's browser does not wait on platforms, and no platform's answer changes the logout."""
    targets = list(signed_in_platforms().values())
    end_session()  # the stored session, its id and the browser's half of the box key (issue 17)
    if not targets:
        return
    extension = get_components()
    most = extension.settings.backchannel_logout_max_delay_s
    deliveries = service.prepare_backchannel_logouts(
        get_session(),
        keyring=extension.keyring,
        issuer=extension.settings.issuer_url,
        signed_in=targets,
        delays_s=[_random.uniform(0, most) for _ in targets],
        now=current_time(),
    )
    http = UrllibHttp()
    for delivery in deliveries:
        timer = threading.Timer(delivery.delay_s, service.send_backchannel_logout, (delivery, http))
        timer.daemon = True
        timer.start()
