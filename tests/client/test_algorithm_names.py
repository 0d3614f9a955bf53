"""RFC 9864 (issue 19): ``Ed25519`` is the fully-specified name of what RFC 8037 calls ``EdDSA`` on
this curve. A JWS names one algorithm, and verifiers pin one name: PyJWT 2.15 knows only EdDSA, and
a verifier pinning Ed25519 refuses EdDSA. So tokens say EdDSA unless the platform chose Ed25519, the
JWKS keys carry no ``alg`` (jose and joserfc select keys by it), and every verifier here accepts its
own name against the same live JWKS."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from escrow.client.verifier import JWKS_PATH, CredentialVerifier, RemoteJwks
from escrow.crypto.tokens import TokenAlgorithmError, public_key_of, sign_token, verify_token
from escrow.crypto.transcript import b64u_decode
from escrow.httpkit import get_components
from escrow.identity.base import VerifiedIdentity
from escrow.services.credentials import issue_credential
from escrow.services.oidc import set_id_token_algorithm
from escrow.services.registration import register_person
from tests.client.test_verifiers import PLATFORM, Issuer, issuer  # noqa: F401 - fixture
from tests.credentials_support import NOW


@pytest.fixture
def live(request: pytest.FixtureRequest) -> Issuer:
    """test_verifiers.py's live escrow with one platform and its credentials."""
    value: Issuer = request.getfixturevalue("issuer")
    return value


def _header(token: str) -> dict[str, Any]:
    return json.loads(b64u_decode(token.split(".")[0]))  # type: ignore[no-any-return]


def _ed25519_credential(live: Issuer, app: Flask) -> str:
    """A credential of a platform that chose RFC 9864's name."""
    extension = get_components(app)
    now = datetime.now(UTC)
    with extension.session_factory() as session:
        set_id_token_algorithm(
            session,
            platform_id=PLATFORM,
            alg="Ed25519",
            keyring=extension.keyring,
            log=extension.log,
            now=now,
        )
        identity = VerifiedIdentity("oidc", "https://idp.example", "s-2", "Ada Example", "1999-01-01", "low")
        person = register_person(session, identity=identity, oprf=extension.oprf, log=extension.log, now=now)
        return issue_credential(
            session,
            person_id=person.account.id,
            platform_id=PLATFORM,
            secret=person.secret,
            keyring=extension.keyring,
            issuer=extension.settings.issuer_url,
            log=extension.log,
            now=now,
        ).token


def _jwks(live: Issuer) -> dict[str, Any]:
    with urllib.request.urlopen(live.url + JWKS_PATH) as response:  # noqa: S310 - loopback
        return json.load(response)  # type: ignore[no-any-return]


def _joserfc(live: Issuer, token: str, algorithms: list[str]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns on the deprecated name EdDSA (RFC 9864)
        return dict(jose_jwt.decode(token, KeySet.import_key_set(_jwks(live)), algorithms=algorithms).claims)


def _node_jose(folder: Path, live: Issuer, token: str, algorithms: list[str] | None) -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [  # noqa: S607
            "node",
            str(folder / "jose_verify.mjs"),
            live.url + JWKS_PATH,
            token,
            "-" if algorithms is None else json.dumps(algorithms),
            live.issuer,
            PLATFORM,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_tokens_name_eddsa_by_default_and_the_jwks_names_no_algorithm(live: Issuer) -> None:
    assert _header(live.issued.token)["alg"] == "EdDSA"
    assert all("alg" not in key for key in _jwks(live)["keys"] if key["kty"] == "OKP")


def test_a_platform_that_chose_ed25519_gets_credentials_named_ed25519(
    live: Issuer, live_server: tuple[str, Flask]
) -> None:
    token = _ed25519_credential(live, live_server[1])

    assert _header(token)["alg"] == "Ed25519"
    # The SDK accepts either name (the same signature) and so does the online verify endpoint's check
    verifier = CredentialVerifier(
        issuer=live.issuer, platform_id=PLATFORM, keys=RemoteJwks(live.url + JWKS_PATH)
    )
    assert verifier.verify(token).platform_id == PLATFORM


def test_verifiers_pinning_ed25519_accept_an_ed25519_credential(
    live: Issuer, live_server: tuple[str, Flask], node_relying_parties: Path
) -> None:
    token = _ed25519_credential(live, live_server[1])

    assert _joserfc(live, token, ["Ed25519"])["aud"] == PLATFORM
    assert _node_jose(node_relying_parties, live, token, ["Ed25519"]) == {
        "alg": "Ed25519",
        "sub": json.loads(b64u_decode(token.split(".")[1]))["sub"],
    }


def test_eddsa_verifiers_keep_accepting_the_default_credential_against_the_same_jwks(
    live: Issuer, node_relying_parties: Path
) -> None:
    token = live.issued.token
    key = jwt.PyJWKClient(live.url + JWKS_PATH).get_signing_key_from_jwt(token)

    assert jwt.decode(token, key.key, algorithms=["EdDSA"], audience=PLATFORM, issuer=live.issuer)["sub"]
    assert _joserfc(live, token, ["EdDSA"])["aud"] == PLATFORM
    assert _node_jose(node_relying_parties, live, token, None)["alg"] == "EdDSA"
    assert _node_jose(node_relying_parties, live, token, ["EdDSA"])["alg"] == "EdDSA"


def test_a_pinned_name_still_refuses_the_other_name(live: Issuer, node_relying_parties: Path) -> None:
    # Pinning works as the verifier meant: a name it did not allow is refused, not silently mapped
    assert _node_jose(node_relying_parties, live, live.issued.token, ["Ed25519"]) == {
        "error": "ERR_JOSE_ALG_NOT_ALLOWED"
    }


def test_sign_token_names_only_the_two_names_of_ed25519() -> None:
    seed = bytes(range(32))
    for alg in ("EdDSA", "Ed25519"):
        token = sign_token(seed, {"iat": int(NOW.timestamp())}, alg=alg)
        public = public_key_of(seed)
        assert verify_token(token, lambda _kid, key=public: key).header["alg"] == alg
    with pytest.raises(TokenAlgorithmError):
        sign_token(seed, {}, alg="HS256")
