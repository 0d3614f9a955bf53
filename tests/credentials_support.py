"""Builders and fixtures for identity, registration and credential tests (issue 3).

Import the fixtures you need into a directory's conftest.py. Nothing here is a mock: the escrow key
comes from a real (in-process) DKG, identities from the real development OIDC provider, which the
escrow reaches through OIDC over an in-process WSGI transport.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import nacl.signing
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.test import Client

from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.config import parse_oprf_client_key, parse_oprf_nodes
from escrow.crypto.dkg import CeremonyParameters, Dealing, KeyShare, ThresholdPublicKey, finalise_ceremony
from escrow.crypto.holderfile import HolderSecrets
from escrow.httpkit import COMPONENTS_KEY, get_components
from escrow.identity.devidp import DevClient, DevIdentityProvider, DevUser
from escrow.identity.oidc import OidcProvider
from escrow.identity.registry import SINGLE_ISSUER_ID, IdentityProviders
from escrow.identity.transport import WsgiHttp
from escrow.services.dev_ceremony import record_simulated_ceremony, simulated_dealings
from escrow.services.platforms import PlatformInfo, create_api_key, register_platform
from escrow.services.transparency import LogSigner
from tests.oprf_support import CLIENT_KEY_ENV, NODES_ENV

IDP_ISSUER = "http://idp.test"
CLIENT_ID = "escrow-test"
CLIENT_SECRET = "test-client-secret-not-secret"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


TEST_CEREMONY_CONTEXT = "dev-issue-3-tests"  # the dev prefix: such a key cannot be reshared
TEST_HOLDERS = tuple(
    HolderSecrets(f"Holder {i}", bytes([i]) * 32, bytes([100 + i]) * 32, ()) for i in range(1, 6)
)
"""The five key-holders of the test key (fixed keys, so a test can sign as any of them)."""


@functools.cache
def _test_dealings() -> dict[int, Dealing]:
    return simulated_dealings(3, 5, TEST_CEREMONY_CONTEXT)


@functools.cache
def threshold_key() -> tuple[ThresholdPublicKey, dict[int, KeyShare]]:
    """A real 3-of-5 escrow key from an in-process ceremony (dealt once per test session)."""
    dealings = _test_dealings()
    params = CeremonyParameters(3, (1, 2, 3, 4, 5), b"escrow ceremony " + TEST_CEREMONY_CONTEXT.encode())
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    shares: dict[int, KeyShare] = {}
    for j in params.participants:
        shares[j], key = finalise_ceremony(
            params, j, broadcasts, {i: d.shares[j] for i, d in dealings.items()}
        )
    return key, shares


def make_log() -> LogSigner:
    """A transparency-log signer for services called directly in tests."""
    return LogSigner("escrow.test/log", nacl.signing.SigningKey(b"L" * 32))


def install_key(session: Session, *, log: LogSigner | None = None, now: datetime = NOW) -> ThresholdPublicKey:
    """Activates the test key as a real ceremony among TEST_HOLDERS would (issue 14: a key is sealed to
    only once its complete transcript is recorded and pinned in the log); returns it. Commits."""
    ceremony = record_simulated_ceremony(
        session,
        threshold=3,
        holders=TEST_HOLDERS,
        log=log or make_log(),
        now=now,
        context=TEST_CEREMONY_CONTEXT,
        dealings=_test_dealings(),
    )
    assert ceremony.key == threshold_key()[0]  # noqa: S101
    return ceremony.key


@functools.cache
def make_oprf() -> ThresholdOprfClient:
    """The threshold client for services called directly in tests, asking the suite's real nodes
    (tests/conftest.py starts them and names them in ESCROW_TEST_OPRF_NODES)."""
    nodes = parse_oprf_nodes(os.environ[NODES_ENV])
    seed = parse_oprf_client_key(os.environ[CLIENT_KEY_ENV], CLIENT_KEY_ENV)
    assert seed is not None  # noqa: S101 - the session fixture sets it
    return ThresholdOprfClient(nodes=[NodeEndpoint(i, u) for i, u in nodes], signing_seed=seed)


def add_platform(session: Session, platform_id: str = "forum", **policy: Any) -> PlatformInfo:
    return register_platform(
        session,
        platform_id=platform_id,
        name=f"{platform_id} platform",
        contact="abuse@example.org",
        redirect_uris=["https://example.org/cb"],
        log=make_log(),
        now=NOW,
        **policy,
    )


def add_api_key(session: Session, platform_id: str) -> str:
    return create_api_key(session, platform_id=platform_id, log=make_log(), now=NOW).api_key


@pytest.fixture
def escrow_key(db_session: Session) -> ThresholdPublicKey:
    return install_key(db_session)


@pytest.fixture
def dev_idp() -> DevIdentityProvider:
    idp = DevIdentityProvider(issuer=IDP_ISSUER, users=())
    idp.register_client(DevClient(CLIENT_ID, CLIENT_SECRET, ("http://escrow.test/account/oidc/callback",)))
    return idp


def make_oidc(dev_idp: DevIdentityProvider, provider_id: str = "test-idp") -> OidcProvider:
    return OidcProvider(
        provider_id=provider_id,
        label="the test identity provider",
        issuer=IDP_ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri="http://escrow.test/account/oidc/callback",
        http=WsgiHttp({IDP_ISSUER: dev_idp.wsgi_app}),
    )


@pytest.fixture
def oidc_app(app: Flask, dev_idp: DevIdentityProvider, db_session: Session) -> Flask:
    """The app trusting the test's development identity provider, with an escrow key installed."""
    install_key(db_session)
    # The provider whose callback is /account/oidc/callback is the ESCROW_OIDC_* one (SINGLE_ISSUER_ID).
    providers = IdentityProviders((make_oidc(dev_idp, SINGLE_ISSUER_ID),))
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(get_components(app), identity_providers=providers)
    return app


def sign_in(
    client: FlaskClient, dev_idp: DevIdentityProvider, user: DevUser, *, intent: str = "register"
) -> Any:
    """Runs the whole browser flow: escrow -> dev IdP login form -> escrow callback. Returns the
    callback's response."""
    dev_idp.add_user(user)
    start = client.get(f"/account/oidc/start?intent={intent}")
    assert start.status_code == 302, start.status_code
    authorize = urllib.parse.urlsplit(start.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == IDP_ISSUER
    form = dict(urllib.parse.parse_qsl(authorize.query))
    form["username"] = user.username
    back = Client(dev_idp.wsgi_app).post("/authorize", data=form)
    assert back.status_code == 303, back.status_code
    callback = urllib.parse.urlsplit(back.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")


@contextlib.contextmanager
def served_dev_idp(
    *, users: tuple[DevUser, ...], clients: tuple[DevClient, ...]
) -> Iterator[DevIdentityProvider]:
    """A development provider served over real loopback HTTP on a free port, as an outside party is."""
    # The issuer URL must name the port, so the server is bound first and the app mounted after.
    holder: dict[str, DevIdentityProvider] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["idp"].wsgi_app(env, start))
    idp = DevIdentityProvider(issuer=f"http://127.0.0.1:{server.server_port}", users=users)
    for client in clients:
        idp.register_client(client)
    holder["idp"] = idp
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        thread.join()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def log_in_over_http(authorize_url: str, username: str) -> str:
    """Logs in as ``username`` on a served provider's form (a browser's POST); returns where the
    provider redirects the browser back to (its 303 is not followed)."""
    parts = urllib.parse.urlsplit(authorize_url)
    form = dict(urllib.parse.parse_qsl(parts.query), username=username)
    opener = urllib.request.build_opener(_NoRedirect)
    endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
    with pytest.raises(urllib.error.HTTPError) as redirect:  # the 303 back to the escrow
        opener.open(endpoint, data=urllib.parse.urlencode(form).encode())
    with redirect.value:
        assert redirect.value.code == 303, redirect.value.code
        return str(redirect.value.headers["Location"])


def seed_revocable_credential(components: Any) -> tuple[str, str]:
    """Commits an escrow key, the "forum" platform, its API key and one person's credential through
    the services, on ``components``' own database; returns (API key, credential id)."""
    from escrow.identity.base import VerifiedIdentity
    from escrow.services.credentials import issue_credential
    from escrow.services.registration import register_person

    with components.session_factory() as session:
        install_key(session)
        add_platform(session)
        api_key = add_api_key(session, "forum")
        identity = VerifiedIdentity("oidc", "https://idp.example", "s-1", "Eve Example", "1999-12-31", "low")
        person = register_person(
            session, identity=identity, oprf=components.oprf, log=components.log, now=NOW
        )
        issued = issue_credential(
            session,
            person_id=person.account.id,
            platform_id="forum",
            secret=person.secret,
            keyring=components.keyring,
            issuer=components.settings.issuer_url,
            log=components.log,
            now=NOW,
        )
    return api_key, issued.credential_id
