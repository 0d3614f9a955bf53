"""Builds the known-answer vectors in crypto-v2.json from a seeded run.

Run `python -m tests.vectors.generate` to rewrite the file; tests/crypto/test_vectors.py fails when the
code no longer reproduces it byte for byte. A second implementation can check itself against the file:
every value in it is defined in docs/protocol.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.pwhash

from escrow.crypto.dkg import CeremonyParameters, combine_ceremony, deal, finalise_ceremony
from escrow.crypto.group import L, Point, Scalar
from escrow.crypto.holderfile import HolderSecrets, ShareRecord, encrypt_holder_file
from escrow.crypto.seal import SealKey, partial_decrypt, reseal, seal_identity
from escrow.crypto.transcript import Transcript, b64u_encode
from escrow.crypto.vss import lagrange_at_zero
from tests.crypto.support import SeededRandom

PATH = Path(__file__).with_name("crypto-v2.json")
SEED = b"escrow crypto vectors v1"


def build_vectors() -> dict[str, Any]:
    """Returns every vector, recomputed from SEED."""
    rand = SeededRandom(SEED)
    group = {
        "base_times": {
            str(k): bytes(Point.base_times(Scalar.from_int(k))).hex() for k in (1, 2, 3, 2**200 + 7, L - 1)
        },
        "transcript_challenge": bytes(
            Transcript(b"escrow/vectors").append(b"a", b"hello").append_int(b"n", 42).challenge()
        ).hex(),
        "lagrange_1_3_5": {str(i): bytes(s).hex() for i, s in lagrange_at_zero((1, 3, 5)).items()},
    }

    params = CeremonyParameters.fresh(3, 5, b"vector ceremony")
    dealings = {i: deal(params, i, rand=rand) for i in params.participants}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    key = combine_ceremony(params, broadcasts)
    shares = {
        j: finalise_ceremony(params, j, broadcasts, {i: d.shares[j] for i, d in dealings.items()})[0]
        for j in params.participants
    }
    ceremony = {
        "threshold": params.threshold,
        "participants": list(params.participants),
        "context": params.context.decode(),
        "broadcasts": [broadcasts[i].to_dict() for i in sorted(broadcasts)],
        "shares": {str(j): b64u_encode(bytes(s.value)) for j, s in shares.items()},
        "key": key.to_dict(),
    }

    identity = b'{"birthdate":"1906-12-09","name":"Grace Hopper"}'
    seal_key_material = rand(64)
    seal_key = SealKey(seal_key_material)
    identity_seal = seal_identity(seal_key, identity, {"kind": "identity", "provider": "vector"}, rand=rand)
    envelope = reseal(
        key,
        seal_key,
        identity_seal,
        {"platform": "forum.example", "pseudonym": "vectorpseudonym", "envelope_id": "env-1"},
        rand=rand,
    )
    request_digest = bytes(range(32))
    blinding = Scalar.reduce(rand(64))
    partials = [
        partial_decrypt(shares[j], envelope, request_digest, blind=Point.base_times(blinding), rand=rand)
        for j in (1, 3, 4)
    ]
    sealing = {
        "identity": identity.decode(),
        "seal_key_material": seal_key_material.hex(),
        "blinding_scalar": bytes(blinding).hex(),
        "identity_seal": identity_seal.to_dict(),
        "envelope": envelope.to_dict(),
        "envelope_digest": envelope.digest().hex(),
        "request_digest": request_digest.hex(),
        "partials": [p.to_dict() for p in partials],
    }

    holder = HolderSecrets(
        name="holder-1",
        signing_seed=rand(32),
        exchange_secret=rand(32),
        shares=(ShareRecord(key, shares[1]),),
    )
    holder_file = encrypt_holder_file(
        holder,
        "vector passphrase",
        opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        rand=rand,
    )
    return {
        "seed": SEED.decode(),
        "group": group,
        "ceremony": ceremony,
        "sealing": sealing,
        "holder_file": {"passphrase": "vector passphrase", "file": holder_file.decode()},
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    PATH.write_text(render(build_vectors()))
    print(f"wrote {PATH}")
