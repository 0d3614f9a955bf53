"""Benchmark of credentials (run by `make bench`; figures in docs/benchmarks.md#credentials).

1. Offline verification through the platform SDK (escrow.client.verifier) against raw PyNaCl
   Ed25519 verification of the same signing input and signature, same process.
   Reported: raw time / SDK time (target >= 0.8).
2. Issuance through the service layer (derive the pseudonym, reseal the identity, sign, store the
   credential and its transparency-log event, commit; no HTTP) against the crypto floor measured in
   the same run: one seal plus one signature. Reported: floor time / service time (target >= 0.5).
   The database is a migrated SQLite file in --db-dir (default: a temporary folder; pass a tmpfs
   such as /dev/shm to leave out the disk's fsync latency).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nacl.signing  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from escrow.client.verifier import CredentialVerifier, StaticKeys  # noqa: E402
from escrow.config import Settings  # noqa: E402
from escrow.crypto.seal import seal  # noqa: E402
from escrow.crypto.tokens import sign_token  # noqa: E402
from escrow.crypto.transcript import b64u_decode  # noqa: E402
from escrow.db import make_engine, upgrade_database  # noqa: E402
from escrow.identity.base import VerifiedIdentity  # noqa: E402
from escrow.keystore import load_keyring  # noqa: E402
from escrow.services.credentials import issue_credential  # noqa: E402
from escrow.services.oprf_keys import install_oprf_key  # noqa: E402
from escrow.services.platforms import register_platform  # noqa: E402
from escrow.services.registration import register_person  # noqa: E402
from escrow.services.signing_keys import published_jwks  # noqa: E402
from escrow.services.transparency import LogSigner  # noqa: E402
from tests.benchmarks.oprf_baseline import HmacBaselineOprf  # noqa: E402
from tests.benchmarks.timing import paired  # noqa: E402
from tests.credentials_support import install_key  # noqa: E402
from tests.crypto.support import run_dkg  # noqa: E402

ISSUER = "https://escrow.example"
IDENTITY = VerifiedIdentity("oidc", "https://idp.example", "subject-1", "Ada Example", "1990-01-01", "low")


def paired_median_us(
    first: Callable[[], object], second: Callable[[], object], rounds: int, batch: int
) -> tuple[float, float]:
    """Returns the median time (us) of each function, timed in alternating batches so that both
    see the same machine load (this machine is shared)."""
    a, b = paired(first, second, rounds, batch)
    return statistics.median(a), statistics.median(b)


def bench(repeat: int, db_dir: Path) -> list[tuple[str, float]]:
    keyring = load_keyring(Settings.for_tests("sqlite://", db_dir / "keys"))
    url = f"sqlite:///{db_dir / 'bench.sqlite3'}"
    upgrade_database(url)
    engine = make_engine(url)
    log = LogSigner("escrow.bench/log", nacl.signing.SigningKey(b"\x01" * 32))
    # Issuance does not evaluate the OPRF (the pseudonym secret comes from registration): the one
    # registration below uses the old scheme's in-process HMAC, so no nodes are needed here
    # (tests/benchmarks/oprf.py measures registration and issuance against real nodes).
    oprf = HmacBaselineOprf()
    oprf_key, _ = run_dkg(2, 3)
    now = datetime.now(UTC)
    with Session(engine) as session:
        key = install_key(session, log=log, now=now)
        install_oprf_key(session, oprf_key, log=log, now=now)
        session.commit()
        register_platform(
            session,
            platform_id="forum",
            name="Forum",
            contact="abuse@forum.example",
            redirect_uris=["https://forum.example/cb"],
            log=log,
            now=now,
        )
        person = register_person(session, identity=IDENTITY, oprf=oprf, log=log, now=now)

        def issue() -> object:
            return issue_credential(
                session,
                person_id=person.account.id,
                platform_id="forum",
                secret=person.secret,
                keyring=keyring,
                issuer=ISSUER,
                log=log,
                now=datetime.now(UTC),
            )

        issued = issue_credential(
            session,
            person_id=person.account.id,
            platform_id="forum",
            secret=person.secret,
            keyring=keyring,
            issuer=ISSUER,
            log=log,
            now=now,
        )
        jwks = published_jwks(session, now=now)
        seed = keyring.signing_seed(jwks["keys"][0]["kid"])
        identity_bytes = IDENTITY.to_sealed_bytes()
        claims = {"iss": ISSUER, "sub": issued.pseudonym, "aud": "forum", "iat": 1, "nbf": 1, "exp": 2}

        def floor() -> object:
            return seal(key, identity_bytes, {"platform": "forum"}), sign_token(seed, claims)

        floor_us, service_us = paired_median_us(floor, issue, repeat, 1)

    verifier = CredentialVerifier(issuer=ISSUER, platform_id="forum", keys=StaticKeys(jwks))
    token = issued.token
    header, payload, signature = token.split(".")
    signing_input = f"{header}.{payload}".encode()
    raw_signature = b64u_decode(signature)
    verify_key = nacl.signing.VerifyKey(b64u_decode(jwks["keys"][0]["x"]))
    raw_us, sdk_us = paired_median_us(
        lambda: verify_key.verify(signing_input, raw_signature),
        lambda: verifier.verify(token, now=now),
        repeat,
        20,
    )
    engine.dispose()
    return [
        ("raw PyNaCl Ed25519 verify (same bytes)", raw_us),
        ("SDK offline verification", sdk_us),
        ("crypto floor: one seal + one signature", floor_us),
        ("issuance through the service layer", service_us),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=300, help="samples per operation")
    parser.add_argument("--db-dir", type=Path, default=None, help="folder for the benchmark's SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        rows = dict(bench(args.repeat, Path(tmp)))
    for name, us in rows.items():
        print(f"{name:45s} {us:9.1f} us")
    verify_ratio = rows["raw PyNaCl Ed25519 verify (same bytes)"] / rows["SDK offline verification"]
    issue_ratio = rows["crypto floor: one seal + one signature"] / rows["issuance through the service layer"]
    print(f"{'SDK verification vs raw (target >= 0.8)':49s} {verify_ratio:5.2f}")
    print(f"{'service issuance vs crypto floor (target >= 0.5)':49s} {issue_ratio:5.2f}")


if __name__ == "__main__":
    main()
