"""A relying party built with Authlib's Flask client signs in with escrow over loopback HTTP (issue 7).

The provider is the real app on a loopback server (the ``live_server`` fixture); the relying party
is a separate Flask app whose only OIDC code is Authlib's client, configured from discovery; the
browser is a ``requests`` session that logs in and consents.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, url_for

from tests.oidc_support import (
    RP_CALLBACK,
    Person,
    add_client,
    consent_action,
    csrf_token_in,
    log_in_over_http,
    register_person,
)

# joserfc (under Authlib's client) warns on EdDSA (RFC 9864) yet verifies it (NOTES.md).
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def _relying_party(issuer: str, client_id: str, client_secret: str | None) -> Flask:
    """A platform's web app: stock Authlib Flask client, configured from discovery (no secret: a
    public client, authenticating at the token endpoint with PKCE only)."""
    rp = Flask("relying_party")
    rp.config["SECRET_KEY"] = "relying-party-test-secret"
    oauth = OAuth(rp)
    client_kwargs = {"scope": "openid", "code_challenge_method": "S256"}
    if client_secret is None:
        client_kwargs["token_endpoint_auth_method"] = "none"
    oauth.register(
        "escrow",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=issuer + "/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )

    @rp.get("/login")
    def login() -> Any:
        return oauth.escrow.authorize_redirect(url_for("callback", _external=True))

    @rp.get("/callback")
    def callback() -> Any:
        token = oauth.escrow.authorize_access_token()
        return jsonify({"claims": dict(token["userinfo"]), "id_token": token["id_token"]})

    return rp


def _browser(base: str, person: Person) -> requests.Session:
    browser = requests.Session()
    log_in_over_http(browser, base, person)
    return browser


def _sign_in(rp: Flask, browser: requests.Session, base: str) -> dict[str, Any]:
    """Runs the whole flow: RP -> escrow (consent if asked) -> RP callback. Returns the RP's JSON."""
    rp_client = rp.test_client()
    start = rp_client.get("/login")
    assert start.status_code == 302
    page = browser.get(start.headers["Location"], allow_redirects=False)
    if page.status_code == 200:  # the consent screen
        assert "verified unique person" in page.text
        page = browser.post(
            base + consent_action(page.text),
            data={"csrf_token": csrf_token_in(page.text), "allow": "Allow"},
            allow_redirects=False,
        )
    assert page.status_code == 302, page.text
    back = urllib.parse.urlsplit(page.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == RP_CALLBACK
    done = rp_client.get(f"{back.path}?{back.query}")
    assert done.status_code == 200, done.get_data(as_text=True)
    return done.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def provider(live_oidc_provider: Any) -> tuple[str, Flask, Callable[..., Any]]:
    base, app, _clock, session = live_oidc_provider

    def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(session, app, *args, **kwargs)

    return base, app, run


def test_stock_oidc_client_signs_in_and_receives_the_pseudonym_only(provider: Any) -> None:
    # Given a registered person and a platform registered as a confidential client
    base, _app, run = provider
    person = run(register_person)
    secret = run(add_client, "forum")
    rp = _relying_party(base, "forum", secret)

    # When the person signs in through the platform's stock OIDC client
    claims = _sign_in(rp, _browser(base, person), base)["claims"]

    # Then the platform gets the pairwise pseudonym, assurance and envelope digest, nothing else
    assert claims["iss"] == base
    assert claims["aud"] == "forum"
    assert len(claims["sub"]) == 26
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"
    # (and the sid of this escrow session for this platform alone, for back-channel logout: issue 19)
    assert set(claims) == {
        "iss", "sub", "aud", "exp", "iat", "nonce", "acr", "at_hash", "envelope_digest",
        "verified_unique", "sid",
    }  # fmt: skip


def test_public_client_signs_in_with_pkce_and_no_secret(provider: Any) -> None:
    base, _app, run = provider
    person = run(register_person)
    assert run(add_client, "app", confidential=False) is None
    rp = _relying_party(base, "app", None)

    claims = _sign_in(rp, _browser(base, person), base)["claims"]

    assert claims["aud"] == "app"
    assert claims["verified_unique"] is True


def test_same_person_gets_the_same_sub_twice_and_consent_is_remembered(provider: Any) -> None:
    base, _app, run = provider
    person = run(register_person)
    rp = _relying_party(base, "forum", run(add_client, "forum"))
    browser = _browser(base, person)

    first = _sign_in(rp, browser, base)["claims"]
    # The second time there is no consent screen: _sign_in accepts a direct redirect.
    second_start = rp.test_client().get("/login")
    assert browser.get(second_start.headers["Location"], allow_redirects=False).status_code == 302
    second = _sign_in(rp, browser, base)["claims"]

    assert first["sub"] == second["sub"]
    assert first["envelope_digest"] != second["envelope_digest"]  # a fresh envelope per sign-in


def test_two_platforms_get_different_subs(provider: Any) -> None:
    base, _app, run = provider
    person = run(register_person)
    forum = _relying_party(base, "forum", run(add_client, "forum"))
    market = _relying_party(base, "market", run(add_client, "market"))
    browser = _browser(base, person)

    assert _sign_in(forum, browser, base)["claims"]["sub"] != _sign_in(market, browser, base)["claims"]["sub"]


@pytest.mark.parametrize("alg", ["EdDSA", "RS256"])
def test_id_token_verifies_with_pyjwt_against_the_published_jwks(provider: Any, alg: str) -> None:
    # Given a platform registered for `alg`
    base, _app, run = provider
    person = run(register_person)
    rp = _relying_party(base, "forum", run(add_client, "forum", alg=alg))

    # When it signs in
    id_token = _sign_in(rp, _browser(base, person), base)["id_token"]

    # Then PyJWT verifies the ID token with the key the JWKS publishes under its kid
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == alg
    key = jwt.PyJWKClient(base + "/.well-known/jwks.json").get_signing_key(header["kid"])
    claims = jwt.decode(id_token, key, algorithms=[alg], audience="forum", issuer=base)
    assert claims["verified_unique"] is True


def test_sign_in_leaves_no_identity_at_rest_in_logs_or_in_the_id_token(
    provider: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a person registered in person (name, birthdate and document number typed by an officer)
    from tests.test_privacy import _every_stored_byte

    base, app, run = provider
    person = run(register_person)
    rp = _relying_party(base, "forum", run(add_client, "forum"))

    # When they sign in to a platform with escrow
    with caplog.at_level("DEBUG"):
        result = _sign_in(rp, _browser(base, person), base)

    # Then neither the database, the log lines nor the ID token holds any of it, nor the client secret
    stored = _every_stored_byte(app)
    for secret in ("Olga Example", "1990-01-02", "P1234567"):
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert secret not in json.dumps(result["claims"])
    assert result["claims"]["sub"] not in caplog.text
    assert result["id_token"] not in caplog.text
