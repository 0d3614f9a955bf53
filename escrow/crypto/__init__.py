"""Pure cryptography for escrow: no Flask, no database, no files, no environment.

Modules, bottom up:
  errors       the CryptoError family (no library exception escapes this package)
  group        Scalar and Point over the prime-order subgroup of Ed25519 (PyNaCl / libsodium)
  transcript   canonical JSON, base64url, domain-separated hashing and hash-to-scalar (Fiat-Shamir)
  proofs       Schnorr proof of knowledge; Chaum-Pedersen (DLEQ) proof of equal discrete logarithms
  vss          Feldman verifiable secret sharing and Lagrange interpolation at zero
  dkg          Pedersen dealerless key generation and resharing, as pure functions
  seal         identity seals, re-sealed per-pseudonym envelopes, partial decryption, combine and open
  holderfile   passphrase-protected key-holder files (Argon2id + XChaCha20-Poly1305)
  merkle       RFC 9162 Merkle tree hashing and proofs (transparency log)
  note         C2SP signed notes and checkpoints
"""
