"""The court's part of a request, checked on the key-holder's machine: the order and the court's signature.

A court signs its order document with its own tooling (escrow.crypto.disclosure.sign_court_order); the
service records a verdict on that signature in the request body. The holder's tool does not take the
verdict on trust: it re-verifies the detached signature with the court key from the court's
`court.registered` entry in the transparency log, using the function the server used (court_verdict).
"""

from __future__ import annotations

import hmac
from typing import Any

from escrow.client.disclosure.shared import LogView, fail, logged_key_matches
from escrow.crypto.disclosure import court_verdict
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode, sha256
from escrow.protocol.disclosure import DisclosureBody


def check_court(log: LogView, package: dict[str, Any], body: DisclosureBody) -> str:
    """Re-verifies the court's signature on the order with the court key from the log.

    Downloads-with-the-package the order document (must hash to the SHA-256 the officers signed) and
    the detached signature, takes the court's key from its `court.registered` entry, and computes the
    verdict with escrow.crypto.disclosure.court_verdict, the function the server used. Returns a line
    for the holder; raises HolderClientError if the order was swapped or the verdicts disagree.
    """
    claimed = body.court_verdict
    court = package.get("court")
    try:
        document = b64u_decode(str(package["order_document"]))
        if not isinstance(court, dict):
            raise TypeError("no court")
        signature = b64u_decode(str(court["signature"]), length=64) if court.get("signature") else None
    except (CryptoError, KeyError, TypeError) as e:
        raise fail("the server did not send the order document and court signature; refusing") from e
    if not hmac.compare_digest(sha256(document).hex(), body.order_sha256):
        raise fail(
            "the order document the server sent does not hash to the SHA-256 the officers signed "
            "(a swapped order); refusing"
        )
    court_key: bytes | None = None
    source = "no signature to check"
    if signature is not None:
        index = court.get("log_index")
        registered = log.event(index, "the court's key")
        data = registered["data"]
        if (
            registered.get("kind") != "court.registered"
            or data.get("court") != body.court.id
            or data.get("name") != body.court.name
            or data.get("jurisdiction") != body.court.jurisdiction
        ):
            raise fail(f"log entry {index} is not the registration of this request's court; refusing")
        if data.get("public_key"):
            court_key = b64u_decode(str(data["public_key"]), length=32)
        elif data.get("fingerprint") and court.get("public_key"):
            served = b64u_decode(str(court["public_key"]), length=32)
            court_key = served if logged_key_matches(data, served) else None
        source = f"checked here with the court key of log entry {index}"
    verdict = court_verdict(court_key, document, signature)
    if verdict != claimed:
        raise fail(
            f"COURT SIGNATURE VERDICT MISMATCH: the officer-signed request says {claimed!r}, but this tool "
            f"finds {verdict!r} ({source}); refusing"
        )
    return f"court signature on the order: {verdict} ({source}; order SHA-256 {body.order_sha256})"
