"""Persons over HTTP: register and log in through the identity provider, ask for credentials,
list and revoke them; platforms verify; bad input always gets a 4xx problem, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.identity.devidp import DevIdentityProvider, DevUser
from tests.credentials_support import add_api_key, add_platform, sign_in

GUS = DevUser("gus", "Gus Example", "1960-03-04")


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def _issue(client: FlaskClient, platform_id: str = "forum") -> Any:
    return client.post("/api/v1/me/credentials", json={"platform_id": platform_id}, headers=_csrf(client))


@pytest.fixture
def person(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, db_session: Session
) -> FlaskClient:
    add_platform(db_session, "forum")
    add_platform(db_session, "market")
    response = sign_in(client, dev_idp, GUS)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/credentials")
    return client


def test_registered_person_gets_a_credential_and_sees_it_listed(person: FlaskClient) -> None:
    issued = _issue(person)

    listed = person.get("/api/v1/me/credentials").get_json()["credentials"]
    assert issued.status_code == 201
    assert [c["credential_id"] for c in listed] == [issued.get_json()["credential_id"]]
    assert listed[0]["status"] == "active"


def test_same_platform_same_pseudonym_other_platform_other_pseudonym(person: FlaskClient) -> None:
    first, again, other = _issue(person), _issue(person), _issue(person, "market")

    assert first.get_json()["pseudonym"] == again.get_json()["pseudonym"]
    assert first.get_json()["pseudonym"] != other.get_json()["pseudonym"]


def test_credentials_page_shows_a_new_credential_once(person: FlaskClient) -> None:
    page = person.get("/account/credentials").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]

    response = person.post("/account/credentials", data={"platform_id": "forum", "csrf_token": token})

    assert response.status_code == 200
    assert "shown only once" in response.get_data(as_text=True)
    assert "shown only once" not in person.get("/account/credentials").get_data(as_text=True)


def test_person_revokes_their_credential(person: FlaskClient) -> None:
    credential_id = _issue(person).get_json()["credential_id"]

    response = person.post(f"/api/v1/me/credentials/{credential_id}/revoke", headers=_csrf(person))

    assert response.get_json()["status"] == "revoked"


def test_registering_twice_is_a_conflict(person: FlaskClient, dev_idp: DevIdentityProvider) -> None:
    person.post(
        "/account/logout", data={"csrf_token": person.get("/api/v1/session").get_json()["csrf_token"]}
    )

    assert sign_in(person, dev_idp, GUS).status_code == 409


def test_returning_person_logs_in_through_the_provider(
    person: FlaskClient, dev_idp: DevIdentityProvider
) -> None:
    credential_id = _issue(person).get_json()["credential_id"]
    person.post(
        "/account/logout", data={"csrf_token": person.get("/api/v1/session").get_json()["csrf_token"]}
    )

    response = sign_in(person, dev_idp, GUS, intent="login")

    assert response.status_code == 302
    assert person.get("/api/v1/me/credentials").get_json()["credentials"][0]["credential_id"] == credential_id


def test_login_of_an_unregistered_person_is_not_found(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider
) -> None:
    assert (
        sign_in(client, dev_idp, DevUser("new", "New Example", "2001-01-01"), intent="login").status_code
        == 404
    )


def test_callback_without_a_login_in_progress_is_refused(oidc_app: Flask, client: FlaskClient) -> None:
    response = client.get("/account/oidc/callback?code=x&state=y")

    assert response.status_code == 422


def test_callback_with_a_forged_state_is_refused(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider
) -> None:
    client.get("/account/oidc/start?intent=register")

    assert client.get("/account/oidc/callback?code=x&state=forged").status_code == 422


def test_anonymous_caller_cannot_use_person_endpoints(client: FlaskClient) -> None:
    response = client.get("/api/v1/me/credentials")

    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_registration_without_a_configured_provider_is_not_found(client: FlaskClient) -> None:
    assert client.get("/account/oidc/start").status_code == 404


def test_register_and_login_pages_render(oidc_app: Flask, client: FlaskClient) -> None:
    assert "identity provider" in client.get("/account/register").get_data(as_text=True)
    assert "Document number" in client.get("/account/login").get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"platform_id": "nope"}, 404),
        ({"platform_id": 7}, 422),
        ([], 422),
        ({"platform_id": "forum", "slot": 3}, 422),
    ],
)
def test_bad_credential_requests_get_problem_json(person: FlaskClient, body: Any, status: int) -> None:
    response = person.post("/api/v1/me/credentials", json=body, headers=_csrf(person))

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_platform_verifies_and_redeems_over_http(person: FlaskClient, db_session: Session) -> None:
    token = _issue(person).get_json()["credential"]
    headers = {"Authorization": f"Bearer {add_api_key(db_session, 'forum')}"}

    first = person.post("/api/v1/credentials/verify", json={"credential": token}, headers=headers)
    second = person.post("/api/v1/credentials/verify", json={"credential": token}, headers=headers)

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.get_json()["code"] == "credential-already-redeemed"


def test_platform_status_and_revocation_over_http(person: FlaskClient, db_session: Session) -> None:
    credential_id = _issue(person).get_json()["credential_id"]
    headers = {"Authorization": f"Bearer {add_api_key(db_session, 'forum')}"}

    revoked = person.post(f"/api/v1/credentials/{credential_id}/revoke", headers=headers)
    status = person.post(
        "/api/v1/credentials/status", json={"credential_ids": [credential_id]}, headers=headers
    )

    assert revoked.get_json()["status"] == "revoked"
    assert status.get_json() == {"statuses": {credential_id: "revoked"}}


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "bad-request"),
        ({"data": "credential=x"}, 415, "unsupported-media-type"),
        ({"json": {"credential": 5}}, 422, "validation-failed"),
        ({"json": {"credential": "a.b.c"}}, 422, "credential-malformed"),
        ({"json": ["x"]}, 422, "validation-failed"),
    ],
)
def test_bad_verify_requests_get_problem_json(
    client: FlaskClient, db_session: Session, kwargs: dict[str, Any], status: int, code: str
) -> None:
    add_platform(db_session)
    headers = {"Authorization": f"Bearer {add_api_key(db_session, 'forum')}"}

    response = client.post("/api/v1/credentials/verify", headers=headers, **kwargs)

    assert (response.status_code, response.get_json()["code"]) == (status, code)
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer esk_short"])
def test_platform_endpoints_need_a_valid_api_key(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}

    response = client.post("/api/v1/credentials/verify", json={"credential": "x"}, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["code"] == "authentication-failed"
    # RFC 9110 15.5.2 and RFC 6750 3: the challenge, with invalid_token only when a key was sent
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="escrow-platform-api"')
    assert ('error="invalid_token"' in challenge) is (header is not None)


def test_bad_credential_with_a_good_api_key_is_422_not_the_401_of_a_bad_key(
    client: FlaskClient, db_session: Session
) -> None:
    # Issue 19: the key authenticated the request; only the credential in its body is bad
    add_platform(db_session)
    headers = {"Authorization": f"Bearer {add_api_key(db_session, 'forum')}"}

    response = client.post("/api/v1/credentials/verify", json={"credential": "a.b.c"}, headers=headers)

    assert response.status_code == 422
    assert response.get_json()["code"] == "credential-malformed"
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("body", [{}, {"credential_ids": "x"}, {"credential_ids": [1]}])
def test_bad_status_requests_are_refused(client: FlaskClient, db_session: Session, body: Any) -> None:
    add_platform(db_session)
    headers = {"Authorization": f"Bearer {add_api_key(db_session, 'forum')}"}

    assert client.post("/api/v1/credentials/status", json=body, headers=headers).status_code == 422


def test_jwks_endpoint_answers_before_any_key_exists(client: FlaskClient) -> None:
    response = client.get("/.well-known/jwks.json")

    assert response.get_json() == {"keys": []}
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_person_revokes_a_credential_from_the_page(person: FlaskClient) -> None:
    credential_id = _issue(person).get_json()["credential_id"]
    token = person.get("/api/v1/session").get_json()["csrf_token"]

    response = person.post(f"/account/credentials/{credential_id}/revoke", data={"csrf_token": token})

    assert response.status_code == 302
    assert "revoked" in person.get("/account/credentials").get_data(as_text=True)


def test_page_post_without_csrf_token_is_refused(person: FlaskClient) -> None:
    assert person.post("/account/credentials", data={"platform_id": "forum"}).status_code == 400


def test_anonymous_credentials_page_is_forbidden(client: FlaskClient) -> None:
    assert client.get("/account/credentials").status_code == 403
