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
from escrow.crypto.disclosure import VERDICT_VERIFIED, court_verdict, sign_court_order
from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.transcript import b64u_decode, b64u_encode, sha256
from escrow.protocol.disclosure import DisclosureBody

SEED_BYTES = 32


def read_signing_seed(data: bytes, what: str = "key file") -> bytes:
    """Returns the 32-byte Ed25519 seed in a key file: the raw 32 bytes (as `keys/dev-court.seed` and
    `escrow org keygen` write them), or one line of their base64url or hex.

    Raises EncodingError naming `what` for anything else.
    """
    if len(data) == SEED_BYTES:
        return bytes(data)
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise EncodingError(f"the {what} is not a 32-byte Ed25519 seed") from None
    if len(text) == 2 * SEED_BYTES and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    try:
        return b64u_decode(text, length=SEED_BYTES)
    except CryptoError as e:
        raise EncodingError(f"the {what} is not a 32-byte Ed25519 seed") from e


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


def check_court(log: LogView, package: dict[str, Any], body: DisclosureBody) -> str:
    """Re-verifies the court's signature on the order with the court key from the log.

    Downloads-with-the-package the order document (must hash to the SHA-256 the officers signed) and
    the detached signature, takes the court's key from its `court.registered` entry, and computes the
    verdict with escrow.crypto.disclosure.court_verdict, the function the server used. Returns a line
    for the holder; raises HolderClientError if the order was swapped or the verdicts disagree.
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
    if signature is None:
        court_key = _logged_court_key(log, court, body)
        if court_key is not None:
            source = "the court signs its orders"
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


def _logged_court_key(log: LogView, court: dict[str, Any], body: DisclosureBody) -> bytes | None:
    """The key the court registered with (from its log entry), for an order sent without a signature:
    a court that has one must sign. None if the log records no key for it."""
    index = court.get("log_index")
    if index is None:
        return None
    registered = log.event(index, "the court's key")
    data = registered["data"]
    if registered.get("kind") != "court.registered" or data.get("court") != body.court.id:
        raise fail(f"log entry {index} is not the registration of this request's court; refusing")
    if data.get("public_key"):
        return b64u_decode(str(data["public_key"]), length=32)
    return None
