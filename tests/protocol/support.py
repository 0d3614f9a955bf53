"""Disclosure request bodies for the protocol and tool tests: the body as create_draft built it before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from escrow.crypto.transcript import b64u_encode, sha256

DIGEST = b64u_encode(sha256(b"an envelope"))
OTHER_DIGEST = b64u_encode(sha256(b"another envelope"))
EXPIRES = datetime(2031, 5, 17, 9, 30, 12, 654321, tzinfo=UTC)
ITEMS = [("forum", "pseudo-a", DIGEST), ("chat", "pseudo-b", OTHER_DIGEST)]


def _iso(moment: datetime) -> str:
    # The encoding services/disclosures.py used before the protocol class (its `_iso`).
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def dict_literal(items: list[tuple[str, str, str]], *, expires_at: datetime = EXPIRES) -> dict[str, Any]:
    """The body exactly as create_draft built it as a dict literal (before issue 12), in version 2 (a
    draft: no blinding points yet, issue 14)."""
    return {
        "v": 2,
        "nonce": "0f" * 16,
        "court": {"id": 3, "name": "District Court", "jurisdiction": "Exampleland"},
        "case_number": "2031-CV-0042",
        "order_sha256": sha256(b"%PDF-1.7 order").hex(),
        "court_signature": "verified",
        "legal_basis": 'Section 12(3), Ümlaut & "quotes" <tags>',
        "emergency": False,
        "scope": [{"platform": p, "pseudonym": s, "envelope_digest": d} for p, s, d in items],
        "expires_at": _iso(expires_at),
        "notify_delay_days": 30,
        "key_id": "key-2031",
        "submitter": {"username": "alice", "organisation": "Forum Legal"},
        "blinding": [],
    }
