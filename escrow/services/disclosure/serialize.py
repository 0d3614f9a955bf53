"""The JSON form of a disclosure request as staff and the legal officers' tools receive it.

One serializer for the JSON API (escrow.api.disclosures) and the request document the portal offers for
download (escrow.web.disclosures, `request.json`), which the officer's tool reads and signs
(escrow.client.disclosure.officers). api/ and web/ never import each other, so it lives below both.
"""

from __future__ import annotations

from typing import Any

from escrow.services.disclosure.views import DisclosureView


def view_json(view: DisclosureView) -> dict[str, Any]:
    """Returns the request document: body, digest, signers, progress and extensions (never an identity)."""
    return {
        "id": view.id,
        "status": view.status,
        "body": view.body,
        "digest": view.digest_b64,
        "submitter": view.submitter,
        "cosigners": list(view.cosigners),
        "approvals": view.approvals,
        "rejections": view.rejections,
        "threshold": view.threshold,
        "log_index": view.log_index,
        "disclosed_at": view.disclosed_at.isoformat() if view.disclosed_at else None,
        "view_until": view.view_until.isoformat() if view.view_until else None,
        "notify_delay_days": view.notify_delay_days,
        "notify_at": view.notify_at.isoformat() if view.notify_at else None,
        "extensions": [
            {
                "sequence": e.sequence,
                "status": e.status,
                "body": e.body,
                "digest": e.digest_b64,
                "proposer": e.proposer,
                "cosigners": list(e.cosigners),
                "created_at": e.created_at.isoformat(),
                "effective_at": e.effective_at.isoformat() if e.effective_at else None,
            }
            for e in view.extensions
        ],
        "withdrawn_by": view.withdrawn_by,
    }
