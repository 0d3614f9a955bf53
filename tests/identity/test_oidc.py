"""The OIDC client against the development identity provider, reached only through OIDC."""

from __future__ import annotations

import json
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from werkzeug.test import Client

from escrow.errors import IdentityProofError
from escrow.identity.base import LoginStart
from escrow.identity.devidp import DEV_LABEL, DevIdentityProvider, DevUser
from escrow.identity.oidc import OidcProvider
from escrow.identity.transport import WsgiHttp
from tests.credentials_support import CLIENT_ID, IDP_ISSUER, make_oidc

ADA = DevUser("ada", "Ada Example", "1990-02-03")


def _log_in(
    idp: DevIdentityProvider, provider: OidcProvider, user: DevUser = ADA
) -> tuple[str, str, LoginStart]:
    idp.add_user(user)
    request = provider.begin()
    form = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
    form["username"] = user.username
    back = Client(idp.wsgi_app).post("/authorize", data=form)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back.headers["Location"]).query))
    return query["code"], query["state"], request


def _finish(provider: OidcProvider, code: str, state: str, request: LoginStart) -> Any:
    return provider.finish(kept=request.kept, callback={"code": code, "state": state}, now=datetime.now(UTC))


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": IDP_ISSUER,
        "sub": "subject-1",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "name": "Ada Example",
        "birthdate": "1990-02-03",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_code_flow_returns_the_verified_attributes(dev_idp: DevIdentityProvider) -> None:
    provider = make_oidc(dev_idp)
    code, state, request = _log_in(dev_idp, provider)

    identity = _finish(provider, code, state, request)

    assert (identity.issuer, identity.name, identity.birthdate) == (IDP_ISSUER, "Ada Example", "1990-02-03")
    assert identity.subject.startswith("dev-")
    assert identity.assurance == "substantial"
    assert "Ada" not in repr(identity)


def test_same_person_gets_the_same_identity_key_on_every_login(dev_idp: DevIdentityProvider) -> None:
    provider = make_oidc(dev_idp)
    keys = set()
    for _ in range(2):
        code, state, request = _log_in(dev_idp, provider)
        keys.add(_finish(provider, code, state, request).identity_key)

    assert len(keys) == 1


def test_a_code_is_single_use(dev_idp: DevIdentityProvider) -> None:
    provider = make_oidc(dev_idp)
    code, state, request = _log_in(dev_idp, provider)
    _finish(provider, code, state, request)

    with pytest.raises(IdentityProofError):
        _finish(provider, code, state, request)


def test_state_of_another_login_attempt_is_refused(dev_idp: DevIdentityProvider) -> None:
    provider = make_oidc(dev_idp)
    code, _, request = _log_in(dev_idp, provider)

    with pytest.raises(IdentityProofError, match="login attempt"):
        _finish(provider, code, "forged", request)


def test_pkce_verifier_must_match(dev_idp: DevIdentityProvider) -> None:
    provider = make_oidc(dev_idp)
    code, state, request = _log_in(dev_idp, provider)
    stolen = LoginStart(request.url, {**request.kept, "code_verifier": "another-verifier"})

    with pytest.raises(IdentityProofError, match="refused"):
        _finish(provider, code, state, stolen)


def test_valid_id_token_verifies(dev_idp: DevIdentityProvider) -> None:
    provider = make_oidc(dev_idp)

    identity = provider.verify_id_token(dev_idp.sign_id_token(_claims()), nonce="n-1", now=datetime.now(UTC))

    assert identity.subject == "subject-1"


@pytest.mark.parametrize(
    ("overrides", "nonce", "message"),
    [
        ({"nonce": "other"}, "n-1", "nonce"),
        ({"aud": "someone-else"}, "n-1", "did not verify"),
        ({"iss": "http://evil.test"}, "n-1", "did not verify"),
        ({"exp": int(time.time()) - 3600}, "n-1", "expired"),
        ({"iat": int(time.time()) + 3600}, "n-1", "not issued just now"),
        ({"iat": int(time.time()) - 3600}, "n-1", "not issued just now"),
        ({"nbf": int(time.time()) + 3600}, "n-1", "not valid yet"),
        ({"nonce": None}, "n-1", "did not verify"),
        ({"exp": None}, "n-1", "did not verify"),
        ({"name": None}, "n-1", "name"),
        ({"birthdate": "yesterday"}, "n-1", "birthdate"),
    ],
)
def test_id_token_checks_refuse_bad_tokens(
    dev_idp: DevIdentityProvider, overrides: dict[str, Any], nonce: str, message: str
) -> None:
    provider = make_oidc(dev_idp)

    with pytest.raises(IdentityProofError, match=message):
        provider.verify_id_token(
            dev_idp.sign_id_token(_claims(**overrides)), nonce=nonce, now=datetime.now(UTC)
        )


def test_alg_none_id_token_is_refused(dev_idp: DevIdentityProvider) -> None:
    token = jwt.encode(_claims(), key=None, algorithm="none")

    with pytest.raises(IdentityProofError, match="algorithm"):
        make_oidc(dev_idp).verify_id_token(token, nonce="n-1", now=datetime.now(UTC))


def test_hs256_id_token_keyed_with_the_public_key_is_refused(dev_idp: DevIdentityProvider) -> None:
    public = dev_idp.wsgi_app.test_client().get("/jwks").get_json()["keys"][0]
    token = jwt.encode(_claims(), public["x"], algorithm="HS256", headers={"kid": public["kid"]})

    with pytest.raises(IdentityProofError, match="algorithm"):
        make_oidc(dev_idp).verify_id_token(token, nonce="n-1", now=datetime.now(UTC))


def test_tampered_id_token_is_refused(dev_idp: DevIdentityProvider) -> None:
    header, _, signature = dev_idp.sign_id_token(_claims()).split(".")
    forged = jwt.utils.base64url_encode(json.dumps(_claims(sub="victim")).encode()).decode()

    with pytest.raises(IdentityProofError, match="did not verify"):
        make_oidc(dev_idp).verify_id_token(
            f"{header}.{forged}.{signature}", nonce="n-1", now=datetime.now(UTC)
        )


def test_key_rotation_at_the_provider_is_followed_by_one_jwks_refetch(dev_idp: DevIdentityProvider) -> None:
    clock = [0.0]
    provider = OidcProvider(
        provider_id="test-idp",
        label="Test",
        issuer=IDP_ISSUER,
        client_id=CLIENT_ID,
        client_secret="x",
        redirect_uri="http://escrow.test/cb",
        http=WsgiHttp({IDP_ISSUER: dev_idp.wsgi_app}),
        clock=lambda: clock[0],
    )
    provider.verify_id_token(dev_idp.sign_id_token(_claims()), nonce="n-1", now=datetime.now(UTC))
    dev_idp.rotate_key()
    clock[0] += 60

    identity = provider.verify_id_token(dev_idp.sign_id_token(_claims()), nonce="n-1", now=datetime.now(UTC))

    assert identity.subject == "subject-1"


def test_unknown_kid_is_refused(dev_idp: DevIdentityProvider) -> None:
    token = dev_idp.sign_id_token(_claims(), headers={"kid": "nope"})

    with pytest.raises(IdentityProofError, match="key"):
        make_oidc(dev_idp).verify_id_token(token, nonce="n-1", now=datetime.now(UTC))


def test_discovery_naming_another_issuer_is_refused(dev_idp: DevIdentityProvider) -> None:
    provider = OidcProvider(
        provider_id="test-idp",
        label="Test",
        issuer="http://other.test",
        client_id=CLIENT_ID,
        client_secret="x",
        redirect_uri="http://escrow.test/cb",
        http=WsgiHttp({"http://other.test": dev_idp.wsgi_app}),
    )

    with pytest.raises(IdentityProofError, match="another issuer"):
        provider.begin()


def test_unreachable_provider_is_an_identity_proof_error() -> None:
    provider = OidcProvider(
        provider_id="test-idp",
        label="Test",
        issuer="http://nowhere.test",
        client_id=CLIENT_ID,
        client_secret="x",
        redirect_uri="http://escrow.test/cb",
        http=WsgiHttp({}),
    )

    with pytest.raises(IdentityProofError, match="reached"):
        provider.begin()


def test_dev_idp_labels_every_answer_as_development_only(dev_idp: DevIdentityProvider) -> None:
    client = dev_idp.wsgi_app.test_client()

    discovery = client.get("/.well-known/openid-configuration")

    assert discovery.headers["X-Development-Only"] == DEV_LABEL
    assert discovery.get_json()["service_documentation"] == DEV_LABEL


def test_dev_idp_refuses_unregistered_redirect_uri(dev_idp: DevIdentityProvider) -> None:
    query = urllib.parse.urlencode(
        {"client_id": CLIENT_ID, "redirect_uri": "https://evil.test/cb", "response_type": "code"}
    )

    assert dev_idp.wsgi_app.test_client().get(f"/authorize?{query}").status_code == 400


def test_expired_clock_skew_is_measured_against_the_given_now(dev_idp: DevIdentityProvider) -> None:
    token = dev_idp.sign_id_token(_claims())

    with pytest.raises(IdentityProofError, match="expired"):
        make_oidc(dev_idp).verify_id_token(token, nonce="n-1", now=datetime.now(UTC) + timedelta(hours=1))


def test_an_escrow_credential_offered_as_an_id_token_is_refused_by_its_typ(
    dev_idp: DevIdentityProvider,
) -> None:
    # Issue 16 (RFC 8725 section 3.11): a signed token of the right key and claims whose typ says it
    # is a credential is no ID token.
    token = dev_idp.sign_id_token(_claims(), headers={"typ": "escrow-credential+jwt"})

    with pytest.raises(IdentityProofError, match="typ"):
        make_oidc(dev_idp).verify_id_token(token, nonce="n-1", now=datetime.now(UTC))
