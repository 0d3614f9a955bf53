"""The platform portal (issue 8): a platform's own staff manage only their platform."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from escrow.errors import ValidationError
from escrow.httpkit import get_components
from escrow.models import LogEntry
from escrow.services.platforms import create_api_key, register_platform
from tests.conftest import STAFF_PASSWORD, csrf_token_from

PLATFORM_LINKS = (
    "/platform/",
    "/platform/api-keys",
    "/platform/credentials",
    "/platform/webhooks",
    "/platform/integration",
)
ADMIN_LINKS = ("/admin/platforms", "/admin/officers", "/admin/keyholders")


def _register(app: Flask, platform_id: str) -> None:
    extension = get_components(app)
    with extension.session_factory() as session:
        register_platform(
            session,
            platform_id=platform_id,
            name=f"{platform_id.title()} Platform",
            contact=f"abuse@{platform_id}.example",
            redirect_uris=[f"https://{platform_id}.example/cb"],
            log=extension.log,
            now=datetime.now(UTC),
        )


def _admin_key(app: Flask, platform_id: str) -> str:
    extension = get_components(app)
    with extension.session_factory() as session:
        return create_api_key(
            session, platform_id=platform_id, log=extension.log, now=datetime.now(UTC)
        ).api_key


def _sign_in(client: FlaskClient, username: str) -> None:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": username, "password": STAFF_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def forum(app: Flask, client: FlaskClient, make_staff) -> FlaskClient:  # type: ignore[no-untyped-def]
    """Two platforms, `forum` and `market`; the client is signed in as forum's platform login."""
    _register(app, "forum")
    _register(app, "market")
    make_staff("forum-staff", "platform", organisation="Forum Inc", platform="forum")
    _sign_in(client, "forum-staff")
    return client


def _log_kinds(app: Flask) -> list[str]:
    with get_components(app).session_factory() as session:
        return list(session.scalars(select(LogEntry.kind).order_by(LogEntry.idx)))


def _new_key(client: FlaskClient) -> str:
    page = client.get("/platform/api-keys").get_data(as_text=True)
    response = client.post("/platform/api-keys", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 200
    match = re.search(
        r'<code id="new-api-key">(esk_[A-Za-z0-9]{10}_[A-Za-z0-9_-]{43})</code>',
        response.get_data(as_text=True),
    )
    assert match, "the new key is shown"
    return match.group(1)


def test_platform_login_sees_its_own_platform_only(forum: FlaskClient) -> None:
    page = forum.get("/platform/").get_data(as_text=True)
    assert "Forum Platform" in page
    assert "https://forum.example/cb" in page
    assert "market" not in page.lower()
    for link in PLATFORM_LINKS:
        assert forum.get(link).status_code == 200, link


def test_navigation_shows_only_the_platform_links(forum: FlaskClient) -> None:
    nav = (
        forum.get("/platform/").get_data(as_text=True).split('<nav aria-label="Main">')[1].split("</nav>")[0]
    )
    for link in PLATFORM_LINKS:
        assert f'href="{link}"' in nav
    for other in (*ADMIN_LINKS, "/officer/disclosures", "/officer/register", "/account/credentials"):
        assert other not in nav


def test_other_roles_do_not_see_the_platform_links(client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as("ada", "admin")
    page = client.get("/admin/platforms").get_data(as_text=True)
    assert "/platform/api-keys" not in page
    assert client.get("/platform/").status_code == 403
    assert client.get("/platform/api-keys").status_code == 403


def test_anonymous_is_sent_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/platform/api-keys")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "path", [*ADMIN_LINKS, "/admin/ceremonies", "/officer/disclosures", "/officer/register"]
)
def test_platform_login_cannot_reach_admin_or_officer_pages(forum: FlaskClient, path: str) -> None:
    assert forum.get(path).status_code == 403


def test_platform_login_cannot_use_the_admin_pages_for_another_platform(forum: FlaskClient) -> None:
    token = csrf_token_from(forum.get("/platform/").get_data(as_text=True))
    assert forum.get("/admin/platforms/market").status_code == 403
    assert forum.post("/admin/platforms/market/api-keys", data={"csrf_token": token}).status_code == 403


def test_create_key_shows_it_once_it_works_then_revoke_stops_it(app: Flask, forum: FlaskClient) -> None:
    # Given a new key, shown once
    api_key = _new_key(forum)
    prefix = api_key[:14]  # esk_ + 10 characters
    listing = forum.get("/platform/api-keys").get_data(as_text=True)
    assert prefix in listing
    assert api_key not in listing
    # When the platform calls the credentials API with it, it is accepted
    headers = {"Authorization": f"Bearer {api_key}"}
    status = forum.post("/api/v1/credentials/status", json={"credential_ids": ["nope"]}, headers=headers)
    assert status.status_code == 200
    assert "unknown" in str(status.get_json())
    verify = forum.post("/api/v1/credentials/verify", json={"credential": "not-a-jwt"}, headers=headers)
    assert verify.get_json()["code"] == "credential-malformed"  # authenticated: the credential is judged
    # When it is revoked on the portal
    token = csrf_token_from(listing)
    response = forum.post(f"/platform/api-keys/{prefix}/revoke", data={"csrf_token": token})
    assert response.status_code == 302
    # Then the API refuses it
    refused = forum.post("/api/v1/credentials/verify", json={"credential": "not-a-jwt"}, headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "authentication-failed"
    assert "revoked" in forum.get("/platform/api-keys").get_data(as_text=True)
    # and both changes are in the transparency log, as for the admin pages
    kinds = _log_kinds(app)
    assert kinds.count("platform.api_key_created") == 1
    assert kinds.count("platform.api_key_revoked") == 1


def test_another_platforms_key_is_not_found_and_stays_live(app: Flask, forum: FlaskClient) -> None:
    market_key = _admin_key(app, "market")
    market_prefix = market_key[:14]
    assert market_prefix not in forum.get("/platform/api-keys").get_data(as_text=True)
    token = csrf_token_from(forum.get("/platform/api-keys").get_data(as_text=True))
    assert (
        forum.post(f"/platform/api-keys/{market_prefix}/revoke", data={"csrf_token": token}).status_code
        == 404
    )
    headers = {"Authorization": f"Bearer {market_key}"}
    assert (
        forum.post("/api/v1/credentials/status", json={"credential_ids": ["x"]}, headers=headers).status_code
        == 200
    )


def test_another_platforms_credential_cannot_be_revoked(forum: FlaskClient) -> None:
    token = csrf_token_from(forum.get("/platform/credentials").get_data(as_text=True))
    response = forum.post(
        "/platform/credentials/revoke", data={"csrf_token": token, "credential_id": "unknown-id"}
    )
    assert response.status_code == 404
    status = forum.post("/platform/credentials", data={"csrf_token": token, "credential_ids": "unknown-id"})
    assert status.status_code == 200
    assert "unknown" in status.get_data(as_text=True)


def test_settings_change_is_validated_and_logged(app: Flask, forum: FlaskClient) -> None:
    token = csrf_token_from(forum.get("/platform/").get_data(as_text=True))
    bad = forum.post(
        "/platform/settings",
        data={
            "csrf_token": token,
            "name": "Forum",
            "contact": "x",
            "redirect_uris": "http://evil.example/cb",
        },
    )
    assert bad.status_code == 422
    saved = forum.post(
        "/platform/settings",
        data={
            "csrf_token": token,
            "name": "Forum 2",
            "contact": "abuse@forum.example",
            "redirect_uris": "https://forum.example/new",
        },
    )
    assert saved.status_code == 302
    page = forum.get("/platform/").get_data(as_text=True)
    assert "Forum 2" in page
    assert "https://forum.example/new" in page
    assert "platform.updated" in _log_kinds(app)


def test_client_secret_is_shown_once(forum: FlaskClient) -> None:
    token = csrf_token_from(forum.get("/platform/").get_data(as_text=True))
    page = forum.post("/platform/oidc/client-secret", data={"csrf_token": token}).get_data(as_text=True)
    assert "shown only once" in page
    assert "shown only once" not in forum.get("/platform/").get_data(as_text=True)


def test_integration_help_names_the_urls_and_client_id(forum: FlaskClient) -> None:
    page = forum.get("/platform/integration").get_data(as_text=True)
    assert "/.well-known/jwks.json" in page
    assert "/.well-known/openid-configuration" in page
    assert "/api/v1/credentials/verify" in page
    assert 'platform_id="forum"' in page
    assert 'audience="forum"' in page
    assert "CredentialVerifier" in page
    assert "PyJWKClient" in page


def test_posts_without_csrf_are_refused(forum: FlaskClient) -> None:
    assert forum.post("/platform/api-keys").status_code == 400


def test_platform_role_must_be_bound_and_alone(app: Flask, make_staff) -> None:  # type: ignore[no-untyped-def]
    _register(app, "forum")
    with pytest.raises(ValidationError):
        make_staff("unbound", "platform")
    with pytest.raises(ValidationError):
        make_staff("mixed", "platform", "admin", platform="forum")
    with pytest.raises(ValidationError):
        make_staff("admin-bound", "admin", platform="forum")
    with pytest.raises(ValidationError):
        make_staff("ghost", "platform", platform="no-such-platform")


def test_admin_adds_a_platform_login_on_the_platform_page(app: Flask, client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    _register(app, "forum")
    login_as("ada", "admin")
    page = client.get("/admin/platforms/forum").get_data(as_text=True)
    response = client.post(
        "/admin/platforms/forum/logins",
        data={
            "csrf_token": csrf_token_from(page),
            "username": "forum-ops",
            "display_name": "Forum Ops",
            "organisation": "Forum Inc",
            "password": STAFF_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert "forum-ops" in client.get("/admin/platforms/forum").get_data(as_text=True)
    assert "staff.added" in _log_kinds(app)
    # and that login manages forum
    other = app.test_client()
    _sign_in(other, "forum-ops")
    assert "Forum Platform" in other.get("/platform/").get_data(as_text=True)


# --- issue 19: webhooks and logout settings ----------------------------------------------------


def _webhook_secret_in(html: str) -> str | None:
    match = re.search(r'<code id="new-webhook-secret">(whsec_[A-Za-z0-9+/=]+)</code>', html)
    return match.group(1) if match else None


def test_portal_webhook_secret_is_shown_once_and_rotates(forum: FlaskClient) -> None:
    page = forum.get("/platform/webhooks").get_data(as_text=True)
    assert "No secret yet" in page

    first = forum.post("/platform/webhooks/secret", data={"csrf_token": csrf_token_from(page)})
    second = forum.post("/platform/webhooks/secret", data={"csrf_token": csrf_token_from(page)})

    secrets = [_webhook_secret_in(r.get_data(as_text=True)) for r in (first, second)]
    assert all(secrets)
    assert secrets[0] != secrets[1]
    again = forum.get("/platform/webhooks").get_data(as_text=True)
    assert _webhook_secret_in(again) is None  # shown once
    assert all(s not in again for s in secrets if s)
    assert "Secret number 2 signs" in again


def test_portal_refuses_a_plain_http_webhook_url_keeping_the_form(forum: FlaskClient) -> None:
    page = forum.get("/platform/webhooks").get_data(as_text=True)

    response = forum.post(
        "/platform/webhooks/url",
        data={"csrf_token": csrf_token_from(page), "url": "http://hooks.forum.example/in"},
    )

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "https" in html
    assert 'value="http://hooks.forum.example/in"' in html


def test_portal_delivery_log_shows_each_attempt(app: Flask, forum: FlaskClient) -> None:
    from escrow.services import webhooks
    from tests.http_receiver import http_receiver

    extension = get_components(app)
    page = forum.get("/platform/webhooks").get_data(as_text=True)
    with http_receiver(statuses=[500, 204]) as receiver:
        forum.post("/platform/webhooks/url", data={"csrf_token": csrf_token_from(page), "url": receiver.url})
        forum.post("/platform/webhooks/secret", data={"csrf_token": csrf_token_from(page)})
        now = datetime.now(UTC)
        with extension.session_factory() as session:
            message_id = webhooks.enqueue_event(
                session, platform_id="forum", event_type="consent.withdrawn", data={"sub": "p"}, now=now
            )
            session.commit()
            webhooks.deliver_due(session, keyring=extension.keyring, now=now)
            webhooks.deliver_due(session, keyring=extension.keyring, now=now + webhooks.FIRST_RETRY)
        receiver.wait_for(2)

    log = forum.get("/platform/webhooks").get_data(as_text=True)
    assert message_id is not None
    assert message_id in log
    assert "delivered" in log
    assert ": 500 (" in log
    assert ": 204 (" in log
    # market's portal would not list it: the log is per platform
    with extension.session_factory() as session:
        assert webhooks.page_deliveries(session, "market", page=1).items == ()


def test_portal_saves_logout_settings_and_keeps_the_form_on_a_bad_uri(forum: FlaskClient) -> None:
    page = forum.get("/platform/").get_data(as_text=True)
    token = csrf_token_from(page)

    saved = forum.post(
        "/platform/logout",
        data={
            "csrf_token": token,
            "post_logout_redirect_uris": "https://forum.example/bye",
            "backchannel_logout_uri": "https://forum.example/backchannel",
        },
    )
    refused = forum.post(
        "/platform/logout",
        data={
            "csrf_token": token,
            "post_logout_redirect_uris": "javascript:alert(1)",
            "backchannel_logout_uri": "",
        },
    )

    assert saved.status_code == 302
    settings_page = forum.get("/platform/").get_data(as_text=True)
    assert "https://forum.example/bye" in settings_page
    assert 'value="https://forum.example/backchannel"' in settings_page
    assert refused.status_code == 422
    assert "javascript:alert(1)" in refused.get_data(as_text=True)
