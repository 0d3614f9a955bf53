"""JSON API for admins (platforms, API keys, revoking credentials) and verification officers
(in-person registration). Staff session cookie plus the X-CSRFToken header (escrow.api.auth)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify

from escrow.api.auth import role_required
from escrow.errors import ValidationError
from escrow.httpkit import current_time, get_components, get_session, json_object, text_field
from escrow.identity.officer import DocumentCheck
from escrow.services.credentials import revoke_as_admin
from escrow.services.oidc import create_client_secret, set_id_token_algorithm
from escrow.services.platforms import (
    DEFAULT_CREDENTIAL_LIFETIME_S,
    ApiKeyInfo,
    PlatformInfo,
    create_api_key,
    list_api_keys,
    list_platforms,
    register_platform,
    revoke_api_key,
)
from escrow.services.registration import register_in_person

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")


@bp.get("/admin/platforms")
@role_required("admin")
def platforms() -> Response:
    return jsonify({"platforms": [_platform(p) for p in list_platforms(get_session())]})


@bp.post("/admin/platforms")
@role_required("admin")
def add_platform() -> tuple[Response, int]:
    body = json_object()
    uris = body.get("redirect_uris", [])
    if not isinstance(uris, list):
        raise ValidationError("redirect_uris must be a list of URLs")
    platform = register_platform(
        get_session(),
        platform_id=text_field(body, "id"),
        name=text_field(body, "name"),
        contact=text_field(body, "contact"),
        redirect_uris=uris,
        credential_lifetime_s=body.get("credential_lifetime_s", DEFAULT_CREDENTIAL_LIFETIME_S),
        pseudonyms_per_person=body.get("pseudonyms_per_person", 1),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(_platform(platform)), 201


@bp.get("/admin/platforms/<platform_id>/api-keys")
@role_required("admin")
def api_keys(platform_id: str) -> Response:
    return jsonify({"api_keys": [_key(k) for k in list_api_keys(get_session(), platform_id)]})


@bp.post("/admin/platforms/<platform_id>/api-keys")
@role_required("admin")
def add_api_key(platform_id: str) -> tuple[Response, int]:
    """Creates an API key; ``api_key`` is in this response only."""
    new = create_api_key(get_session(), platform_id=platform_id, log=get_components().log, now=current_time())
    return jsonify({**_key(new.info), "api_key": new.api_key}), 201


@bp.post("/admin/platforms/<platform_id>/api-keys/<prefix>/revoke")
@role_required("admin")
def revoke_key(platform_id: str, prefix: str) -> Response:
    info = revoke_api_key(
        get_session(), platform_id=platform_id, prefix=prefix, log=get_components().log, now=current_time()
    )
    return jsonify(_key(info))


@bp.post("/admin/platforms/<platform_id>/oidc/client-secret")
@role_required("admin")
def new_client_secret(platform_id: str) -> tuple[Response, int]:
    """Gives the platform a new OIDC client secret (replacing any old one); shown in this response only."""
    new = create_client_secret(
        get_session(), platform_id=platform_id, log=get_components().log, now=current_time()
    )
    return jsonify({"platform_id": new.platform_id, "client_secret": new.client_secret}), 201


@bp.post("/admin/platforms/<platform_id>/oidc/id-token-alg")
@role_required("admin")
def id_token_alg(platform_id: str) -> Response:
    """Sets the algorithm of the platform's ID tokens: EdDSA (default) or RS256."""
    alg = text_field(json_object(), "alg")
    extension = get_components()
    set_id_token_algorithm(
        get_session(),
        platform_id=platform_id,
        alg=alg,
        keyring=extension.keyring,
        log=extension.log,
        now=current_time(),
    )
    return jsonify({"platform_id": platform_id, "id_token_alg": alg})


@bp.post("/admin/credentials/<credential_id>/revoke")
@role_required("admin")
def revoke_credential(credential_id: str) -> Response:
    info = revoke_as_admin(
        get_session(), credential_id=credential_id, log=get_components().log, now=current_time()
    )
    return jsonify({"credential_id": info.credential_id, "status": info.status})


@bp.post("/officer/persons")
@role_required("verification_officer")
def register_person_in_person() -> tuple[Response, int]:
    """Registers a person from a checked document; answers with the account id only."""
    body = json_object()
    extension = get_components()
    account = register_in_person(
        get_session(),
        check=DocumentCheck(
            document_type=text_field(body, "document_type"),
            issuing_country=text_field(body, "issuing_country"),
            document_number=text_field(body, "document_number"),
            name=text_field(body, "name"),
            birthdate=text_field(body, "birthdate"),
        ),
        password=text_field(body, "password"),
        oprf=extension.oprf,
        hasher=extension.password_hasher,
        log=extension.log,
        now=current_time(),
    )
    return jsonify({"person_id": account.id, "assurance": account.assurance}), 201


def _platform(platform: PlatformInfo) -> dict[str, Any]:
    return {**asdict(platform), "redirect_uris": list(platform.redirect_uris)}


def _key(info: ApiKeyInfo) -> dict[str, Any]:
    return {
        "prefix": info.prefix,
        "platform_id": info.platform_id,
        "created_at": info.created_at.isoformat(),
        "is_revoked": info.is_revoked,
    }
