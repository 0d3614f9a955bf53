"""Schemathesis over /openapi.json against a real server (issues 17 and 19): every operation, with a
signed-in person's session cookie (and its CSRF token) and the seeded platform's API key, must never
answer 5xx and never answer a status its operation does not document.

The server is `escrow serve` (gunicorn, two workers) in development mode: its own OPRF nodes,
witnesses, identity provider and seeded accounts, on PostgreSQL when ESCROW_TEST_DATABASE_URL is set
(with Redis for sessions and rate limits when ESCROW_TEST_REDIS_URL is), else on SQLite.

Bounded and reproducible: at most FUZZ_EXAMPLES generated examples per operation (ESCROW_FUZZ_EXAMPLES
overrides it; schemathesis adds its explicit and boundary cases), derandomised Hypothesis (the same
cases every run), no example database. `make fuzz` runs it; the
default suite skips it (ESCROW_FUZZ is unset), so CI runs it once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from escrow.cli.demo import Browser, _person_signs_in
from escrow.identity.devidp import DEMO_USERS
from escrow.services.dev_seed import LOGINS_FILE
from tests.gunicorn_support import ServedInstance, served_by_gunicorn

FUZZ_ENV = "ESCROW_FUZZ"
FUZZ_EXAMPLES = int(os.environ.get("ESCROW_FUZZ_EXAMPLES", "100"))
_CASES: list[str] = []

pytestmark = pytest.mark.skipif(
    os.environ.get(FUZZ_ENV) != "1", reason="the bounded schemathesis run: make fuzz (ESCROW_FUZZ=1)"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedInstance]:
    from tests.conftest import _new_database

    folder = tmp_path_factory.mktemp("fuzz")
    extra = {}
    redis_url = os.environ.get("ESCROW_TEST_REDIS_URL")
    if redis_url and os.environ.get("ESCROW_TEST_DATABASE_URL"):
        extra = {"ESCROW_RATELIMIT_STORAGE_URI": redis_url, "ESCROW_SESSION_STORE_URI": redis_url}
    with (
        _new_database(folder, migrate=False) as database_url,
        served_by_gunicorn(folder, workers=2, database_url=database_url, extra_env=extra) as instance,
    ):
        yield instance


@pytest.fixture(scope="module")
def credentials(served: ServedInstance) -> dict[str, str]:
    """A person signed in through the development identity provider (their session cookie and CSRF
    token) and the seeded platform's API key."""
    browser = Browser(served.url)
    _person_signs_in(browser, DEMO_USERS[0].username)
    cookies = {cookie.name: cookie.value for cookie in browser.jar}
    seeded = json.loads((served.keys_dir / LOGINS_FILE).read_text())
    return {
        "cookie": f"session={cookies['session']}",
        "csrf": browser.csrf(),
        "api_key": seeded["platform"]["api_key"],
    }


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def api(served: ServedInstance) -> Any:
    # Loaded as a document, not from its URL: schemathesis leaves out the operation that serves the
    # document it was loaded from, and GET /openapi.json is one of ours.
    document = requests.get(served.url + "/openapi.json", timeout=30).json()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.update(base_url=served.url)
    # Authentication is ours to send (below), not random security parameters.
    loaded.config.generation.update(with_security_parameters=False)
    return loaded


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_an_undocumented_status(
    case: Any, credentials: dict[str, str], http: requests.Session, served: ServedInstance
) -> None:
    headers = {"Cookie": credentials["cookie"], "X-CSRFToken": credentials["csrf"]}
    security = case.operation.definition.raw.get("security") or []
    if any("platformApiKey" in requirement for requirement in security):
        headers["Authorization"] = f"Bearer {credentials['api_key']}"
    _CASES.append(case.operation.label)
    case.call_and_validate(
        session=http,
        headers={**headers, **(case.headers or {})},
        checks=[not_a_server_error, status_code_conformance],
        timeout=30,
    )


def test_every_documented_operation_was_fuzzed(served: ServedInstance) -> None:
    """Runs after the fuzz test (file order): each operation of the document got cases. Prints how
    many cases ran over how many operations (the figures docs/api.md quotes)."""
    document = requests.get(served.url + "/openapi.json", timeout=30).json()
    documented = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    print(f"\nfuzz: {len(_CASES)} cases over {len(set(_CASES))} of {len(documented)} operations")

    assert sorted(documented - set(_CASES)) == []
