"""Issue 14, part 4: the notice suppression. Before, one UPDATE of `notify_delay_s` (a database writer,
no key) kept the person from ever being told, and nothing was logged. Now the notice date comes only
from the signed request body, its logged signed extensions and the logged reveal; when it falls due
the log says so (`disclosure.notice_due`, with the notice tag only the person can recognise), and
`escrow audit verify` flags a disclosed request whose notice is overdue and unannounced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from escrow.client.audit import AuditFailure, audit_log
from escrow.client.http import HttpClient
from escrow.crypto.seal import Envelope
from escrow.httpkit import get_components
from escrow.identity.officer import DocumentCheck
from escrow.models import Credential, LogEntry
from escrow.services.disclosure import sweep_disclosures
from escrow.services.registration import register_in_person
from tests.conftest import csrf_token_from
from tests.disclosure_support import PERSON_PASSWORD, World, backdate_reveal, build_world

NOTICE = "Your identity was disclosed"


def _disclosed(world: World, delay_days: int) -> int:
    response = world.draft(notify_delay_days=str(delay_days))
    assert response.status_code == 201, response.get_json()
    request_id = int(response.get_json()["id"])
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")
    for holder in world.holders[:3]:
        world.approve(holder, request_id)
    return request_id


def _sql(app: Flask, statement: str, **params: object) -> None:
    with get_components(app).session_factory() as session:
        session.execute(text(statement), params)
        session.commit()


def _events(app: Flask, kind: str) -> list[dict[str, Any]]:
    with get_components(app).session_factory() as session:
        bodies = session.scalars(select(LogEntry.body).where(LogEntry.kind == kind).order_by(LogEntry.idx))
        return [json.loads(b) for b in bodies]


def _tag(app: Flask, credential_id: str) -> str:
    with get_components(app).session_factory() as session:
        row = session.get(Credential, credential_id)
        assert row is not None
        return str(Envelope.from_bytes(row.envelope).context["notice"])


def _sweep(app: Flask) -> int:
    with get_components(app).session_factory() as session:
        return sweep_disclosures(session, log=get_components(app).log, now=datetime.now(UTC))


def _extension_made_effective_by_the_writer(world: World, request_id: int) -> None:
    # A proposed extension (signed by its proposer before the date, never co-signed) marked in force.
    _sql(
        world.app,
        "UPDATE disclosure_extensions SET status = 'effective', new_delay_s = :s WHERE request_id = :r",
        s=300 * 86400,
        r=request_id,
    )
    _sql(
        world.app,
        "UPDATE disclosure_requests SET notify_delay_s = :s WHERE id = :r",
        s=300 * 86400,
        r=request_id,
    )


SUPPRESSIONS = {
    "notify_delay_s-set-to-ten-years": lambda world, request_id: _sql(
        world.app,
        "UPDATE disclosure_requests SET notify_delay_s = :s WHERE id = :r",
        s=3650 * 86400,
        r=request_id,
    ),
    "disclosed_at-moved-a-year-ahead": lambda world, request_id: _sql(
        world.app,
        "UPDATE disclosure_requests SET disclosed_at = :t WHERE id = :r",
        t=datetime.now(UTC) + timedelta(days=365),
        r=request_id,
    ),
    "extension-marked-effective-without-cosignature": _extension_made_effective_by_the_writer,
}


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


@pytest.mark.parametrize("suppression", list(SUPPRESSIONS))
def test_notice_suppression_by_an_update_no_longer_delays_the_notice(world: World, suppression: str) -> None:
    # Given a request disclosed with a signed 1-day delay, revealed a day ago
    request_id = _disclosed(world, delay_days=1)
    world.extend(request_id, "alice", 300)  # proposed in time, never co-signed
    backdate_reveal(world.app, request_id, timedelta(days=1, seconds=5))
    # When a database writer changes the stored delay, the stored reveal time or an extension
    SUPPRESSIONS[suppression](world, request_id)

    # Then the sweep still announces the notice publicly, with the person's tag and the signed date
    assert _sweep(world.app) >= 1
    (due,) = _events(world.app, "disclosure.notice_due")
    assert due["data"]["request"] == request_id
    assert due["data"]["notify_delay_days"] == 1
    assert due["data"]["tags"] == [_tag(world.app, world.credential.credential_id)]
    assert due["data"]["untagged"] == 0
    revealed = _events(world.app, "disclosure.disclosed")[0]["time"]
    expected = datetime.strptime(revealed, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(days=1)
    assert due["data"]["notice_at"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
    # and the person, signed in, sees it (matched by their own tag), logged once
    page = world.person_client().get("/account/credentials").get_data(as_text=True)
    assert NOTICE in page
    assert len(_events(world.app, "disclosure.user_notified")) == 1


def test_notice_is_announced_lazily_when_the_person_reads_and_listed_in_the_json_api(world: World) -> None:
    request_id = _disclosed(world, delay_days=1)
    client = world.person_client()
    assert client.get("/api/v1/me/notices").get_json() == {"notices": []}  # not due yet
    assert _events(world.app, "disclosure.notice_due") == []

    backdate_reveal(world.app, request_id, timedelta(days=1, seconds=5))
    notices = client.get("/api/v1/me/notices").get_json()["notices"]

    assert [n["request_id"] for n in notices] == [request_id]
    assert notices[0]["case_number"] == "2026/CR/0042"
    assert len(_events(world.app, "disclosure.notice_due")) == 1


def _second_person(app: Flask) -> FlaskClient:
    """Another person, registered in person with a credential on the same platform, signed in."""
    extension = get_components(app)
    now = datetime.now(UTC)
    with extension.session_factory() as session:
        register_in_person(
            session,
            check=DocumentCheck("passport", "NLD", "XR7654321", "Other Example", "1991-04-05"),
            password=PERSON_PASSWORD,
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=extension.log,
            now=now,
        )
    client = app.test_client()
    token = csrf_token_from(client.get("/account/login").get_data(as_text=True))
    form = {"issuing_country": "NLD", "document_number": "XR7654321", "password": PERSON_PASSWORD}
    assert client.post("/account/login", data={**form, "csrf_token": token}).status_code == 302
    issued = client.post(
        "/api/v1/me/credentials",
        json={"platform_id": "forum"},
        headers={"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]},
    )
    assert issued.status_code == 201
    return client


def test_notice_tags_match_only_the_person_whose_envelope_was_opened(world: World) -> None:
    other = _second_person(world.app)
    request_id = _disclosed(world, delay_days=0)
    assert _sweep(world.app) >= 1
    (due,) = _events(world.app, "disclosure.notice_due")

    # The event names neither pseudonym, and only the person behind the disclosed one matches it
    assert world.credential.pseudonym not in json.dumps(due)
    assert other.get("/api/v1/me/notices").get_json() == {"notices": []}
    assert NOTICE not in other.get("/account/credentials").get_data(as_text=True)
    mine = world.person_client().get("/api/v1/me/notices").get_json()["notices"]
    assert [n["request_id"] for n in mine] == [request_id]


def test_audit_flags_an_overdue_notice_the_server_did_not_announce(
    live_server: tuple[str, Flask],
) -> None:
    # Given a request disclosed with a signed 0-day delay on a live server whose notice nobody announced
    url, app = live_server
    world = build_world(app)
    request_id = _disclosed(world, delay_days=0)
    assert _events(app, "disclosure.notice_due") == []
    later = datetime.now(UTC) + timedelta(days=2)

    # When an auditor checks the public log two days later, it is flagged
    with pytest.raises(
        AuditFailure, match=f"notice of request {request_id} fell due .* no disclosure.notice_due"
    ):
        audit_log(HttpClient(url), state=None, now=later)

    # and once the service's sweep announced it, the same audit passes
    assert _sweep(app) >= 1
    report, _ = audit_log(HttpClient(url), state=None, now=later)
    assert "1 disclosure notice(s) announced on time (disclosure.notice_due)" in report.lines
