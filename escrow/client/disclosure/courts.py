"""The court's part of a request, checked on the key-holder's machine: the order and the court's signature.

A court signs its order document with its own tooling (escrow.crypto.disclosure.sign_court_order); the
service records a verdict on that signature in the request body. The holder's tool does not take the
verdict on trust: it re-verifies the detached signature with the court key from the roster the
key-holders signed (issue 16), using the function the server used (court_verdict).
"""

from __future__ import annotations

import hmac
from typing import Any

from escrow.client.disclosure.shared import fail, read_signing_seed
from escrow.crypto.disclosure import VERDICT_VERIFIED, court_verdict, sign_court_order
from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.transcript import b64u_decode, b64u_encode, sha256
from escrow.protocol.disclosure import DisclosureBody
from escrow.protocol.roster import Roster, RosterError


def sign_order(document: bytes, key_file: bytes) -> str:
    """Returns the court's detached signature over `document` (base64url, what the drafting form and
    the API take as `court_signature`), made with the seed in `key_file` (read_signing_seed).

    The one function behind `escrow court sign` and the demo. Raises EncodingError for a bad key file
    or an empty document.
    """
    if not document:
        raise EncodingError("the order document is empty")
    return b64u_encode(sign_court_order(read_signing_seed(key_file, "court key file"), document))


def checked_order(package: dict[str, Any], body: DisclosureBody) -> bytes:
    """Returns the order document in a holder's package, once it hashes to the SHA-256 in the signed
    body (`body`, read and digest-checked by the caller). Raises HolderClientError for a swapped order."""
    try:
        document = b64u_decode(str(package["order_document"]))
    except (CryptoError, KeyError, TypeError) as e:
        raise fail("the server did not send the order document; refusing") from e
    if not hmac.compare_digest(sha256(document).hex(), body.order_sha256):
        raise fail(
            "the order document the server sent does not hash to the SHA-256 the officers signed "
            "(a swapped order); refusing"
        )
    return document


def check_court(package: dict[str, Any], body: DisclosureBody, roster: Roster) -> str:
    """Re-verifies the court's signature on the order with the court key from the roster the holders
    signed (issue 16): the court must be on it, and a court listed with a key signs its orders.

    The order document in the package must hash to the SHA-256 the officers signed; the verdict is
    computed with escrow.crypto.disclosure.court_verdict, the function the server used. Returns a line
    for the holder; raises HolderClientError if the order was swapped, the court is not on the roster,
    the verdicts disagree, or a signing court's order is not validly signed.
    """
    claimed = body.court_verdict
    court = package.get("court")
    document = checked_order(package, body)
    try:
        if not isinstance(court, dict):
            raise TypeError("no court")
        signature = b64u_decode(str(court["signature"]), length=64) if court.get("signature") else None
    except (CryptoError, KeyError, TypeError) as e:
        raise fail("the server did not send the court signature; refusing") from e
    try:
        listed = roster.court(body.court.name, body.court.jurisdiction)
    except RosterError as e:
        raise fail(f"{e.detail} (a court the key-holders never accepted); refusing") from e
    court_key = None if listed.public_key is None else b64u_decode(listed.public_key, length=32)
    source = f"checked here with the court key of roster version {roster.version}"
    verdict = court_verdict(court_key, document, signature)
    if verdict != claimed:
        raise fail(
            f"COURT SIGNATURE VERDICT MISMATCH: the officer-signed request says {claimed!r}, but this tool "
            f"finds {verdict!r} ({source}); refusing"
        )
    if court_key is not None and verdict != VERDICT_VERIFIED:
        # Issue 16 item 4: a court that signs its orders opens nothing with an order it did not sign.
        raise fail(
            f"court {body.court.name!r} ({body.court.jurisdiction}) signs its orders, but this order has no "
            f"valid signature by it ({verdict}); refusing"
        )
    return f"court signature on the order: {verdict} ({source}; order SHA-256 {body.order_sha256})"
