"""Browser fixtures: Debian's Chromium through pytest-playwright, a live portal per test, and guards that
fail a test on any console error or any request leaving 127.0.0.1/localhost.

The whole directory is skipped, with one plain reason, when /usr/bin/chromium is missing. Playwright's own
browser downloads are never used (`playwright install` cannot download anything here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import (
    CHROMIUM,
    SKIP_REASON,
    STEP_TIMEOUT_MS,
    Portal,
    chromium_args,
    is_loopback,
    page_problems,
    running_portal,
)
from tests.oprf_support import OprfNetwork


@pytest.fixture(scope="session", autouse=True)
def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": chromium_args(),
        "timeout": 30_000,
    }


@pytest.fixture
def portal(tmp_path: Path, oprf_network: OprfNetwork) -> Iterator[Portal]:
    """The app on 127.0.0.1 over its own committed database, dev IdP on, an escrow key active."""
    with running_portal(tmp_path, network=oprf_network) as portal:
        yield portal


@pytest.fixture(autouse=True)
def browser_problems(page: Any) -> Iterator[list[str]]:
    """Every test: a short timeout per step, and afterwards no console error and no outside request.

    Yields the list of problems seen so far (on `page` and on every page from `new_page`); a test that
    provokes one on purpose (an error status) removes exactly that entry.
    """
    problems: list[str] = []
    guard(page, problems)
    yield problems
    assert problems == []


@pytest.fixture
def new_page(browser: Any, browser_problems: list[str]) -> Iterator[Callable[[], Any]]:
    """Opens a page in a new browser context (another person's browser: its own cookies), under the
    same guards as `page`; its problems land in browser_problems."""
    contexts: list[Any] = []

    def open_new() -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        guard(page, browser_problems)
        return page

    yield open_new
    for context in contexts:
        context.close()


def guard(page: Any, problems: list[str]) -> None:
    """Sets the step timeouts on `page` and records into `problems` every console error, page error and
    request leaving localhost (that request is aborted) in its browser context."""
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.set_default_navigation_timeout(STEP_TIMEOUT_MS)
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def _route(route: Any) -> None:
        if is_loopback(route.request.url):
            route.continue_()
        else:
            problems.append(f"request left localhost: {route.request.url}")
            route.abort()

    page.context.route("**/*", _route)


@pytest.fixture
def visit(page: Any, portal: Portal):  # type: ignore[no-untyped-def]
    """Opens a path on the portal and checks the page: answered < 400, <title>, <h1>, labelled controls."""

    def go(path: str) -> Any:
        response = page.goto(portal.url + path)
        assert response is not None
        assert response.status < 400, f"{path}: {response.status}"
        check_page(page)
        return page

    return go


def check_page(page: Any) -> None:
    assert page_problems(page) == [], page.url
