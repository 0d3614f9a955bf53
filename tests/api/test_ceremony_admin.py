"""Admin JSON endpoints and the ceremony pages: who may do what, and what each page shows."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.httpkit import get_components
from escrow.models import LogEntry
from escrow.services import ceremony as ceremony_service
from tests.api.holders import enrol_holders, run_ceremony
from tests.conftest import csrf_token_from


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def test_admin_invites_and_opens_a_ceremony_through_the_api(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    # Given an admin and two enrolled holders
    login_as("ada", "admin")
    holders = enrol_holders(app, client, db_session, 2)

    # When the admin invites a third and opens a 2-of-2 ceremony
    invited = client.post(
        "/api/v1/admin/keyholders",
        json={"name": "C", "organisation": "O", "contact": "c"},
        headers=_csrf(client),
    )
    opened = client.post(
        "/api/v1/admin/ceremonies",
        json={"threshold": 2, "holders": [h.id for h in holders]},
        headers=_csrf(client),
    )

    # Then both succeed and are logged
    assert invited.status_code == 201
    assert len(invited.get_json()["invitation"]) >= 20
    assert opened.status_code == 201
    kinds = [e.body for e in db_session.execute(select(LogEntry)).scalars()]
    assert any(b"ceremony.opened" in k for k in kinds)
    assert any(b"keyholder.invited" in k for k in kinds)


def test_admin_endpoints_refuse_other_roles_and_anonymous(client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    anonymous = client.post("/api/v1/admin/ceremonies", json={"threshold": 1, "holders": []})
    login_as("olga", "legal_officer")
    officer = client.post(
        "/api/v1/admin/ceremonies", json={"threshold": 1, "holders": []}, headers=_csrf(client)
    )

    assert anonymous.status_code in (400, 401)  # no CSRF token or no login: never reaches the service
    assert officer.status_code == 403


def test_open_with_bad_threshold_is_a_422_problem(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    login_as("ada", "admin")
    holders = enrol_holders(app, client, db_session, 2)

    response = client.post(
        "/api/v1/admin/ceremonies",
        json={"threshold": 3, "holders": [h.id for h in holders]},
        headers=_csrf(client),
    )

    assert response.status_code == 422
    assert response.get_json()["code"] == "validation-failed"


def test_admin_cancels_through_the_api(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    login_as("ada", "admin")
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = ceremony_service.open_ceremony(
        db_session,
        threshold=2,
        holder_ids=[h.id for h in holders],
        log=get_components(app).log,
        now=datetime.now(UTC),
    )

    first = client.post(
        f"/api/v1/admin/ceremonies/{ceremony_id}/cancel", json={"reason": "x"}, headers=_csrf(client)
    )
    second = client.post(f"/api/v1/admin/ceremonies/{ceremony_id}/cancel", json={}, headers=_csrf(client))

    assert first.status_code == 200
    assert second.status_code == 409


def test_admin_pages_invite_open_and_show_progress(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    # Given an admin on the key-holders page
    login_as("ada", "admin")
    page = client.get("/admin/keyholders")
    assert page.status_code == 200

    # When it invites a holder through the form
    invited = client.post(
        "/admin/keyholders",
        data={
            "name": "Zed",
            "organisation": "Court",
            "contact": "z@x",
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        },
    )

    # Then the one-time code and the command are shown
    assert b"escrow keyholder init --server" in invited.data

    # And a ceremony opened through the form shows its progress and the next command
    holders = enrol_holders(app, client, db_session, 2)
    page = client.get("/admin/ceremonies")
    opened = client.post(
        "/admin/ceremonies",
        data={
            "threshold": "2",
            "holders": f"{holders[0].id},{holders[1].id}",
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        },
        follow_redirects=True,
    )
    assert b"escrow keyholder ceremony --server" in opened.data
    holder_page = client.get(f"/keyholders/{holders[0].id}")
    assert b"Signing key fingerprint" in holder_page.data


def test_ceremony_page_is_public_and_shows_the_active_key(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = ceremony_service.open_ceremony(
        db_session,
        threshold=2,
        holder_ids=[h.id for h in holders],
        log=get_components(app).log,
        now=datetime.now(UTC),
    )
    assert run_ceremony(client, holders, ceremony_id) == "active"

    page = client.get(f"/ceremonies/{ceremony_id}")

    assert page.status_code == 200
    assert b"ek1-" in page.data
    assert b"escrow ceremony verify" in page.data


def test_admin_pages_need_the_admin_role(client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/admin/ceremonies").status_code == 302
    login_as("vic", "verification_officer")
    assert client.get("/admin/keyholders").status_code == 403


def test_admin_reshare_through_the_api_keeps_the_key(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    # Given an admin and an active 2-of-3 key
    login_as("ada", "admin")
    holders = enrol_holders(app, client, db_session, 3)
    before = client.post(
        "/api/v1/admin/reshares", json={"threshold": 2, "dealers": [1], "holders": [1]}, headers=_csrf(client)
    )
    opened = client.post(
        "/api/v1/admin/ceremonies",
        json={"threshold": 2, "holders": [h.id for h in holders]},
        headers=_csrf(client),
    )
    assert run_ceremony(client, holders, opened.get_json()["id"]) == "active"

    # When it reshares to the first two holders
    reshare = client.post(
        "/api/v1/admin/reshares",
        json={
            "threshold": 2,
            "dealers": [holders[0].id, holders[1].id],
            "holders": [holders[0].id, holders[1].id],
        },
        headers=_csrf(client),
    )

    # Then a reshare before any key was refused, and this one runs to the same key id
    assert before.status_code == 409
    assert reshare.status_code == 201
    assert run_ceremony(client, holders[:2], reshare.get_json()["id"]) == "active"
    listing = client.get("/api/v1/ceremonies").get_json()
    assert listing[0]["kind"] == "reshare"
    assert listing[0]["key_id"] == listing[1]["key_id"] == listing[0]["old_key_id"]


def test_admin_api_rejects_malformed_fields(client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as("ada", "admin")

    not_json = client.post("/api/v1/admin/ceremonies", data="x", headers=_csrf(client))
    bad_list = client.post(
        "/api/v1/admin/ceremonies", json={"threshold": 2, "holders": "1,2"}, headers=_csrf(client)
    )
    bad_int = client.post(
        "/api/v1/admin/ceremonies", json={"threshold": "2", "holders": [1]}, headers=_csrf(client)
    )

    assert [r.status_code for r in (not_json, bad_list, bad_int)] == [422, 422, 422]


def test_enrolled_key_holders_appear_in_the_transparency_report(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    enrol_holders(app, client, db_session, 2)

    report = client.get("/api/v1/transparency/report").get_json()

    assert {h["name"] for h in report["keyholders"]} == {"Holder 1", "Holder 2"}


def test_admin_cancels_and_reshares_through_the_pages(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    # Given an admin, an active 2-of-2 key and an open ceremony
    login_as("ada", "admin")
    holders = enrol_holders(app, client, db_session, 2)
    log = get_components(app).log
    first = ceremony_service.open_ceremony(
        db_session, threshold=2, holder_ids=[h.id for h in holders], log=log, now=datetime.now(UTC)
    )
    assert run_ceremony(client, holders, first) == "active"
    page = client.get("/admin/ceremonies")
    token = csrf_token_from(page.get_data(as_text=True))

    # When it opens a reshare with the form, then cancels it with the cancel button
    ids = f"{holders[0].id},{holders[1].id}"
    opened = client.post(
        "/admin/ceremonies", data={"threshold": "2", "holders": ids, "dealers": ids, "csrf_token": token}
    )
    reshare_id = int(opened.headers["Location"].rsplit("/", 1)[1])
    cancelled = client.post(
        f"/admin/ceremonies/{reshare_id}/cancel", data={"reason": "wrong threshold", "csrf_token": token}
    )

    # Then the reshare was opened and is now cancelled with the reason
    assert opened.status_code == 302
    assert cancelled.status_code == 302
    state = client.get(f"/api/v1/ceremonies/{reshare_id}").get_json()
    assert (state["header"]["kind"], state["status"], state["outcome"]) == (
        "reshare",
        "cancelled",
        "wrong threshold",
    )
