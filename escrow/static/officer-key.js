// A legal officer's disclosure signing key held by this browser (issue 6), as an alternative to the
// key file of `escrow officer init`. WebCrypto Ed25519: the private key is generated NON-EXTRACTABLE
// and kept in this browser's IndexedDB, so neither the page, nor the server, nor this script can read
// it out; it can only be asked to sign. What it signs is exactly what the command-line tool signs:
//   "escrow/v1/disclosure/" || role || 0x00 || request digest (32 bytes)   (escrow/crypto/disclosure.py)
// Pages work without this script: it only reveals the buttons when WebCrypto Ed25519 is available (and,
// on a request page, when this browser holds the officer's key).

const DB_NAME = "escrow-officer-keys";
const STORE = "keys";
const ED25519 = { name: "Ed25519" };

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

const loadPair = (username) => withStore("readonly", (s) => s.get(storageKey(location.origin, username)));
const savePair = (username, pair) => withStore("readwrite", (s) => s.put(pair, storageKey(location.origin, username)));

function b64u(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64u(text) {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(standard), (c) => c.charCodeAt(0));
}

async function ed25519Available() {
  try {
    await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}

async function publicKeyOf(pair) {
  return b64u(await crypto.subtle.exportKey("raw", pair.publicKey));
}

function officerMessage(role, digestB64u) {
  const digest = fromB64u(digestB64u);
  if (digest.length !== 32) throw new Error("a request digest is 32 bytes");
  const prefix = new TextEncoder().encode(`escrow/v1/disclosure/${role}`);
  const message = new Uint8Array(prefix.length + 1 + digest.length);
  message.set(prefix, 0);
  message[prefix.length] = 0;
  message.set(digest, prefix.length + 1);
  return message;
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
  const { username, role, requestId, digest, registeredKey } = section.dataset;
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
    const signature = await crypto.subtle.sign(ED25519, pair.privateKey, officerMessage(role, digest));
    const body = { signature: b64u(signature) };
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
