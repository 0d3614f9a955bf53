// The submitting officer opens a disclosed request IN THIS PAGE with the signing key this browser holds
// (issue 14): the same algorithm as `escrow officer reveal` (escrow/client/disclosure/reveal.py,
// open_request), step for step and byte for byte, over the vendored @noble libraries
// (static/vendor/noble.js, built by tests/vendor_js/build.sh).
//
// 1. Sign the request digest (role reveal) and fetch the reveal package (the server logs the fetch).
// 2. Check it is the request this key submitted: its body hashes to the digest, and its blinding points
//    are this key's (b_j re-derived from a WebCrypto signature over blinding_message); each envelope is
//    the one the officers signed (digest, platform, pseudonym) and carries a valid proof of knowledge of
//    its randomness.
// 3. Verify every key-holder's Chaum-Pedersen proof against its verification key, combine at zero
//    (Lagrange), subtract b*PK, open the outer AEAD (k2 = HKDF-SHA256(s*R, "escrow envelope v2" || R ||
//    PK)) and the inner one (HKDF-SHA256(M, "escrow identity v1")), and parse the identity record.
// 4. Blind each identity key (RFC 9497 VOPRF, ristretto255-SHA512), sign the check digest (role
//    oprf-check), verify every OPRF node's proof against the public shares of the oprf.key_activated
//    entry (proven by an inclusion proof in the latest signed checkpoint), combine, finalize, derive the
//    person keys, and check seal point, person key and pseudonym (slots 0..15) as _verdict does. An
//    identity is shown only when all of it holds.
//
// Nothing is stored: no localStorage, no IndexedDB write; the page is served with Cache-Control no-store.
// This protects against a stolen database, not against a server that serves a hostile script: an officer
// who must not trust the server opens the request with the command-line tool instead.

import {
  ed25519,
  ristretto255,
  ristretto255_oprf,
  sha256,
  sha512,
  hmac,
  hkdf,
  xchacha20poly1305,
} from "./vendor/noble.js";
import {
  ED25519,
  b64u,
  canonical,
  concat,
  ed25519Available,
  loadPair,
  officerMessage,
  publicKeyOf,
} from "./officer-key.js";
export { canonical }; // the canonical JSON of escrow.crypto.transcript (officer-key.js), for the tests

const EdPoint = ed25519.Point;
const RPoint = ristretto255.Point;
const Fn = EdPoint.Fn;
const L = Fn.ORDER;
const text = new TextEncoder();
const utf8 = (s) => text.encode(s);

const ENVELOPE_VERSION = 2;
const SEAL_VERSION = 2;
const IDENTITY_INFO = utf8("escrow identity v1");
const ENVELOPE_INFO = utf8("escrow envelope v2");
const SCHNORR_DOMAIN = utf8("escrow/v1/schnorr-pok");
const DLEQ_DOMAIN = utf8("escrow/v1/chaum-pedersen");
const BLIND_DOMAIN = "escrow/v2/disclosure/blind\0";
const OPRF_CHECK_DOMAIN = utf8("escrow/v2/disclosure/oprf-check\0");
const LOOKUP_LABEL = utf8("escrow/v2/lookup");
const SECRET_LABEL = utf8("escrow/v2/pseudonym-secret");
const PSEUDONYM_DOMAIN = "escrow/v2/pseudonym\0";
const SEAL_KEY_LABEL = utf8("escrow/v2/seal-key");
const MAX_SLOTS = 16;
const PSEUDONYM_CHARS = 26;

export class RevealError extends Error {}
const refuse = (why) => {
  throw new RevealError(why);
};

// ---- encodings (escrow.crypto.transcript) -------------------------------------------------------

// Strict unpadded base64url: the alphabet only, canonical trailing bits, and an exact length if given.
export function b64uDecode(value, length) {
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]*$/.test(value) || value.length % 4 === 1)
    refuse("expected base64url text");
  const standard = value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4);
  const bytes = Uint8Array.from(atob(standard), (c) => c.charCodeAt(0));
  if (b64u(bytes) !== value) refuse("non-canonical base64url");
  if (length !== undefined && bytes.length !== length)
    refuse(`expected ${length} bytes, got ${bytes.length}`);
  return bytes;
}

export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const equalBytes = (a, b) => {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
};
const leToInt = (bytes) => {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
};
const u64 = (n) => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
};
const u16 = (n) => Uint8Array.of(n >> 8, n & 0xff);

function exactMembers(data, members, what) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) refuse(`malformed ${what}`);
  const keys = Object.keys(data).sort();
  if (keys.length !== members.length || keys.some((k, i) => k !== [...members].sort()[i]))
    refuse(`unexpected ${what} fields`);
}

function isContext(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// canonical_json's domain: null, bools, text, safe integers (never floats), lists and objects. Other
// values would encode differently here and in Python, so they are refused, as _check_context does.
function isCanonical(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return true;
  if (typeof value === "number") return Number.isSafeInteger(value);
  if (Array.isArray(value)) return value.every(isCanonical);
  if (isContext(value)) return Object.values(value).every(isCanonical);
  return false;
}

const isMapping = (value) => isContext(value) && isCanonical(value);

// A JSON integer, never a bool or float (escrow.crypto.seal._check_version).
const isInt = (v) => typeof v === "number" && Number.isInteger(v);

// ---- the group (escrow.crypto.group, escrow.crypto.ristretto) -----------------------------------

// Point.decode: a canonical encoding of a point of the prime-order subgroup, not of small order.
export function decodePoint(bytes) {
  let p;
  try {
    p = EdPoint.fromBytes(bytes, false);
  } catch {
    refuse("not a canonical point of the prime-order subgroup");
  }
  if (p.is0() || p.isSmallOrder() || !p.isTorsionFree() || !equalBytes(p.toBytes(), bytes)) {
    refuse("not a canonical point of the prime-order subgroup");
  }
  return p;
}

// Scalar.decode: canonical (< L).
function decodeScalar(bytes) {
  const n = leToInt(bytes);
  if (n >= L) refuse("scalar is not reduced modulo the group order");
  return n;
}

const reduce = (bytes) => Fn.create(leToInt(bytes));
const mul = (point, n) => (n === 0n ? EdPoint.ZERO : point.multiplyUnsafe(n)); // public scalars only
const base = (n) => mul(EdPoint.BASE, n);
const enc = (point) => point.toBytes();

// Element.decode: RFC 9496 decoding, and never the identity (RFC 9497 DeserializeElement).
export function decodeElement(bytes) {
  let e;
  try {
    e = RPoint.fromBytes(bytes);
  } catch {
    refuse("not a ristretto255 element");
  }
  if (e.is0()) refuse("the identity element");
  return e;
}

// vss.lagrange_at_zero: lambda_i = prod_{j != i} j / (j - i) mod L.
export function lagrangeAtZero(indices) {
  const out = new Map();
  for (const i of indices) {
    let num = 1n;
    let den = 1n;
    for (const j of indices) {
      if (j === i) continue;
      num = Fn.mul(num, BigInt(j));
      den = Fn.mul(den, Fn.create(BigInt(j - i)));
    }
    out.set(i, Fn.mul(num, Fn.inv(den)));
  }
  return out;
}

// ---- Fiat-Shamir proofs (escrow.crypto.proofs) ---------------------------------------------------

class Transcript {
  constructor(domain) {
    this.h = sha512.create();
    this.h.update(concat(u64(domain.length), domain));
  }
  append(label, data) {
    this.h.update(concat(u64(label.length), label, u64(data.length), data));
    return this;
  }
  challenge() {
    return reduce(this.h.digest());
  }
}
const label = (s) => utf8(s);

function decodeProof(bytes) {
  return { c: decodeScalar(bytes.subarray(0, 32)), z: decodeScalar(bytes.subarray(32)) };
}

export function verifyKnowledge(publicPoint, proof, binding) {
  const commitment = base(proof.z).subtract(mul(publicPoint, proof.c));
  const t = new Transcript(SCHNORR_DOMAIN)
    .append(label("G"), enc(EdPoint.BASE))
    .append(label("X"), enc(publicPoint));
  t.append(label("A"), enc(commitment));
  for (const [name, data] of binding) t.append(name, data);
  return t.challenge() === proof.c;
}

export function verifyDleq(publicPoint, pairs, proof, binding) {
  const commitments = [base(proof.z).subtract(mul(publicPoint, proof.c))];
  for (const [b, d] of pairs) commitments.push(mul(b, proof.z).subtract(mul(d, proof.c)));
  const t = new Transcript(DLEQ_DOMAIN)
    .append(label("G"), enc(EdPoint.BASE))
    .append(label("V"), enc(publicPoint));
  t.append(label("k"), u64(pairs.length));
  for (const [b, d] of pairs) t.append(label("B"), enc(b)).append(label("D"), enc(d));
  for (const a of commitments) t.append(label("A"), enc(a));
  for (const [name, data] of binding) t.append(name, data);
  return t.challenge() === proof.c;
}

// ---- envelopes and their opening (escrow.crypto.seal) --------------------------------------------

const kdf = (ikm, info) => hkdf(sha256, ikm, undefined, info, 32);

function unpad(data) {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  if (end === 0 || data[end - 1] !== 0x80) refuse("envelope did not open");
  return data.subarray(0, end - 1);
}

function aeadOpen(key, nonce, ciphertext, aad) {
  try {
    return xchacha20poly1305(key, nonce, aad).decrypt(ciphertext);
  } catch {
    return refuse("envelope did not open");
  }
}

// The canonical form hashed into the digest: to_dict of what from_dict accepts.
export function envelopeHeader(env) {
  return utf8(canonical({ v: env.v, key_id: env.key_id, r: env.r, context: env.context }));
}

// Envelope.from_dict: version, exact members, the point, and the Schnorr proof bound to every byte.
export function parseEnvelope(data) {
  exactMembers(data, ["v", "key_id", "r", "nonce", "outer", "proof", "context"], "envelope");
  if (!isInt(data.v) || data.v !== ENVELOPE_VERSION) refuse("unsupported envelope version");
  if (typeof data.key_id !== "string") refuse("key id must be text");
  if (!isMapping(data.context)) refuse("a context is a mapping");
  const envelope = {
    json: data,
    keyId: data.key_id,
    r: decodePoint(b64uDecode(data.r, 32)),
    nonce: b64uDecode(data.nonce, 24),
    outer: b64uDecode(data.outer),
    proof: decodeProof(b64uDecode(data.proof, 64)),
    context: data.context,
    header: envelopeHeader(data),
    digest: sha256(utf8(canonical(data))),
  };
  const binding = [
    [label("envelope"), envelope.header],
    [label("nonce"), envelope.nonce],
    [label("outer"), sha256(envelope.outer)],
  ];
  if (!verifyKnowledge(envelope.r, envelope.proof, binding)) {
    throw new RevealError("an envelope carries no valid proof of its randomness (forged)");
  }
  return envelope;
}

// ThresholdPublicKey.from_dict, key id included ("ek1-" || hex(SHA-256("escrow/v1/key-id" || PK)[:12])).
export function parseKey(data) {
  if (!isContext(data) || !isContext(data.verification_keys) || !isInt(data.threshold))
    refuse("malformed threshold public key");
  const publicKey = decodePoint(b64uDecode(data.public_key, 32));
  const verification = new Map();
  for (const [i, v] of Object.entries(data.verification_keys)) {
    if (!/^[1-9][0-9]{0,2}$/.test(i) || Number(i) > 255) refuse("malformed threshold public key");
    verification.set(Number(i), decodePoint(b64uDecode(v, 32)));
  }
  if (!(data.threshold >= 1 && data.threshold <= verification.size))
    refuse("threshold out of range for the verification keys");
  const keyId = "ek1-" + toHex(sha256(concat(utf8("escrow/v1/key-id"), enc(publicKey))).subarray(0, 12));
  if ("key_id" in data && data.key_id !== keyId) refuse("key id does not match the public key");
  return { keyId, threshold: data.threshold, publicKey, verification };
}

export function parsePartial(data) {
  exactMembers(data, ["holder", "d", "proof"], "partial decryption");
  if (!isInt(data.holder) || data.holder < 1 || data.holder > 255) refuse("malformed partial decryption");
  return {
    holder: data.holder,
    d: decodePoint(b64uDecode(data.d, 32)),
    proof: decodeProof(b64uDecode(data.proof, 64)),
  };
}

// combine_partials with blind B: every proof checked (a bad one is named), then Lagrange over the first t.
export function combinePartials(key, envelope, requestDigest, partials, blindPoint) {
  if (envelope.keyId !== key.keyId) refuse("envelope is sealed to another escrow key");
  const seen = new Set();
  for (const p of partials) {
    if (seen.has(p.holder)) refuse(`two partial decryptions from holder ${p.holder}`);
    seen.add(p.holder);
  }
  const binding = [
    [label("request"), requestDigest],
    [label("envelope"), envelope.digest],
  ];
  const point = blindPoint ? envelope.r.add(blindPoint) : envelope.r;
  for (const p of partials) {
    const v = key.verification.get(p.holder);
    if (!v) refuse(`key-holder ${p.holder} holds no share of this key`);
    if (!verifyDleq(v, [[point, p.d]], p.proof, binding)) {
      throw new RevealError(`the partial decryption of key-holder ${p.holder} does not verify`);
    }
  }
  if (partials.length < key.threshold)
    refuse(`${partials.length} of ${key.threshold} required partial decryptions`);
  const chosen = [...partials].sort((a, b) => a.holder - b.holder).slice(0, key.threshold);
  const lambdas = lagrangeAtZero(chosen.map((p) => p.holder));
  return chosen.reduce((acc, p) => acc.add(mul(p.d, lambdas.get(p.holder))), EdPoint.ZERO);
}

// open_with_secret_point: the outer record {m, context, nonce, inner}, then the inner seal under M.
export function openWithSecretPoint(key, envelope, sR) {
  const k2 = kdf(enc(sR), concat(ENVELOPE_INFO, enc(envelope.r), enc(key.publicKey)));
  const recordBytes = aeadOpen(k2, envelope.nonce, envelope.outer, envelope.header);
  let record;
  try {
    record = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(recordBytes));
    exactMembers(record, ["m", "context", "nonce", "inner"], "sealed record");
    if (!isMapping(record.context)) refuse("a context is a mapping");
  } catch {
    refuse("envelope did not open");
  }
  const sealPoint = decodePoint(b64uDecode(record.m, 32));
  const nonce = b64uDecode(record.nonce, 24);
  const inner = b64uDecode(record.inner);
  const identity = unpad(
    aeadOpen(kdf(enc(sealPoint), IDENTITY_INFO), nonce, inner, utf8(canonical(record.context))),
  );
  return { identity, context: record.context, sealPoint };
}

// open_blinded: s*(R + B) - b*PK = s*R.
export function openBlinded(key, envelope, requestDigest, partials, b) {
  const combined = combinePartials(key, envelope, requestDigest, partials, EdPoint.BASE.multiply(b));
  return openWithSecretPoint(key, envelope, combined.subtract(key.publicKey.multiply(b)));
}

// ---- the officer's blinding (escrow.crypto.disclosure) ------------------------------------------

export function blindingMessage(nonce, envelopeDigest) {
  if (typeof nonce !== "string" || !/^[\x01-\x7f]*$/.test(nonce))
    refuse("a request nonce is ASCII text without NUL");
  return concat(utf8(BLIND_DOMAIN + nonce + "\0"), envelopeDigest);
}

// blinding_scalar_from_signature: the clamped Ed25519 secret scalar of SHA-256(signature), mod L.
export function blindingScalarFromSignature(signature) {
  if (signature.length !== 64) refuse("an Ed25519 signature is 64 bytes");
  const digest = sha512(sha256(signature)).slice(0, 32);
  digest[0] &= 248;
  digest[31] &= 127;
  digest[31] |= 64;
  return Fn.create(leToInt(digest));
}

export async function blindingScalar(privateKey, nonce, envelopeDigest) {
  const signature = new Uint8Array(
    await crypto.subtle.sign(ED25519, privateKey, blindingMessage(nonce, envelopeDigest)),
  );
  return blindingScalarFromSignature(signature);
}

export function oprfCheckDigest(requestDigest, blinded) {
  return sha256(concat(OPRF_CHECK_DOMAIN, requestDigest, u16(blinded.length), ...blinded));
}

// ---- identity records and person keys (escrow.protocol.identity, escrow.crypto.pseudonym) -------

export function parseRecord(bytes) {
  let record;
  try {
    record = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    refuse("the identity record is not JSON");
  }
  if (!isContext(record) || !Object.values(record).every((v) => typeof v === "string"))
    refuse("the identity record is not an object of text values");
  for (const member of ["provider", "issuer", "subject"])
    if (!record[member]) refuse(`the identity record has no ${member}`);
  return record;
}

export const recordIdentityKey = (record) =>
  utf8(canonical({ kind: record.provider, issuer: record.issuer, subject: record.subject }));

export const sealContext = (personKey) => ({
  record: "person-identity",
  v: SEAL_VERSION,
  person_key: b64u(personKey),
});

const hkdfExpand32 = (prk, info) => hmac(sha256, prk, concat(info, Uint8Array.of(1)));

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
function base32(bytes) {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export function personKeys(output) {
  if (output.length !== 64) refuse("an OPRF output is 64 bytes");
  return { personKey: hkdfExpand32(output, LOOKUP_LABEL), secret: hkdfExpand32(output, SECRET_LABEL) };
}

export function pseudonym(secret, platform, slot = 0) {
  if (typeof platform !== "string" || !platform || platform.includes("\0"))
    refuse("platform id must be non-empty text without NUL");
  let message = PSEUDONYM_DOMAIN + platform;
  if (slot) message += "\0" + String(slot);
  return base32(hmac(sha256, secret, utf8(message))).slice(0, PSEUDONYM_CHARS);
}

export function sealPointOf(secret) {
  return enc(EdPoint.BASE.multiply(reduce(hmac(sha512, secret, SEAL_KEY_LABEL))));
}

// _verdict: why the opened identity is not the person behind the scope item, or "" if it is.
export function verdict(item, opened, keys) {
  if (!equalBytes(sealPointOf(keys.secret), enc(opened.sealPoint))) {
    return "the envelope's seal key is not the revealed person's: the envelope was substituted";
  }
  if (canonical(opened.context) !== canonical(sealContext(keys.personKey))) {
    return "the identity seal names another account than the revealed person's: the seal was swapped";
  }
  let found = false;
  if (typeof item.platform === "string" && item.platform && !item.platform.includes("\0")) {
    for (let slot = 0; slot < MAX_SLOTS; slot++)
      found = found | (pseudonym(keys.secret, item.platform, slot) === String(item.pseudonym));
  }
  return found ? "" : "the revealed person's pseudonyms on this platform do not include the one in scope";
}

// ---- the threshold OPRF (escrow.crypto.oprf, escrow.crypto.threshold_oprf) -----------------------

const { oprf, voprf } = ristretto255_oprf;

export const blindIdentityKey = (input, rng) => voprf.blind(input, rng);

// finalize_threshold: every node's answer verified against its logged public share, combined at zero
// over all of them, then RFC 9497 Finalize (the same hash in both modes).
export function finalizeThreshold(inputs, blinds, blinded, publicShares, answers, threshold) {
  const verified = new Map();
  for (const a of answers) {
    if (!isInt(a.node) || a.node < 1 || a.node > 255) refuse("malformed OPRF answer");
    if (verified.has(a.node)) refuse(`node ${a.node} answered twice`);
    const share = publicShares.get(a.node);
    if (!share) refuse(`node ${a.node} holds no share of this key`);
    if (!Array.isArray(a.evaluated) || a.evaluated.length !== blinded.length)
      refuse(`node ${a.node} answered ${a.evaluated?.length} elements for ${blinded.length}`);
    const evaluated = a.evaluated.map((e) => decodeElement(b64uDecode(e, 32)));
    const proof = b64uDecode(a.proof, 64);
    decodeScalar(proof.subarray(0, 32));
    decodeScalar(proof.subarray(32));
    try {
      const items = inputs.map((input, j) => ({
        input,
        blind: blinds[j],
        blinded: blinded[j],
        evaluated: evaluated[j].toBytes(),
      }));
      voprf.finalizeBatch(items, share.toBytes(), proof);
    } catch {
      throw new RevealError(`node ${a.node}'s proof does not verify`);
    }
    verified.set(a.node, evaluated);
  }
  if (verified.size < threshold) refuse(`${verified.size} answers, ${threshold} needed`);
  const lambdas = lagrangeAtZero([...verified.keys()]);
  return inputs.map((input, j) => {
    let combined = RPoint.ZERO;
    for (const [node, evaluated] of verified)
      combined = combined.add(evaluated[j].multiply(lambdas.get(node)));
    return oprf.finalize(input, blinds[j], combined.toBytes());
  });
}

// ---- the whole reveal (escrow.client.disclosure.reveal.open_request) ----------------------------

async function post(path, payload) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(payload),
    cache: "no-store",
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) refuse(`the server refused: ${(answer && answer.detail) || response.status}`);
  return answer;
}

async function signRole(pair, role, digest) {
  return b64u(
    new Uint8Array(await crypto.subtle.sign(ED25519, pair.privateKey, officerMessage(role, b64u(digest)))),
  );
}

const BODY_VERSION = 2;
const BODY_KEYS = [
  "v",
  "nonce",
  "court",
  "case_number",
  "order_sha256",
  "court_signature",
  "legal_basis",
  "emergency",
  "scope",
  "expires_at",
  "notify_delay_days",
  "key_id",
  "submitter",
  "blinding",
];

// What DisclosureBody.from_dict checks before this page relies on a member: the version (a newer body
// is refused by name), exact members, a pseudonym scope item per envelope and one blinding point each.
export function checkBody(body) {
  if (!isContext(body)) refuse("the request body cannot be read; refusing");
  if (!isInt(body.v) || body.v !== BODY_VERSION)
    refuse(`the request body is of version ${JSON.stringify(body.v)}, not ${BODY_VERSION}; refusing`);
  exactMembers(body, BODY_KEYS, "disclosure request body");
  if (!isCanonical(body)) refuse("the request body is not canonical JSON; refusing");
  if (typeof body.nonce !== "string" || !/^[0-9a-f]{32}$/.test(body.nonce) || typeof body.key_id !== "string")
    refuse("the request body cannot be read; refusing");
  if (
    !Array.isArray(body.scope) ||
    body.scope.length === 0 ||
    !Array.isArray(body.blinding) ||
    body.blinding.length !== body.scope.length
  ) {
    refuse("the request body holds no blinding point per pseudonym in scope; refusing");
  }
  for (const item of body.scope) {
    exactMembers(item, ["platform", "pseudonym", "envelope_digest"], "pseudonym scope item");
    if (![item.platform, item.pseudonym, item.envelope_digest].every((v) => typeof v === "string" && v))
      refuse("a scope item cannot be read; refusing");
    b64uDecode(item.envelope_digest, 32);
  }
  if (!isContext(body.submitter) || typeof body.submitter.username !== "string")
    refuse("the request body names no submitter; refusing");
}

// _read_package: the package is the request this key signed, with one proven envelope per scope item.
async function readPackage(data, pair, username, requestId, signedDigest) {
  if (!isContext(data) || data.id !== requestId)
    refuse("the server's reveal package is not for this request; refusing");
  const body = data.body;
  checkBody(body);
  const digest = sha256(utf8(canonical(body)));
  if (b64u(digest) !== data.digest) refuse("the reveal package's digest does not match its body");
  if (!equalBytes(digest, signedDigest))
    refuse("the reveal package is not the request you opened (another digest); refusing");
  if (!isContext(body.submitter) || body.submitter.username !== username)
    refuse("this request was not submitted with this key");
  let key;
  let envelopes;
  let partials;
  try {
    key = parseKey(data.key);
    if (
      !Array.isArray(data.envelopes) ||
      !Array.isArray(data.partials) ||
      data.envelopes.length !== body.scope.length
    ) {
      refuse("the reveal package does not hold one envelope per pseudonym in scope");
    }
    envelopes = data.envelopes.map(parseEnvelope);
    partials = envelopes.map((_, j) => data.partials.map((holder) => parsePartial(holder[j])));
  } catch (e) {
    if (e instanceof RevealError && e.message.startsWith("the reveal package")) throw e;
    if (e instanceof RevealError && e.message.startsWith("an envelope")) refuse(`${e.message}; refusing`);
    refuse(`the reveal package is malformed (${e.message}); refusing`);
  }
  if (key.keyId !== body.key_id)
    refuse("the reveal package names another escrow key than the request; refusing");
  const blinds = [];
  for (const [j, item] of body.scope.entries()) {
    const envelope = envelopes[j];
    if (
      b64u(envelope.digest) !== item.envelope_digest ||
      envelope.context.platform !== item.platform ||
      envelope.context.pseudonym !== item.pseudonym
    ) {
      refuse(
        `the envelope for ${item.platform}/${item.pseudonym} does not match the digest the officers signed (tampered or substituted); refusing`,
      );
    }
    const b = await blindingScalar(pair.privateKey, body.nonce, envelope.digest);
    if (b64u(enc(EdPoint.BASE.multiply(b))) !== body.blinding[j])
      refuse("this request was not submitted with this key (its blinding points are not yours)");
    blinds.push(b);
  }
  return { requestId, body, digest, key, envelopes, partials, blinds };
}

// ---- the transparency log (escrow.crypto.note, escrow.crypto.merkle, client.disclosure.shared) ------

function stdB64Decode(value) {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0)
    refuse("bad base64");
  const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  if (btoa(String.fromCharCode(...bytes)) !== value) refuse("non-canonical base64");
  return bytes;
}

// The latest checkpoint, its C2SP signed-note signature verified with the log's verifier key (the
// server's, on first use: the page has nowhere to pin it; the command-line tool pins it). Returns
// {size, root}.
export async function latestCheckpoint(verifierKey, note) {
  const parts =
    typeof verifierKey === "string" ? verifierKey.match(/^([^+\s]+)\+([0-9a-f]{8})\+(.+)$/) : null;
  if (!parts) refuse("the log's verifier key is malformed");
  const [, name, hashHex, keyB64] = parts;
  const typed = stdB64Decode(keyB64);
  if (typed.length !== 33 || typed[0] !== 1) refuse("the log's verifier key is not an Ed25519 key");
  const publicKey = typed.subarray(1);
  const keyHash = sha256(concat(utf8(name + "\n"), typed)).subarray(0, 4);
  if (toHex(keyHash) !== hashHex) refuse("the log's verifier key hash does not match its key");
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) refuse("the checkpoint is not a signed note");
  const body = note.slice(0, split + 1);
  const key = await crypto.subtle.importKey("raw", publicKey, ED25519, false, ["verify"]);
  let verified = false;
  for (const line of note.slice(split + 2, -1).split("\n")) {
    const match = line.match(/^\u2014 (\S+) (\S+)$/);
    if (!match || match[1] !== name) continue;
    const signature = stdB64Decode(match[2]);
    if (signature.length !== 68 || !equalBytes(signature.subarray(0, 4), keyHash)) continue;
    if (!(await crypto.subtle.verify(ED25519, key, signature.subarray(4), utf8(body))))
      refuse("the checkpoint's signature does not verify");
    verified = true;
  }
  if (!verified) refuse("the checkpoint is not signed by the log's key");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3 || lines[0] !== name || !/^(0|[1-9][0-9]{0,18})$/.test(lines[1]))
    refuse("the checkpoint is malformed");
  const root = stdB64Decode(lines[2]);
  if (root.length !== 32) refuse("the checkpoint is malformed");
  return { size: Number(lines[1]), root };
}

const leafHash = (leaf) => sha256(concat(Uint8Array.of(0), leaf));
const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

// merkle.verify_inclusion: RFC 9162 section 2.1.3.2.
export function verifyInclusion(hash, index, size, proof, root) {
  if (!(index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = hash;
  for (const p of proof) {
    if (p.length !== 32 || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn !== 0 && fn % 2 === 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
  if (!response.ok) refuse(`${path}: ${response.status}`);
  return response.json();
}

// LogView.event: entry `index`, proven by an inclusion proof in the latest signed checkpoint.
async function provenLogEvent(index, what) {
  const { verifier_key: verifierKey } = await getJson("/api/v1/log/key");
  const noteResponse = await fetch("/api/v1/log/checkpoint", { cache: "no-store" });
  const checkpoint = await latestCheckpoint(verifierKey, await noteResponse.text());
  if (!isInt(index) || index < 0 || index >= checkpoint.size)
    refuse(`${what}: no log entry (index ${index}, log size ${checkpoint.size}); refusing`);
  const page = await getJson(`/api/v1/log/entries?start=${index}&end=${index + 1}`);
  const entry = page && Array.isArray(page.entries) ? page.entries[0] : null;
  if (!entry) refuse(`${what}: entry ${index} is missing; refusing`);
  const leaf = b64uDecode(entry.body);
  const proof = await getJson(`/api/v1/log/proof/inclusion?index=${index}&size=${checkpoint.size}`);
  if (
    !Array.isArray(proof.proof) ||
    !verifyInclusion(
      leafHash(leaf),
      index,
      checkpoint.size,
      proof.proof.map((h) => b64uDecode(h, 32)),
      checkpoint.root,
    )
  ) {
    refuse(`${what}: entry ${index} is not proven in the transparency log; refusing`);
  }
  const event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
  if (!isContext(event) || !isContext(event.data))
    refuse(`${what}: entry ${index} is not a log event; refusing`);
  return event;
}

// The logged OPRF key (client.oprf_audit.key_from_event) from the proven entry the server names.
async function loggedOprfKey(logIndex, keyId) {
  const event = await provenLogEvent(logIndex, "the OPRF key");
  if (event.kind !== "oprf.key_activated" || event.data.key_id !== keyId) {
    refuse("the OPRF key the server names is not one the transparency log activated; refusing");
  }
  const shares = new Map();
  for (const [i, v] of Object.entries(event.data.public_shares || {}))
    shares.set(Number(i), decodeElement(b64uDecode(v, 32)));
  if (!isInt(event.data.threshold) || event.data.threshold < 1)
    refuse("the log's oprf.key_activated record is malformed");
  return { threshold: event.data.threshold, shares };
}

async function oprfOutputs(pair, pkg, identityKeys) {
  const blinds = identityKeys.map((x) => blindIdentityKey(x));
  const blinded = blinds.map((b) => b.blinded);
  const signature = await signRole(pair, "oprf-check", oprfCheckDigest(pkg.digest, blinded));
  const answer = await post(`/api/v1/disclosures/${pkg.requestId}/oprf-check`, {
    blinded: blinded.map(b64u),
    signature,
  });
  if (!isContext(answer) || !Array.isArray(answer.answers))
    refuse("the server's OPRF answer is malformed; refusing");
  const logged = await loggedOprfKey(answer.log_index, answer.key_id);
  try {
    return finalizeThreshold(
      identityKeys,
      blinds.map((b) => b.blind),
      blinded,
      logged.shares,
      answer.answers,
      logged.threshold,
    );
  } catch (e) {
    refuse(`an OPRF node's answer does not verify against its logged key (${e.message}); refusing`);
  }
}

// open_request: one {label, verdict, identity, reason} per pseudonym in scope.
export async function openRequest(pair, username, requestId, digestB64u) {
  const signedDigest = b64uDecode(digestB64u, 32);
  const data = await post(`/api/v1/disclosures/${requestId}/reveal`, {
    signature: await signRole(pair, "reveal", signedDigest),
  });
  const pkg = await readPackage(data, pair, username, requestId, signedDigest);
  const opened = pkg.envelopes.map((envelope, j) => {
    try {
      return openBlinded(pkg.key, envelope, pkg.digest, pkg.partials[j], pkg.blinds[j]);
    } catch (e) {
      if (e.message.startsWith("the partial decryption")) return e.message;
      return `the envelope did not open (${e.message}): it was forged or altered`;
    }
  });
  const records = new Map();
  opened.forEach((candidate, j) => {
    if (typeof candidate === "string") return;
    try {
      records.set(j, parseRecord(candidate.identity));
    } catch {
      opened[j] = "the envelope holds no identity record";
    }
  });
  const positions = [...records.keys()].sort((a, b) => a - b);
  const outputs = positions.length
    ? await oprfOutputs(
        pair,
        pkg,
        positions.map((j) => recordIdentityKey(records.get(j))),
      )
    : [];
  const derived = new Map(positions.map((j, n) => [j, personKeys(outputs[n])]));
  return pkg.body.scope.map((item, j) => {
    const itemLabel = `${item.platform} / ${item.pseudonym}`;
    if (typeof opened[j] === "string")
      return { label: itemLabel, verdict: "substituted", identity: null, reason: opened[j] };
    const reason = verdict(item, opened[j], derived.get(j));
    if (reason) return { label: itemLabel, verdict: "substituted", identity: null, reason };
    return { label: itemLabel, verdict: "verified", identity: records.get(j), reason: "" };
  });
}

// ---- the page ------------------------------------------------------------------------------------

function show(results, out) {
  out.replaceChildren();
  for (const r of results) {
    const section = document.createElement("section");
    section.dataset.verdict = r.verdict;
    const heading = document.createElement("h3");
    heading.textContent = r.label;
    section.append(heading);
    if (r.verdict === "verified") {
      const note = document.createElement("p");
      note.textContent =
        "Verified: the OPRF nodes' answers (checked against the logged key) show this is the person behind the pseudonym.";
      const list = document.createElement("dl");
      for (const [name, value] of Object.entries(r.identity)) {
        const dt = document.createElement("dt");
        dt.textContent = name;
        const dd = document.createElement("dd");
        dd.textContent = value;
        list.append(dt, dd);
      }
      section.append(note, list);
    } else {
      const note = document.createElement("p");
      note.textContent = `Not shown: ${r.reason}.`;
      section.append(note);
    }
    out.append(section);
  }
}

async function setUp(section) {
  const { username, requestId, digest, registeredKey } = section.dataset;
  const pair = await loadPair(username);
  if (!pair) return; // this officer opens with a key file: the section stays hidden
  section.hidden = false;
  const status = section.querySelector("[data-browser-reveal-status]");
  const out = section.querySelector("[data-browser-reveal-result]");
  const button = section.querySelector("button");
  if ((await publicKeyOf(pair)) !== registeredKey) {
    status.textContent =
      "The key in this browser is not the one registered for you; open the request with your key file.";
    button.disabled = true;
    return;
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    out.replaceChildren();
    status.textContent = "Opening…";
    try {
      const results = await openRequest(pair, username, Number(requestId), digest);
      show(results, out);
      const shown = results.filter((r) => r.verdict === "verified").length;
      status.textContent = `Opened in this browser: ${shown} of ${results.length} identit${results.length === 1 ? "y" : "ies"} verified.`;
    } catch (e) {
      const why = e instanceof RevealError ? e.message : `the reveal failed (${e && e.message})`;
      status.textContent = `Refused: ${why}. No identity is shown.`;
    }
    button.disabled = false;
  });
}

async function main() {
  const section = document.querySelector("[data-browser-reveal]");
  if (!section || !(await ed25519Available())) return;
  await setUp(section);
}

main();
