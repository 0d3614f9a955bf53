"""Credentials JSON API: the JWKS, online verification and redemption, status, revocation, and the
person's own credentials. Platforms authenticate with ``Authorization: Bearer <API key>``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from escrow.api.idempotency import idempotent
from escrow.crypto.idempotency import person_scope
from escrow.errors import AuthenticationError, ValidationError
from escrow.httpkit import (
    bearer_challenge,
    bearer_token,
    current_person,
    current_time,
    get_components,
    get_session,
    json_object,
    pseudonym_secret,
    text_field,
)
from escrow.services.credentials import (
    CredentialInfo,
    credential_statuses,
    issue_credential,
    list_person_credentials,
    revoke_as_person,
    revoke_as_platform,
    verify_and_redeem,
)
from escrow.services.disclosure import person_notices
from escrow.services.oidc import oidc_public_jwks
from escrow.services.platforms import PlatformInfo, authenticate_platform
from escrow.services.signing_keys import published_jwks

JWKS_MAX_AGE_S = 300  # platforms refetch on an unknown kid anyway (escrow.client.verifier)

jwks_bp = Blueprint("jwks", __name__)
# Platforms authenticate with an API key header, never a cookie: CSRF does not apply (app.py exempts it).
platform_bp = Blueprint("platform_api", __name__, url_prefix="/api/v1")
# Persons use their session cookie: state-changing calls need the X-CSRFToken header.
bp = Blueprint("credentials_api", __name__, url_prefix="/api/v1")


@jwks_bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """The credential signing keys (OKP/Ed25519, kid = RFC 7638 thumbprint) and the RS256 ID-token
    key of Sign in with escrow (issue 7), cacheable."""
    keys = published_jwks(get_session(), now=current_time(), cache=get_components().read_cache)
    keys["keys"] += oidc_public_jwks(get_components().keyring)
    response = jsonify(keys)
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_S}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _platform_scope() -> bytes:
    return b"platform:" + _platform().id.encode()


def _person_scope() -> bytes:
    current_person()  # 403 for anyone else, before the secret is asked for
    return person_scope(bytes(pseudonym_secret()))


@platform_bp.post("/credentials/verify")
@idempotent("credentials.verify", _platform_scope)
def verify() -> Response:
    """Verifies and redeems a credential for the calling platform (a second redemption is 409)."""
    platform = _platform()
    credential = verify_and_redeem(
        get_session(),
        platform=platform,
        token=text_field(json_object(), "credential"),
        issuer=get_components().settings.issuer_url,
        now=current_time(),
        cache=get_components().read_cache,
    )
    body: dict[str, Any] = {k: v for k, v in credential._asdict().items() if k not in ("iat", "nbf", "exp")}
    for name in ("issued_at", "not_before", "expires_at"):
        body[name] = getattr(credential, name).isoformat()
    return jsonify({"valid": True, **body})


@platform_bp.post("/credentials/status")
def status() -> Response:
    """Returns {credential id: active|redeemed|revoked|expired|unknown} for the platform's ids."""
    platform = _platform()
    ids = json_object().get("credential_ids")
    if not isinstance(ids, list) or not ids:
        raise ValidationError("credential_ids must be a non-empty list")
    statuses = credential_statuses(get_session(), platform=platform, credential_ids=ids, now=current_time())
    return jsonify({"statuses": statuses})


@platform_bp.post("/credentials/<credential_id>/revoke")
def platform_revoke(credential_id: str) -> Response:
    """The platform revokes one of its credentials (abuse)."""
    info = revoke_as_platform(
        get_session(),
        platform=_platform(),
        credential_id=credential_id,
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(_credential_json(info))


@bp.get("/me/credentials")
def my_credentials() -> Response:
    person = current_person()
    items = list_person_credentials(
        get_session(), person_id=person.id, secret=pseudonym_secret(), now=current_time()
    )
    return jsonify({"credentials": [_credential_json(i) for i in items]})


@bp.get("/me/notices")
def my_notices() -> Response:
    """The disclosures that concerned the logged-in person, found by matching their own notice tags
    against the log's disclosure.notice_due events (issue 14)."""
    person = current_person()
    notices = person_notices(
        get_session(),
        person_id=person.id,
        secret=pseudonym_secret(),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(
        {
            "notices": [
                {
                    "request_id": n.request_id,
                    "disclosed_at": n.disclosed_at.isoformat(),
                    "court": n.court,
                    "case_number": n.case_number,
                }
                for n in notices
            ]
        }
    )


@bp.post("/me/credentials")
@idempotent("credentials.issue", _person_scope)
def issue() -> tuple[Response, int]:
    """Issues a credential for ``platform_id`` to the logged-in person; the token is returned once."""
    person, secret = current_person(), pseudonym_secret()
    body = json_object()
    slot = body.get("slot", 0)
    extension = get_components()
    issued = issue_credential(
        get_session(),
        person_id=person.id,
        platform_id=text_field(body, "platform_id"),
        secret=secret,
        keyring=extension.keyring,
        issuer=extension.settings.issuer_url,
        log=extension.log,
        now=current_time(),
        slot=slot if type(slot) is int else -1,
        cache=extension.read_cache,
    )
    return jsonify(
        {
            "credential": issued.token,
            "credential_id": issued.credential_id,
            "platform_id": issued.platform_id,
            "pseudonym": issued.pseudonym,
            "envelope_digest": issued.envelope_digest,
            "expires_at": issued.expires_at.isoformat(),
        }
    ), 201


@bp.post("/me/credentials/<credential_id>/revoke")
def my_revoke(credential_id: str) -> Response:
    person, secret = current_person(), pseudonym_secret()
    extension = get_components()
    info = revoke_as_person(
        get_session(),
        person_id=person.id,
        credential_id=credential_id,
        secret=secret,
        log=extension.log,
        now=current_time(),
    )
    return jsonify(_credential_json(info))


PLATFORM_API_REALM = "escrow-platform-api"


def _platform() -> PlatformInfo:
    """The platform of the request's API key. Raises AuthenticationError with a Bearer challenge."""
    api_key = bearer_token()
    try:
        return authenticate_platform(get_session(), api_key, cache=get_components().read_cache)
    except AuthenticationError as error:
        challenge = bearer_challenge(PLATFORM_API_REALM, presented="Authorization" in request.headers)
        raise AuthenticationError(error.detail, challenge=challenge) from error


def _credential_json(info: CredentialInfo) -> dict[str, Any]:
    return {
        "credential_id": info.credential_id,
        "platform_id": info.platform_id,
        "pseudonym": info.pseudonym,
        "issued_at": info.issued_at.isoformat(),
        "expires_at": info.expires_at.isoformat(),
        "status": info.status,
    }
