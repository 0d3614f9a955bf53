"""Issue 16, item 3, the attack as it was run: over real HTTP, an officer of an unrelated organisation
and the administrator asked for another organisation's requests (`GET /api/v1/disclosures/ID`: 200, with
the pseudonyms in scope). Now they get 404 from the API, the pages and `request.json`, and the lists leave
the requests out; the officers named on a request and the key-holders still read it.
"""

from __future__ import annotations

import re

import pytest
import requests
from flask import Flask

from escrow.client.holder import HolderClient, HolderClientError, UrllibTransport
from tests.conftest import STAFF_PASSWORD
from tests.disclosure_support import build_world
from tests.staff_support import csrf_token_from, forget_authenticator, next_code, secret_on_page


def _sign_in(url: str, app: Flask, username: str) -> requests.Session:
    """Signs `username` in through the real two-step form over HTTP, as a browser would."""
    http = requests.Session()
    token = csrf_token_from(http.get(f"{url}/login", timeout=10).text)
    response = http.post(
        f"{url}/login",
        data={"username": username, "password": STAFF_PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    if not location.startswith("http"):
        location = url + location
    if re.search(r"/login/(authenticator|code)$", location):
        page = http.get(location, timeout=10).text
        if location.endswith("/authenticator"):
            forget_authenticator(id(app), username)
            code = next_code(id(app), username, secret_on_page(page))
        else:
            code = next_code(id(app), username)
        response = http.post(
            location,
            data={"code": code, "csrf_token": csrf_token_from(page)},
            allow_redirects=False,
            timeout=10,
        )
    assert response.status_code == 302, response.text
    return http


def _paths(request_id: int) -> list[str]:
    return [
        f"/api/v1/disclosures/{request_id}",
        f"/officer/disclosures/{request_id}",
        f"/officer/disclosures/{request_id}/request.json",
    ]


def test_an_unrelated_organisation_and_the_administrator_cannot_read_another_organisations_requests(
    live_server: tuple[str, Flask],
) -> None:
    url, app = live_server
    world = build_world(app)
    # Given alice's (Forum Legal) draft, and her request co-signed by bob (Escrow Counsel)
    draft = world.draft(case_number="2026/CR/DRAFT")
    assert draft.status_code == 201, draft.get_json()
    draft_id = int(draft.get_json()["id"])
    cosigned_id = world.cosigned_request()
    pseudonym = world.credential.pseudonym
    sessions = {name: _sign_in(url, app, name) for name in ("alice", "bob", "dave", "root")}

    # When dave (Police Agency, named on neither) and the administrator ask for them over HTTP
    for attacker in ("dave", "root"):
        http = sessions[attacker]
        for request_id in (draft_id, cosigned_id):
            for path in _paths(request_id):
                # Then each is a 404, as for a request that does not exist, and nothing of it shows
                response = http.get(url + path, allow_redirects=False, timeout=10)
                assert response.status_code == 404, (attacker, path, response.status_code)
                assert pseudonym not in response.text
        # and their lists leave both out
        listed = http.get(f"{url}/api/v1/disclosures", timeout=10)
        assert listed.status_code == 200
        assert {r["id"] for r in listed.json()} & {draft_id, cosigned_id} == set()
        page = http.get(f"{url}/officer/disclosures", timeout=10).text
        assert "2026/CR/DRAFT" not in page
        assert f"/officer/disclosures/{cosigned_id}" not in page
        # and the identity page too is a 404, not a 403 that would confirm the request
        if attacker == "dave":
            identity = http.get(f"{url}/officer/disclosures/{cosigned_id}/identity", timeout=10)
            assert identity.status_code == 404

    # But alice reads both, bob (named on the co-signed one) reads it and not her draft
    for path in _paths(draft_id) + _paths(cosigned_id):
        assert sessions["alice"].get(url + path, timeout=10).status_code == 200, path
    for path in _paths(cosigned_id):
        assert sessions["bob"].get(url + path, timeout=10).status_code == 200, path
    for path in _paths(draft_id):
        assert sessions["bob"].get(url + path, timeout=10).status_code == 404, path
    assert {r["id"] for r in sessions["alice"].get(f"{url}/api/v1/disclosures", timeout=10).json()} >= {
        draft_id,
        cosigned_id,
    }
    # and every key-holder reads the co-signed request with its signed requests, never the draft
    for holder in world.holders:
        client = HolderClient(UrllibTransport(url), holder.secrets.signing_seed)
        package = client.request("GET", f"/api/v1/holder/disclosures/{cosigned_id}")
        assert package["id"] == cosigned_id
        with pytest.raises(HolderClientError, match=r"\(404\)"):
            client.request("GET", f"/api/v1/holder/disclosures/{draft_id}")
