// A legal officer's disclosure signing key held by this browser (issue 6), as an alternative to the
// key file of `escrow officer init`. WebCrypto Ed25519: the private key is generated NON-EXTRACTABLE
// and kept in this browser's IndexedDB, so neither the page, nor the server, nor this script can read
// it out; it can only be asked to sign. What it signs is exactly what the command-line tool signs:
//   "escrow/v1/disclosure/" || role || 0x00 || request digest (32 bytes)   (escrow/crypto/disclosure.py)
// A submission also carries one blinding point per pseudonym in scope (issue 14), derived exactly as the
// command-line tool derives it (escrow/crypto/disclosure.py, blinding_point): sign
//   "escrow/v2/disclosure/blind" || 0x00 || body nonce || 0x00 || envelope digest
// take seed = SHA-256(signature), and B = the Ed25519 public key of that seed (WebCrypto computes it); the
// signed digest is then SHA-256 of the canonical JSON of the body with those points in.
// This key guards against a stolen database, not against a server that serves a hostile script: an
// officer who must not trust the server uses the command-line tool, which opens the reveal too.
// officer-reveal.js imports its key store and encodings (the in-page reveal, issue 14).
// Pages work without this script: it only reveals the buttons when WebCrypto Ed25519 is available (and,
// on a request page, when this browser holds the officer's key).

const DB_NAME = "escrow-officer-keys";
const STORE = "keys";
export const ED25519 = { name: "Ed25519" };

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = action(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

function storageKey(origin, username) {
  return `${origin} ${username}`;
}

export const loadPair = (username) => withStore("readonly", (s) => s.get(storageKey(location.origin, username)));
const savePair = (username, pair) => withStore("readwrite", (s) => s.put(pair, storageKey(location.origin, username)));

export function b64u(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromB64u(text) {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(standard), (c) => c.charCodeAt(0));
}

export async function ed25519Available() {
  try {
    await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}

export async function publicKeyOf(pair) {
  return b64u(await crypto.subtle.exportKey("raw", pair.publicKey));
}

export function officerMessage(role, digestB64u) {
  const digest = fromB64u(digestB64u);
  if (digest.length !== 32) throw new Error("a request digest is 32 bytes");
  const prefix = new TextEncoder().encode(`escrow/v1/disclosure/${role}`);
  const message = new Uint8Array(prefix.length + 1 + digest.length);
  message.set(prefix, 0);
  message[prefix.length] = 0;
  message.set(digest, prefix.length + 1);
  return message;
}

const PKCS8_ED25519 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// escrow.crypto.transcript.canonical_json: sorted keys, no spaces, UTF-8 (keys here are ASCII).
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

async function blindingPoint(pair, nonce, envelopeDigestB64u) {
  const prefix = new TextEncoder().encode(`escrow/v2/disclosure/blind\0${nonce}\0`);
  const message = concat(prefix, fromB64u(envelopeDigestB64u));
  const signature = new Uint8Array(await crypto.subtle.sign(ED25519, pair.privateKey, message));
  const seed = new Uint8Array(await crypto.subtle.digest("SHA-256", signature));
  const key = await crypto.subtle.importKey("pkcs8", concat(PKCS8_ED25519, seed), ED25519, true, ["sign"]);
  return (await crypto.subtle.exportKey("jwk", key)).x;
}

async function blindedBody(pair, body) {
  const blinding = [];
  for (const item of body.scope) blinding.push(await blindingPoint(pair, body.nonce, item.envelope_digest));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical({ ...body, blinding })));
  return { blinding, digest: b64u(digest) };
}

function say(section, text) {
  const out = section.querySelector("[data-browser-key-status]");
  out.textContent = text;
}

// /officer/key: make a key in this browser and register its public key through the usual form.
async function setUpRegistration(section) {
  const username = section.dataset.username;
  const existing = await loadPair(username);
  if (existing) {
    say(section, `This browser holds a signing key for ${username}: public key ${await publicKeyOf(existing)}.`);
  }
  section.querySelector("button").addEventListener("click", async () => {
    const pair = await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]);
    await savePair(username, pair);
    const form = document.getElementById(section.dataset.form);
    form.querySelector("[name=public_key]").value = await publicKeyOf(pair);
    form.requestSubmit();
  });
}

// /officer/disclosures/<id>: sign the request digest as submitter or co-signer with the browser key.
async function setUpSigning(section) {
  const { username, role, requestId, registeredKey } = section.dataset;
  let { digest } = section.dataset;
  const pair = await loadPair(username);
  const button = section.querySelector("button");
  if (!pair) return; // this officer signs with a key file: the section stays hidden
  section.hidden = false;
  if ((await publicKeyOf(pair)) !== registeredKey) {
    say(section, "The key in this browser is not the one registered for you; use your key file, or register this browser's key.");
    button.disabled = true;
    return;
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    const body = {};
    if (role === "submit") {
      const blinded = await blindedBody(pair, JSON.parse(section.dataset.body));
      body.blinding = blinded.blinding;
      digest = blinded.digest;
    }
    const signature = await crypto.subtle.sign(ED25519, pair.privateKey, officerMessage(role, digest));
    body.signature = b64u(signature);
    if (role === "cosign") body.username = username;
    const response = await fetch(`/api/v1/disclosures/${requestId}/${role}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (response.ok) {
      location.reload();
      return;
    }
    const problem = await response.json().catch(() => ({}));
    say(section, `Refused: ${problem.detail || response.status}`);
    button.disabled = false;
  });
}

async function main() {
  const sections = document.querySelectorAll("[data-browser-key]");
  if (sections.length === 0 || !(await ed25519Available())) return;
  for (const section of sections) {
    if (section.dataset.browserKey === "register") {
      section.hidden = false;
      await setUpRegistration(section);
    } else {
      await setUpSigning(section);
    }
  }
}

main();
