"""Disclosure API for key-holders: the requests awaiting them, the package they check, their decisions.

Authorised by the holder's Escrow-Holder signature (as for the ceremony relay), never by cookie.
"""

from __future__ import annotations

from flask import Response, g, jsonify

from escrow.api.ceremony import holder_required
from escrow.api.disclosures.shared import disclosure_policy, signed_bp
from escrow.httpkit import (
    current_time,
    get_components,
    get_session,
    json_object,
    order_attachment,
    text_field,
)
from escrow.services import disclosure as service
from escrow.services.disclosure import view_json


@signed_bp.get("/holder/disclosures")
@holder_required
def holder_list() -> Response:
    """The co-signed requests awaiting the signed-in key-holder's decision."""
    views = service.holder_requests(
        get_session(), holder_id=g.holder_id, log=get_components().log, now=current_time()
    )
    return jsonify([view_json(v) for v in views])


@signed_bp.get("/holder/disclosures/<int:request_id>")
@holder_required
def holder_get(request_id: int) -> Response:
    """A request with its officers' signatures and keys, envelopes and log index, for the holder's checks."""
    package = service.holder_package(
        get_session(), request_id=request_id, holder_id=g.holder_id, policy=disclosure_policy()
    )
    return jsonify(
        {
            "id": package.request_id,
            "status": package.status,
            "body": package.body,
            "digest": package.digest_b64,
            "log_index": package.log_index,
            "officers": package.officers,
            "envelopes": package.envelopes,
            "holder_index": package.holder_index,
            "decided": package.decided,
            "court": package.court,
            "order_document": package.order_document_b64,
            "order_url": f"/api/v1/holder/disclosures/{package.request_id}/order",
        }
    )


@signed_bp.get("/holder/disclosures/<int:request_id>/order")
@holder_required
def holder_order(request_id: int) -> Response:
    """The stored court order, as an attachment, for a holder of the request's key (else 404)."""
    content = service.holder_order_document(
        get_session(), request_id=request_id, holder_id=g.holder_id, policy=disclosure_policy()
    )
    return order_attachment(content, request_id)


def _decide(request_id: int, decision: str) -> Response:
    data = json_object(require_json_media_type=False)
    view = service.decide_request(
        get_session(),
        request_id=request_id,
        holder_id=g.holder_id,
        decision=decision,
        partials=data.get("partials"),
        reason=str(data.get("reason", "")),
        signature_b64=text_field(data, "signature", allow_empty=True),
        policy=disclosure_policy(),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(view_json(view))


@signed_bp.post("/holder/disclosures/<int:request_id>/approve")
@holder_required
def holder_approve(request_id: int) -> Response:
    """A key-holder's signed approval with one verified partial decryption per envelope."""
    return _decide(request_id, "approve")


@signed_bp.post("/holder/disclosures/<int:request_id>/reject")
@holder_required
def holder_reject(request_id: int) -> Response:
    """A key-holder's signed rejection with a reason."""
    return _decide(request_id, "reject")
