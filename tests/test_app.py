"""The app through its test client: health, problem JSON, the error table, the 500 handler."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from escrow.api.problems import PROBLEM_STATUS, status_phrase
from escrow.app import MAX_CONTENT_LENGTH, create_app
from escrow.cli.dev_nodes import free_port
from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.config import Settings
from escrow.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    EscrowError,
    InvalidCredentialError,
    InvalidPageError,
    InvalidStateError,
    InvalidTokenError,
    MalformedIdempotencyKeyError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationError,
)
from escrow.httpkit import COMPONENTS_KEY, get_components, get_session
from tests.oprf_support import OprfNetwork

PROBLEM_JSON = "application/problem+json"
SECRET_MESSAGE = "identity of Alice Example, passport X1234567"


class TokenExpiredError(InvalidTokenError):
    code = "token-expired"
    title = "Token expired"


def _add_route(app: Flask, rule: str, error: Exception) -> None:
    def view() -> str:
        raise error

    app.add_url_rule(rule, endpoint=rule, view_func=view)


def test_healthz_reports_ok_with_reachable_database(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["database"]) == ("ok", "reachable")
    assert set(body["oprf_nodes"]) == {"1", "2", "3"}  # the suite's nodes, none used or skipped yet
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(response.headers["X-Request-Id"]) == 16


def test_healthz_names_an_oprf_node_the_service_skipped(
    app: Flask, client: FlaskClient, oprf_network: OprfNetwork
) -> None:
    components = get_components(app)
    nodes = [*components.oprf.nodes[:2], NodeEndpoint(3, f"http://127.0.0.1:{free_port()}")]  # node 3 down
    oprf = ThresholdOprfClient(nodes=nodes, signing_seed=oprf_network.client_seed, timeout=1.0)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(components, oprf=oprf)
    try:
        for _ in range(3):
            oprf.evaluate(oprf_network.key, [b"someone"])
        for _ in range(100):  # a node not needed for an answer is named once its failure comes in
            body = client.get("/healthz").get_json()
            if body["oprf_nodes"]["3"]["skipped"] == 2:  # node 3 is among the first t in two turns
                break
            time.sleep(0.02)
    finally:
        oprf.close()
    assert body["oprf_nodes"]["3"]["skipped"] == 2
    assert body["oprf_nodes"]["3"]["answered"] == 0
    assert "unreachable" in body["oprf_nodes"]["3"]["last_error"]
    assert body["oprf_nodes"]["1"]["answered"] + body["oprf_nodes"]["2"]["answered"] == 6


def test_healthz_reports_degraded_when_database_cannot_be_opened(tmp_path: Path) -> None:
    # Given a database file in a directory that does not exist
    url = f"sqlite:///{tmp_path / 'missing' / 'escrow.sqlite3'}"
    app = create_app(Settings.for_tests(url, tmp_path / "keys"))

    # When
    response = app.test_client().get("/healthz")

    # Then
    assert response.status_code == 503
    assert {k: response.get_json()[k] for k in ("status", "database")} == {
        "status": "degraded",
        "database": "unreachable",
    }
    get_components(app).engine.dispose()


def test_healthz_reports_degraded_when_postgres_port_is_closed(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/escrow"
    app = create_app(Settings.for_tests(url, tmp_path / "keys"))

    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert {k: response.get_json()[k] for k in ("status", "database")} == {
        "status": "degraded",
        "database": "unreachable",
    }
    get_components(app).engine.dispose()


def test_landing_page_explains_what_is_sealed_and_links_only_to_this_site(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"What is sealed, who can open it, how you can check" in response.data
    assert b'href="/transparency"' in response.data
    assert b"http://" not in response.data
    assert b"https://" not in response.data


def test_static_stylesheet_is_served(client: FlaskClient) -> None:
    response = client.get("/static/style.css")

    assert response.status_code == 200
    response.close()


def test_unknown_api_path_is_404_problem_json(client: FlaskClient) -> None:
    response = client.get("/api/nope")

    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["code"] == "not-found"
    assert body["status"] == 404
    assert set(body) == {"type", "title", "status", "detail", "code"}


def test_unknown_html_path_is_html_404(client: FlaskClient) -> None:
    response = client.get("/nope", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_json_client_gets_problem_json_outside_api(client: FlaskClient) -> None:
    response = client.get("/nope", headers={"Accept": "application/json"})

    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON


def test_wrong_method_is_405_problem_with_allow_header(client: FlaskClient) -> None:
    response = client.post("/healthz")

    assert response.status_code == 405
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["code"] == "method-not-allowed"
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400_problem_without_echoing_input(app: Flask) -> None:
    def echo() -> str:
        return str(request.get_json())

    app.add_url_rule("/api/test/echo", view_func=echo, methods=["POST"])
    response = app.test_client().post(
        "/api/test/echo", data=b'{"secret-input": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.get_json()["code"] == "bad-request"
    assert b"secret-input" not in response.data


def test_oversized_body_is_413_problem(app: Flask) -> None:
    def upload() -> str:
        return str(len(request.get_data()))

    app.add_url_rule("/api/test/upload", view_func=upload, methods=["POST"])
    response = app.test_client().post("/api/test/upload", data=b"x" * (MAX_CONTENT_LENGTH + 1))

    assert response.status_code == 413
    assert response.get_json()["code"] == "content-too-large"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError(), 404),
        (PermissionDeniedError(), 403),
        (InvalidStateError(), 409),
        (ConflictError(), 409),
        (InvalidTokenError(), 401),
        (TokenExpiredError(), 401),
        # A credential in the content is not the request's authentication (issue 19): 422
        (InvalidCredentialError(), 422),
        (ValidationError(), 422),
        (AuthenticationError(), 401),
    ],
)
def test_escrow_errors_map_to_their_status(app: Flask, error: EscrowError, status: int) -> None:
    _add_route(app, "/api/test/raise", error)

    response = app.test_client().get("/api/test/raise")

    assert response.status_code == status
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json() == {
        "type": "about:blank",
        "title": status_phrase(status),  # RFC 9457 4.2.1: about:blank takes the status phrase
        "status": status,
        "detail": error.detail,
        "code": error.code,
    }


def test_error_table_covers_every_client_error_class() -> None:
    assert set(PROBLEM_STATUS) == {
        NotFoundError,
        PermissionDeniedError,
        InvalidStateError,
        ConflictError,
        InvalidTokenError,
        InvalidCredentialError,  # a credential in the content: 422, not 401 (issue 19)
        AuthenticationError,
        ValidationError,
        InvalidPageError,  # a malformed ?page= is a 400, not a 422 (issue 8)
        MalformedIdempotencyKeyError,  # a header that does not parse is a 400 (issue 17)
        ServiceUnavailableError,  # the OPRF nodes do not answer: 503 (issue 13)
    }


def test_escrow_error_detail_is_sent_to_client(app: Flask) -> None:
    _add_route(app, "/api/test/raise", NotFoundError("no disclosure request with that id"))

    response = app.test_client().get("/api/test/raise")

    assert response.get_json()["detail"] == "no disclosure request with that id"


def test_escrow_error_on_html_page_renders_error_page(app: Flask) -> None:
    _add_route(app, "/test/raise", PermissionDeniedError("only officers"))

    response = app.test_client().get("/test/raise", headers={"Accept": "text/html"})

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert '<p role="alert">only officers</p>' in response.get_data(as_text=True)


def test_escrow_error_without_detail_on_html_page_shows_its_title_once(app: Flask) -> None:
    _add_route(app, "/test/raise", PermissionDeniedError())

    page = app.test_client().get("/test/raise", headers={"Accept": "text/html"}).get_data(as_text=True)

    assert page.count("Permission denied") == 2  # <title> and <h1>
    assert 'role="alert"' not in page


def test_unmapped_escrow_error_is_500_without_detail(app: Flask) -> None:
    _add_route(app, "/api/test/raise", ConfigError(SECRET_MESSAGE))

    response = app.test_client().get("/api/test/raise")

    assert response.status_code == 500
    assert b"Alice" not in response.data


def test_unexpected_exception_is_500_problem_without_leak(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a route that fails with a message containing an identity
    _add_route(app, "/api/test/boom", RuntimeError(SECRET_MESSAGE))
    caplog.set_level(logging.DEBUG, logger="escrow")

    # When
    response = app.test_client().get("/api/test/boom")

    # Then the body and the log name the request id and error class only
    assert response.status_code == 500
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["code"] == "internal-error"
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert b"Alice" not in response.data
    assert b"Traceback" not in response.data
    assert "Alice" not in caplog.text
    assert "RuntimeError" in caplog.text
    assert body["request_id"] in caplog.text


def test_unexpected_exception_on_html_page_is_500_page_without_leak(app: Flask) -> None:
    _add_route(app, "/test/boom", RuntimeError(SECRET_MESSAGE))

    response = app.test_client().get("/test/boom", headers={"Accept": "text/html"})

    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert b"Alice" not in response.data


def test_request_session_is_shared_within_a_request_and_closed_after(app: Flask) -> None:
    with app.test_request_context("/"):
        session = get_session()
        assert get_session() is session
        app.do_teardown_appcontext()
        assert get_session() is not session


def test_cookies_are_httponly_and_samesite_lax(app: Flask) -> None:
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["MAX_CONTENT_LENGTH"] == MAX_CONTENT_LENGTH


def test_secret_key_is_generated_into_keys_dir(app: Flask, settings: Settings) -> None:
    key_file = settings.keys_dir / "flask-secret-key"

    assert key_file.read_bytes() == app.config["SECRET_KEY"]
    assert len(app.config["SECRET_KEY"]) == 32


def test_create_app_without_settings_reads_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCROW_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    monkeypatch.setenv("ESCROW_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("ESCROW_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("ESCROW_LOG_ORIGIN", "escrow.test/log")  # outside dev mode, the default is refused

    app = create_app()

    assert app.config["SECRET_KEY"] == b"s" * 40
    # The secret key came from the environment, so no Flask key file was generated.
    assert not (tmp_path / "keys" / "flask-secret-key").exists()
    get_components(app).engine.dispose()


def test_flask_can_find_the_factory_on_the_package() -> None:
    import escrow

    assert escrow.create_app is create_app
    with pytest.raises(AttributeError):
        _ = escrow.no_such_attribute  # type: ignore[attr-defined]


def test_session_cookie_user_id_loads_no_user_yet(app: Flask) -> None:
    # Given a session cookie naming a user id (no accounts exist yet)
    from flask_login import current_user

    def whoami() -> str:
        return "authenticated" if current_user.is_authenticated else "anonymous"

    app.add_url_rule("/test/whoami", view_func=whoami)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1"

    # When / Then
    assert client.get("/test/whoami").data == b"anonymous"


def test_unmapped_escrow_error_builds_internal_problem_directly(app: Flask) -> None:
    from escrow.api.problems import problem_for_escrow_error

    with app.test_request_context("/api/x"):
        response = problem_for_escrow_error(ConfigError(SECRET_MESSAGE), request_id="r1")

    assert response.status_code == 500
    assert b"Alice" not in response.get_data()
