"""RFC 9457 section 4.2.1 (issue 19): a problem whose ``type`` is ``about:blank`` has the HTTP status
phrase as its ``title`` (RFC 9110's phrases); what went wrong is in the stable ``code`` and ``detail``."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from escrow.api.problems import status_phrase


@pytest.mark.parametrize(
    ("call", "status", "title", "code"),
    [
        (lambda c: c.get("/api/v1/log/checkpoints/999999"), 404, "Not Found", None),
        (lambda c: c.get("/api/v1/log/entries?end=x"), 422, "Unprocessable Content", None),
        (
            lambda c: c.post("/api/v1/credentials/verify", json={}),
            401,
            "Unauthorized",
            "authentication-failed",
        ),
        (lambda c: c.delete("/api/v1/log/key"), 405, "Method Not Allowed", "method-not-allowed"),
    ],
)
def test_about_blank_problems_are_titled_with_the_status_phrase(
    client: FlaskClient, call: Any, status: int, title: str, code: str | None
) -> None:
    response = call(client)

    assert response.status_code == status
    problem = response.get_json()
    assert problem["type"] == "about:blank"
    assert problem["title"] == title
    assert problem["status"] == status
    if code is not None:
        assert problem["code"] == code


def test_status_phrases_are_rfc_9110s_not_the_older_names() -> None:
    assert status_phrase(413) == "Content Too Large"  # not "Request Entity Too Large"
    assert status_phrase(422) == "Unprocessable Content"  # not "Unprocessable Entity"
    assert status_phrase(429) == "Too Many Requests"
    assert status_phrase(799) == "Error"
