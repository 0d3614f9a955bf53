"""The in-page reveal (static/officer-reveal.js) agrees with the Python code byte for byte (issue 14).

Each test makes its values with the Python implementation in the test itself (a blinding scalar from a
known Ed25519 seed, an envelope opened from blinded partials, a threshold VOPRF evaluation, person keys
and pseudonyms), then runs the JavaScript functions in Chromium on the same inputs (the module imported
from the portal, as the page imports it), and compares. The seed is imported into WebCrypto, so the
blinding scalar comes from a WebCrypto signature, as in the page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any

import nacl.signing
import pytest

from escrow.crypto.disclosure import blinding_point, blinding_scalar, oprf_check_digest, public_key
from escrow.crypto.group import Point, Scalar
from escrow.crypto.merkle import MemoryNodeStore, inclusion_proof, leaf_hash
from escrow.crypto.note import format_checkpoint, sign_note, verifier_key_string
from escrow.crypto.oprf import Mode, blind_with
from escrow.crypto.pseudonym import MAX_SLOTS, person_keys
from escrow.crypto.seal import SealKey, partial_decrypt, reseal, seal_identity
from escrow.crypto.threshold_oprf import answer, finalize_threshold, public_shares
from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.protocol.disclosure import CourtReference, DisclosureBody, Submitter
from escrow.protocol.identity import identity_key, seal_context
from escrow.protocol.scope import PseudonymScope
from tests.browser.support import Portal, open_page
from tests.credentials_support import threshold_key

pytestmark = pytest.mark.browser

SEED = bytes(range(32))
NONCE = "kat-nonce-0001"
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
RECORD = {
    "provider": "dev",
    "issuer": "https://idp.example",
    "subject": "alice",
    "name": "Ålice Exämple",
    "birthdate": "1990-01-01",
}

_IMPORT = "(path) => import(path)"


def _run(page: Any, portal: Portal, script: str, arg: object) -> Any:
    """Runs `script` (an async function of (m, arg), m the module) in a page of the portal."""
    open_page(page, portal.url + "/")
    return page.evaluate(
        f"async ([path, arg]) => {{ const m = await import(path); return await ({script})(m, arg); }}",
        ["/static/officer-reveal.js", arg],
    )


def test_blinding_scalar_from_a_webcrypto_signature_matches_python(page: Any, portal: Portal) -> None:
    digest = hashlib.sha256(b"an envelope").digest()
    got = _run(
        page,
        portal,
        """async (m, a) => {
          const pkcs8 = Uint8Array.from(atob(a.pkcs8), (c) => c.charCodeAt(0));
          const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
          const digest = Uint8Array.from(atob(a.digest), (c) => c.charCodeAt(0));
          const b = await m.blindingScalar(key, a.nonce, digest);
          const bytes = new Uint8Array(32);
          let n = b;
          for (let i = 0; i < 32; i++) { bytes[i] = Number(n & 255n); n >>= 8n; }
          return { b: m.toHex(bytes), checkDigest: m.toHex(m.oprfCheckDigest(digest, [digest, digest])) };
        }""",
        {
            "pkcs8": base64.b64encode(PKCS8_ED25519_PREFIX + SEED).decode(),
            "digest": base64.b64encode(digest).decode(),
            "nonce": NONCE,
        },
    )
    assert got["b"] == bytes(blinding_scalar(SEED, NONCE, digest)).hex()
    assert got["checkDigest"] == oprf_check_digest(digest, [digest, digest]).hex()
    assert Point.base_times(Scalar.decode(bytes.fromhex(got["b"]))) == blinding_point(SEED, NONCE, digest)
    assert len(public_key(SEED)) == 32


def _sealed(key: Any, shares: Any) -> dict[str, Any]:
    """An identity sealed and resealed by the Python code, and three holders' partials of R + B."""
    seal_key = SealKey.random()
    person_key = os.urandom(32)
    seal = seal_identity(seal_key, canonical_json(RECORD), seal_context(person_key))
    envelope = reseal(key, seal_key, seal, {"platform": "forum", "pseudonym": "p" * 26, "envelope_id": "e1"})
    request_digest = os.urandom(32)
    b = Scalar.random()
    blind = Point.base_times(b)
    partials = [partial_decrypt(shares[i], envelope, request_digest, blind=blind) for i in (2, 4, 5)]
    return {
        "key": key.to_dict(),
        "envelope": envelope.to_dict(),
        "digest": b64u_encode(request_digest),
        "partials": [p.to_dict() for p in partials],
        "b": bytes(b).hex(),
        "expected": {
            "identity": canonical_json(RECORD).hex(),
            "seal_point": bytes(seal_key.point).hex(),
            "context": canonical_json(seal_context(person_key)).decode(),
            "envelope_digest": envelope.digest().hex(),
        },
    }


_OPEN = """async (m, a) => {
  const key = m.parseKey(a.key);
  const envelope = m.parseEnvelope(a.envelope);
  const digest = m.b64uDecode(a.digest, 32);
  const partials = a.partials.map(m.parsePartial);
  let b = 0n;
  for (let i = 31; i >= 0; i--) b = (b << 8n) | BigInt(parseInt(a.b.slice(2 * i, 2 * i + 2), 16));
  const opened = m.openBlinded(key, envelope, digest, partials, b);
  const tampered = a.partials.map(m.parsePartial);
  tampered[1] = { ...tampered[1], d: tampered[0].d };
  let refusal = "";
  try { m.openBlinded(key, envelope, digest, tampered, b); } catch (e) { refusal = e.message; }
  let wrongBlind = "";
  try { m.openBlinded(key, envelope, digest, partials, b + 1n); } catch (e) { wrongBlind = e.message; }
  return {
    identity: m.toHex(opened.identity), seal_point: m.toHex(opened.sealPoint.toBytes()),
    context: JSON.stringify(opened.context), envelope_digest: m.toHex(envelope.digest),
    refusal, wrongBlind,
  };
}"""


def test_open_blinded_in_the_page_matches_python(page: Any, portal: Portal) -> None:
    key, shares = threshold_key()
    values = _sealed(key, shares)

    got = _run(page, portal, _OPEN, values)

    expected = values["expected"]
    assert got["identity"] == expected["identity"]
    assert got["seal_point"] == expected["seal_point"]
    assert canonical_json(json.loads(got["context"])).decode() == expected["context"]
    assert got["envelope_digest"] == expected["envelope_digest"]
    assert got["refusal"] == "the partial decryption of key-holder 4 does not verify"
    assert got["wrongBlind"] == "the partial decryption of key-holder 2 does not verify"  # B is b*G


def test_an_envelope_with_a_changed_byte_is_refused_in_the_page(page: Any, portal: Portal) -> None:
    key, shares = threshold_key()
    values = _sealed(key, shares)
    context = dict(values["envelope"]["context"], pseudonym="q" * 26)
    values["envelope"] = {**values["envelope"], "context": context}

    got = _run(
        page,
        portal,
        "async (m, a) => { try { m.parseEnvelope(a.envelope); return 'parsed'; }"
        " catch (e) { return e.message; } }",
        values,
    )

    assert got == "an envelope carries no valid proof of its randomness (forged)"


_OPRF = """async (m, a) => {
  const hex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const input = hex(a.input);
  const shares = new Map(
    Object.entries(a.shares).map(([i, v]) => [Number(i), m.decodeElement(m.b64uDecode(v, 32))]));
  const run = (answers) =>
    m.finalizeThreshold([input], [hex(a.blind)], [hex(a.blinded)], shares, answers, a.threshold);
  const [output] = run(a.answers);
  const keys = m.personKeys(output);
  const pseudonyms = [];
  for (let slot = 0; slot < a.slots; slot++) pseudonyms.push(m.pseudonym(keys.secret, "forum", slot));
  const bad = a.answers.map((x) => ({ ...x }));
  bad[0].evaluated = bad[1].evaluated;
  let refusal = "";
  try { run(bad); } catch (e) { refusal = e.message; }
  let fixed = 7;
  const blinded = m.blindIdentityKey(input, (n) => Uint8Array.from({ length: n }, () => fixed++));
  return {
    output: m.toHex(output), person_key: m.toHex(keys.personKey),
    seal_point: m.toHex(m.sealPointOf(keys.secret)),
    pseudonyms, refusal, own_blind: m.toHex(blinded.blind), own_blinded: m.toHex(blinded.blinded),
    identity_key: m.toHex(m.recordIdentityKey(a.record)),
  };
}"""


def test_threshold_oprf_person_keys_and_pseudonyms_in_the_page_match_python(
    page: Any, portal: Portal
) -> None:
    key, shares = threshold_key()  # a 3-of-5 DKG key, read as the OPRF key (threshold_oprf.from_edwards)
    x = identity_key(RECORD["provider"], RECORD["issuer"], RECORD["subject"])
    r = Scalar.random()
    blinded = blind_with(x, r, mode=Mode.VOPRF)
    answers = [answer(shares[i], [blinded]) for i in (1, 3, 5)]
    shares_by_node = public_shares(key)
    (expected,) = finalize_threshold([x], [r], [blinded], shares_by_node, answers, key.threshold)
    keys = person_keys(expected)

    got = _run(
        page,
        portal,
        _OPRF,
        {
            "input": x.hex(),
            "blind": bytes(r).hex(),
            "blinded": bytes(blinded).hex(),
            "shares": {str(i): b64u_encode(bytes(e)) for i, e in shares_by_node.items()},
            "answers": [
                {
                    "node": a.index,
                    "evaluated": [b64u_encode(bytes(e)) for e in a.evaluated],
                    "proof": b64u_encode(a.proof.to_bytes()),
                }
                for a in answers
            ],
            "threshold": key.threshold,
            "slots": MAX_SLOTS,
            "record": RECORD,
        },
    )

    assert got["identity_key"] == x.hex()
    assert got["output"] == expected.hex()
    assert got["person_key"] == keys.person_key.hex()
    assert got["seal_point"] == bytes(SealKey(keys.secret.seal_key_material()).point).hex()
    assert got["pseudonyms"] == [keys.secret.pseudonym("forum", slot=s) for s in range(MAX_SLOTS)]
    assert got["refusal"] == "node 1's proof does not verify"
    # The page's own VOPRF blind is RFC 9497's: blind * HashToGroup(input) in the VOPRF mode
    own_blind = Scalar.decode(bytes.fromhex(got["own_blind"]))
    assert got["own_blinded"] == bytes(blind_with(x, own_blind, mode=Mode.VOPRF)).hex()


_LOG = """async (m, a) => {
  const hex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const outcome = async (f) => { try { return await f(); } catch (e) { return e.message; } };
  const checkpoint = await m.latestCheckpoint(a.key, a.note);
  const changed = a.note.replace(`\\n${a.size}\\n`, "\\n1\\n");
  const tampered = await outcome(() => m.latestCheckpoint(a.key, changed));
  const otherKey = await outcome(() => m.latestCheckpoint(a.other_key, a.note));
  const proofs = a.proofs.map((p) => {
    const path = p.proof.map(hex);
    const good = m.verifyInclusion(hex(p.leaf), p.index, a.size, path, checkpoint.root);
    const flipped = hex(p.leaf);
    flipped[0] ^= 1;
    return [good, m.verifyInclusion(flipped, p.index, a.size, path, checkpoint.root)];
  });
  return { size: checkpoint.size, root: m.toHex(checkpoint.root), tampered, otherKey, proofs };
}"""


def test_checkpoint_signature_and_inclusion_proofs_in_the_page_match_python(
    page: Any, portal: Portal
) -> None:
    signing_key, other = nacl.signing.SigningKey(b"L" * 32), nacl.signing.SigningKey(b"M" * 32)
    store = MemoryNodeStore()
    entries = [f"entry {i}".encode() for i in range(7)]
    for entry in entries:
        store.append(leaf_hash(entry))
    size = len(entries)
    note = sign_note(
        format_checkpoint("escrow.test/log", size, store.root_hash()), "escrow.test/log", signing_key
    )

    got = _run(
        page,
        portal,
        _LOG,
        {
            "key": verifier_key_string("escrow.test/log", signing_key.verify_key),
            "other_key": verifier_key_string("escrow.test/log", other.verify_key),
            "note": note,
            "size": size,
            "proofs": [
                {
                    "index": i,
                    "leaf": leaf_hash(e).hex(),
                    "proof": [h.hex() for h in inclusion_proof(store, i, size)],
                }
                for i, e in enumerate(entries)
            ],
        },
    )

    assert got["size"] == size
    assert got["root"] == store.root_hash().hex()
    assert got["tampered"] == "the checkpoint's signature does not verify"
    assert got["otherKey"] == "the checkpoint is not signed by the log's key"
    assert got["proofs"] == [[True, False]] * size


_BODY = """async (m, a) => {
  const outcome = (f) => { try { f(); return "accepted"; } catch (e) { return e.message; } };
  const canonical = new TextEncoder().encode(m.canonical(a.body));
  const digest = m.toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", canonical)));
  return {
    digest,
    valid: outcome(() => m.checkBody(a.body)),
    newer: outcome(() => m.checkBody({ ...a.body, v: 3 })),
    extra: outcome(() => m.checkBody({ ...a.body, extra: 1 })),
    float: outcome(() => m.checkBody({ ...a.body, notify_delay_days: 1.5 })),
    unblinded: outcome(() => m.checkBody({ ...a.body, blinding: [] })),
    kind: outcome(() => m.checkBody({ ...a.body, scope: [{ ...a.body.scope[0], kind: "other" }] })),
  };
}"""


def test_request_body_digest_and_checks_in_the_page_match_python(page: Any, portal: Portal) -> None:
    body = DisclosureBody(
        nonce="0f" * 16,
        court=CourtReference(id=3, name="District Court", jurisdiction="Exampleland"),
        case_number="2031-CV-0042",
        order_sha256=hashlib.sha256(b"%PDF-1.7 order").hexdigest(),
        court_verdict="verified",
        legal_basis='Section 12(3), Ümlaut & "quotes" <tags> \\ 日本',
        is_emergency=False,
        scope=(PseudonymScope("forum", "p" * 26, b64u_encode(hashlib.sha256(b"e").digest())),),
        expires_at=datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC),
        notify_delay_days=30,
        key_id="key-2031",
        submitter=Submitter(username="olga", organisation="Forum Legal"),
    ).with_blinding([Point.base_times(Scalar.random())])

    got = _run(page, portal, _BODY, {"body": body.to_dict()})

    assert got["digest"] == body.digest().hex()
    assert got["valid"] == "accepted"
    assert got["newer"] == "the request body is of version 3, not 2; refusing"
    assert got["extra"] == "unexpected disclosure request body fields"
    assert got["float"] == "the request body is not canonical JSON; refusing"
    assert got["unblinded"] == "the request body holds no blinding point per pseudonym in scope; refusing"
    assert got["kind"] == "unexpected pseudonym scope item fields"
