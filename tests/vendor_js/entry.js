// The one module escrow/static/vendor/noble.js is built from (tests/vendor_js/build.sh): exactly the
// primitives escrow/static/officer-reveal.js needs, from the pinned @noble packages.
export { ed25519, ristretto255, ristretto255_oprf } from "@noble/curves/ed25519.js";
export { sha256, sha512 } from "@noble/hashes/sha2.js";
export { hmac } from "@noble/hashes/hmac.js";
export { hkdf } from "@noble/hashes/hkdf.js";
export { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
