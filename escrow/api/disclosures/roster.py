"""The roster API (issue 16): the version in force and each version (public, for every holder's tool
and auditor), an admin's proposal, a key-holder's signature, an officer's organisation certificate."""

from __future__ import annotations

from flask import Response, g, jsonify

from escrow.api.auth import role_required
from escrow.api.ceremony import holder_required
from escrow.api.disclosures.shared import ADMIN, OFFICER, bp, signed_bp, signed_in_staff
from escrow.httpkit import current_time, get_components, get_session, json_object, text_field
from escrow.services import roster as service
from escrow.services.disclosure import record_officer_certificate


@bp.get("/roster")
def roster() -> Response:
    """Public: the roster version in force, with its holders' signatures (check them yourself)."""
    return jsonify(service.roster_document(get_session()).to_json())


@bp.get("/roster/latest")
def latest_roster() -> Response:
    """Public: the newest roster version (proposed, awaiting signatures, or the one in force)."""
    return jsonify(service.latest_roster_document(get_session()).to_json())


@bp.get("/roster/versions/<int:version>")
def roster_version(version: int) -> Response:
    """Public: one roster version (proposed, in force or superseded), with its holders' signatures."""
    return jsonify(service.roster_document(get_session(), version).to_json())


@bp.post("/admin/roster")
@role_required(ADMIN)
def propose() -> tuple[Response, int]:
    """Proposes the next roster version: courts and organisations (the holders and t come from the
    escrow key in force); nothing changes until a quorum of holders signs it."""
    data = json_object()
    document = service.propose_roster(
        get_session(),
        courts=data.get("courts", []),
        organisations=data.get("organisations", []),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(document.to_json()), 201


@signed_bp.post("/holder/roster/<int:version>/sign")
@holder_required
def sign(version: int) -> Response:
    """A key-holder's Ed25519 signature over a roster version's digest."""
    document = service.sign_roster(
        get_session(),
        holder_id=g.holder_id,
        version=version,
        signature_b64=text_field(json_object(require_json_media_type=False), "signature", allow_empty=True),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(document.to_json())


@bp.post("/officers/certificate")
@role_required(OFFICER, ADMIN)
def record_certificate() -> tuple[Response, int]:
    """Records an officer's key with the certificate their organisation signed (`escrow org certify`)."""
    data = json_object(require_json_media_type=False)
    fingerprint = record_officer_certificate(
        get_session(),
        actor=signed_in_staff(),
        certificate=data.get("certificate"),
        signature_b64=data.get("signature"),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify({"fingerprint": fingerprint}), 201
