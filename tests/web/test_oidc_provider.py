"""The OpenID Connect provider through the test client: each refusal as RFC 6749, RFC 7636 and
OIDC Core say (HTML page, redirect with ``error=``, or the token endpoint's JSON error), consent,
userinfo and discovery (issue 7)."""

from __future__ import annotations

import base64
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.httpkit import get_components
from escrow.models import LogCommitmentOpening, LogEntry, OidcCode
from tests.oidc_support import (
    PASSWORD,
    RP_CALLBACK,
    add_client,
    authorize_query,
    consent_action,
    csrf_token_in,
    log_in,
    pkce_pair,
    query_of,
    register_person,
    setup_provider,
)


@pytest.fixture
def setup(app: Flask) -> Session:
    session = get_components(app).session_factory()
    setup_provider(session, app)
    register_person(session, app)
    return session


@pytest.fixture
def secret(app: Flask, setup: Session) -> str:
    value = add_client(setup, app, "forum")
    assert value is not None
    return value


@pytest.fixture
def person(client: FlaskClient, setup: Session) -> FlaskClient:
    assert log_in(client).status_code == 302
    return client


def _authorize(client: FlaskClient, query: str, *, consent: bool = True) -> Any:
    """GETs the authorization endpoint and, if the consent screen shows, allows."""
    response = client.get(f"/oidc/authorize?{query}")
    if consent and response.status_code == 200:
        html = response.get_data(as_text=True)
        response = client.post(
            consent_action(html), data={"csrf_token": csrf_token_in(html), "allow": "Allow"}
        )
    return response


def _code(client: FlaskClient, client_id: str = "forum", **params: Any) -> tuple[str, dict[str, str]]:
    response = _authorize(client, authorize_query(client_id, **params))
    assert response.status_code == 302, response.get_data(as_text=True)
    back = query_of(response.headers["Location"])
    assert "code" in back, back
    return back["code"], back


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _token(client: FlaskClient, code: str, *, secret: str | None, **form: str) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CALLBACK, **form}
    headers = _basic("forum", secret) if secret is not None else {}
    return client.post("/api/v1/oidc/token", data=data, headers=headers)


# --- discovery ----------------------------------------------------------------------------------


def test_discovery_announces_pairwise_subjects_pkce_s256_and_both_algorithms(client: FlaskClient) -> None:
    document = client.get("/.well-known/openid-configuration").get_json()

    issuer = document["issuer"]
    assert document["authorization_endpoint"] == issuer + "/oidc/authorize"
    assert document["token_endpoint"] == issuer + "/api/v1/oidc/token"
    assert document["userinfo_endpoint"] == issuer + "/api/v1/oidc/userinfo"
    assert document["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert document["subject_types_supported"] == ["pairwise"]
    assert document["id_token_signing_alg_values_supported"] == ["EdDSA", "Ed25519", "RS256"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }


def test_jwks_publishes_the_rs256_key_once_a_platform_uses_it_and_its_file_is_private(
    app: Flask, client: FlaskClient, setup: Session
) -> None:
    assert [k for k in client.get("/.well-known/jwks.json").get_json()["keys"] if k["kty"] == "RSA"] == []
    add_client(setup, app, "forum", alg="RS256")

    keys = client.get("/.well-known/jwks.json").get_json()["keys"]

    rsa = [k for k in keys if k["kty"] == "RSA"]
    assert len(rsa) == 1
    assert rsa[0]["alg"] == "RS256"
    assert "d" not in rsa[0]
    path = get_components(app).settings.keys_dir / "oidc-rs256-signing-key"
    assert path.stat().st_mode & 0o777 == 0o600


# --- errors shown to the person, never redirected ------------------------------------------------


def test_unknown_client_is_an_html_page_not_a_redirect(person: FlaskClient, secret: str) -> None:
    response = person.get(f"/oidc/authorize?{authorize_query('nobody')}")

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def test_redirect_uri_that_does_not_match_exactly_is_not_followed(person: FlaskClient, secret: str) -> None:
    for wrong in (RP_CALLBACK + "/", RP_CALLBACK + "?x=1", "https://evil.example/callback", None):
        response = person.get(f"/oidc/authorize?{authorize_query('forum', redirect_uri=wrong)}")

        assert response.status_code == 400, wrong
        assert "Location" not in response.headers


# --- errors sent back to the platform (RFC 6749 section 4.1.2.1) --------------------------------


def test_person_who_denies_sends_access_denied_back_with_the_state(person: FlaskClient, secret: str) -> None:
    html = person.get(f"/oidc/authorize?{authorize_query('forum', state='s-123')}").get_data(as_text=True)
    assert "The Forum" in html
    assert "verified unique person" in html

    response = person.post(consent_action(html), data={"csrf_token": csrf_token_in(html), "deny": "Deny"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith(RP_CALLBACK + "?")
    assert query_of(response.headers["Location"]) == {
        "error": "access_denied",
        "state": "s-123",
        "iss": "http://escrow.test",  # RFC 9207: in error responses too
        **{k: v for k, v in query_of(response.headers["Location"]).items() if k == "error_description"},
    }


def test_consent_without_csrf_token_is_refused(person: FlaskClient, secret: str) -> None:
    html = person.get(f"/oidc/authorize?{authorize_query('forum')}").get_data(as_text=True)

    response = person.post(consent_action(html), data={"allow": "Allow"})

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_unsupported_response_type_goes_back_as_error(person: FlaskClient, secret: str) -> None:
    response = person.get(f"/oidc/authorize?{authorize_query('forum', response_type='token')}")

    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "unsupported_response_type"


def test_public_client_without_pkce_is_refused(app: Flask, person: FlaskClient, setup: Session) -> None:
    add_client(setup, app, "app", confidential=False)

    response = person.get(f"/oidc/authorize?{authorize_query('app')}")

    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_plain_pkce_method_is_refused(person: FlaskClient, secret: str) -> None:
    _, challenge = pkce_pair()
    query = authorize_query("forum", code_challenge=challenge, code_challenge_method="plain")

    response = person.get(f"/oidc/authorize?{query}")

    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_nonce_replay_is_refused(person: FlaskClient, secret: str) -> None:
    _code(person, nonce="same-nonce")

    response = _authorize(person, authorize_query("forum", nonce="same-nonce"))

    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    assert "code" not in query_of(response.headers["Location"])


def test_person_not_logged_in_logs_in_then_resumes_the_request(client: FlaskClient, secret: str) -> None:
    query = authorize_query("forum")
    first = client.get(f"/oidc/authorize?{query}")
    assert first.status_code == 302
    assert first.headers["Location"].endswith("/account/login")

    page = client.get("/account/login").get_data(as_text=True)
    login = client.post(
        "/account/login",
        data={
            "issuing_country": "BEL",
            "document_number": "P1234567",
            "password": PASSWORD,
            "csrf_token": csrf_token_in(page),
        },
    )

    assert login.headers["Location"] == f"/oidc/authorize?{query}"


def test_prompt_none_without_login_goes_back_as_login_required(client: FlaskClient, secret: str) -> None:
    response = client.get(f"/oidc/authorize?{authorize_query('forum', prompt='none')}")

    assert query_of(response.headers["Location"])["error"] == "login_required"


def test_prompt_none_without_consent_goes_back_as_consent_required(person: FlaskClient, secret: str) -> None:
    response = person.get(f"/oidc/authorize?{authorize_query('forum', prompt='none')}")

    assert query_of(response.headers["Location"])["error"] == "consent_required"


def test_request_without_openid_scope_goes_back_as_invalid_scope(person: FlaskClient, secret: str) -> None:
    response = person.get(f"/oidc/authorize?{authorize_query('forum', scope='profile')}")

    assert query_of(response.headers["Location"])["error"] == "invalid_scope"


# --- the token endpoint ---------------------------------------------------------------------------


def test_confidential_client_gets_tokens_with_basic_or_post_authentication(
    person: FlaskClient, secret: str
) -> None:
    code, _ = _code(person)
    basic = _token(person, code, secret=secret)
    code, _ = _code(person)
    post = _token(person, code, secret=None, client_id="forum", client_secret=secret)

    assert basic.status_code == 200, basic.get_json()
    assert post.status_code == 200, post.get_json()
    assert {"access_token", "id_token", "token_type", "expires_in"} <= set(basic.get_json())
    assert basic.headers["Cache-Control"] == "no-store"


def test_wrong_client_secret_is_invalid_client(person: FlaskClient, secret: str) -> None:
    code, _ = _code(person)

    response = _token(person, code, secret=secret[:-2] + "xx")

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_pkce_wrong_verifier_is_invalid_grant_and_missing_is_invalid_request(
    person: FlaskClient, secret: str
) -> None:
    verifier, challenge = pkce_pair()
    code, _ = _code(person, code_challenge=challenge, code_challenge_method="S256")

    wrong = _token(person, code, secret=secret, code_verifier=pkce_pair()[0])
    missing = _token(person, code, secret=secret)
    right = _token(person, code, secret=secret, code_verifier=verifier)

    assert (wrong.status_code, wrong.get_json()["error"]) == (400, "invalid_grant")
    assert (missing.status_code, missing.get_json()["error"]) == (400, "invalid_request")
    assert right.status_code == 200


def test_public_client_with_pkce_signs_in_without_a_secret(
    app: Flask, person: FlaskClient, setup: Session
) -> None:
    add_client(setup, app, "app", confidential=False)
    verifier, challenge = pkce_pair()
    code, _ = _code(person, "app", code_challenge=challenge, code_challenge_method="S256")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CALLBACK, "client_id": "app"}

    without = person.post("/api/v1/oidc/token", data=form)
    response = person.post("/api/v1/oidc/token", data={**form, "code_verifier": verifier})

    assert without.status_code == 400
    assert response.status_code == 200, response.get_json()


def test_wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant(person: FlaskClient, secret: str) -> None:
    code, _ = _code(person)

    response = _token(person, code, secret=secret, redirect_uri="http://localhost/other")

    assert response.get_json()["error"] == "invalid_grant"


def test_reused_code_is_refused_and_revokes_the_tokens_issued_from_it(
    person: FlaskClient, secret: str
) -> None:
    # Given a code exchanged once, whose access token reads userinfo
    code, _ = _code(person)
    first = _token(person, code, secret=secret).get_json()
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert person.get("/api/v1/oidc/userinfo", headers=bearer).status_code == 200

    # When the code is presented again
    again = _token(person, code, secret=secret)

    # Then it is refused and the first access token no longer works
    assert (again.status_code, again.get_json()["error"]) == (400, "invalid_grant")
    assert person.get("/api/v1/oidc/userinfo", headers=bearer).status_code == 401


def test_expired_code_is_invalid_grant(app: Flask, person: FlaskClient, secret: str, setup: Session) -> None:
    code, _ = _code(person)
    # Given the code's 60 s have passed
    setup.execute(update(OidcCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    setup.commit()

    response = _token(person, code, secret=secret)

    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_grant")


def test_codes_live_sixty_seconds(person: FlaskClient, secret: str, setup: Session) -> None:
    _code(person)

    row = setup.scalars(select(OidcCode)).one()

    assert row.expires_at - row.created_at == timedelta(seconds=60)


def test_garbage_at_the_token_endpoint_is_an_oauth_error_not_a_500(client: FlaskClient, secret: str) -> None:
    for data in ({}, {"grant_type": "password"}, {"grant_type": "authorization_code", "code": "x" * 5000}):
        response = client.post("/api/v1/oidc/token", data=data, headers=_basic("forum", secret))

        assert 400 <= response.status_code < 500
        assert "error" in response.get_json()


# --- userinfo, consent, privacy -------------------------------------------------------------------


def test_userinfo_returns_only_sub_and_verified_unique(person: FlaskClient, secret: str) -> None:
    code, _ = _code(person)
    token = _token(person, code, secret=secret).get_json()

    info = person.get("/api/v1/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})

    assert set(info.get_json()) == {"sub", "verified_unique"}
    assert info.get_json()["verified_unique"] is True


def test_userinfo_without_a_valid_token_is_401_with_www_authenticate(client: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = client.get("/api/v1/oidc/userinfo", headers=headers)

        assert response.status_code == 401
        assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


def test_consent_is_remembered_until_withdrawn(person: FlaskClient, secret: str) -> None:
    # Given consent once
    _code(person)
    assert person.get(f"/oidc/authorize?{authorize_query('forum')}").status_code == 302
    page = person.get("/account/connections").get_data(as_text=True)
    assert "The Forum" in page

    # When the person withdraws it
    withdrawn = person.post("/account/connections/forum/withdraw", data={"csrf_token": csrf_token_in(page)})

    # Then the platform must ask again
    assert withdrawn.status_code == 302
    assert person.get(f"/oidc/authorize?{authorize_query('forum')}").status_code == 200
    assert "The Forum" not in person.get("/account/connections").get_data(as_text=True)


def test_withdrawing_a_consent_that_does_not_exist_is_404(person: FlaskClient, secret: str) -> None:
    page = person.get("/account/connections").get_data(as_text=True)

    response = person.post("/account/connections/forum/withdraw", data={"csrf_token": csrf_token_in(page)})

    assert response.status_code == 404


def test_log_records_consent_and_signin_with_the_pseudonym_only_committed(
    person: FlaskClient, secret: str, setup: Session
) -> None:
    code, _ = _code(person)
    sub = _token_claims(person, code, secret)["sub"]
    get_components(person.application).sequence_now()  # what the requests' own rounds left, if anything

    kinds = [e.kind for e in setup.scalars(select(LogEntry).order_by(LogEntry.idx))]
    bodies = b"".join(e.body for e in setup.scalars(select(LogEntry)))
    assert "oidc.consent_granted" in kinds
    assert "oidc.signin" in kinds
    assert sub.encode() not in bodies
    assert sub in {o.value for o in setup.scalars(select(LogCommitmentOpening))}


def _token_claims(client: FlaskClient, code: str, secret: str) -> dict[str, Any]:
    import jwt

    id_token = _token(client, code, secret=secret).get_json()["id_token"]
    return jwt.decode(id_token, options={"verify_signature": False})  # type: ignore[no-any-return]


def test_id_token_carries_nonce_acr_uri_and_envelope_digest_but_no_auth_time_unasked(
    person: FlaskClient, secret: str
) -> None:
    code, _ = _code(person, nonce="n-42")

    claims = _token_claims(person, code, secret)

    assert claims["nonce"] == "n-42"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"
    assert "auth_time" not in claims  # issue 19: only when max_age or prompt=login asks for it
    assert claims["exp"] - claims["iat"] == 600
    assert len(claims["envelope_digest"]) == 43
