"""Privacy (issue 3): after many people register through the real HTTP flow, no byte of the database,
the SQLite file or the log lines holds a name, birthdate, document number or identity-provider
subject; and the database plus every server key opens no envelope."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, select

from escrow.app import create_app
from escrow.config import Settings
from escrow.crypto.dkg import KeyShare, ThresholdPublicKey
from escrow.crypto.errors import CryptoError
from escrow.crypto.group import Point, Scalar
from escrow.crypto.seal import (
    Envelope,
    IdentitySeal,
    SealKey,
    combine_and_open,
    partial_decrypt,
    reseal,
)
from escrow.crypto.transcript import b64u_decode
from escrow.db import upgrade_database
from escrow.httpkit import get_components
from escrow.identity.devidp import DevUser
from escrow.models import Credential, Person
from escrow.services.platforms import create_api_key, register_platform
from escrow.services.staff import create_staff
from tests.conftest import csrf_token_from
from tests.credentials_support import install_key, threshold_key
from tests.oprf_support import OprfNetwork

PEOPLE = [
    DevUser(f"user{i}", f"Quentin{i} Privacyson{i}", f"19{50 + i}-0{1 + i % 9}-1{i % 10}") for i in range(12)
]
DOCUMENTS = [
    ("FIN", f"QZ{700000 + i}", f"Rosalind{i} Documentova{i}", f"18{i % 10}0-11-2{i % 10}".replace("18", "19"))
    for i in range(4)
]
OFFICER_PASSWORD = "officer password long enough"


def _dev_subject(username: str) -> str:
    # The development provider's subject for a user (escrow/identity/devidp.py): the IdP's secret-ish id.
    return "dev-" + hashlib.sha256(username.encode()).hexdigest()[:16]


@pytest.fixture
def escrow_app(tmp_path: Path, oprf_network: OprfNetwork) -> Iterator[tuple[Flask, str, Path]]:
    """A production-like app on its own SQLite file, with the development identity provider mounted
    and the suite's OPRF nodes' key installed."""
    url = f"sqlite:///{tmp_path / 'privacy.sqlite3'}"
    upgrade_database(url)
    oprf_network.install(url)
    settings = dataclasses.replace(
        Settings.for_tests(url, tmp_path / "keys", instance_path=tmp_path), dev_idp_enabled=True
    )
    app = create_app(settings)
    yield app, url, tmp_path
    get_components(app).engine.dispose()


def _register_by_provider(client: FlaskClient, user: DevUser) -> None:
    start = client.get("/account/oidc/start?intent=register")
    authorize = urllib.parse.urlsplit(start.headers["Location"])
    assert authorize.path == "/dev-idp/authorize"  # the provider mounted only because ESCROW_DEV_IDP=1
    form = dict(urllib.parse.parse_qsl(authorize.query))
    form["username"] = user.username
    back = client.post("/dev-idp/authorize", data=form)
    callback = urllib.parse.urlsplit(back.headers["Location"])
    assert client.get(f"{callback.path}?{callback.query}").status_code == 302


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def _every_stored_byte(app: Flask) -> bytes:
    """Every value of every column of every table, as bytes."""
    extension = get_components(app)
    metadata = MetaData()
    metadata.reflect(extension.engine)
    chunks: list[bytes] = []
    with extension.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


def _secrets(term: str) -> list[bytes]:
    # The plain UTF-8 form, and as JSON would escape it (the same for ASCII test data).
    return [term.encode(), json.dumps(term).encode()[1:-1]]


def test_no_identity_at_rest_or_in_logs_and_server_keys_open_no_envelope(
    escrow_app: tuple[Flask, str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    app, _url, tmp_path = escrow_app
    caplog.set_level(logging.DEBUG)
    extension = get_components(app)
    dev_idp = extension.identity_providers.dev_idp
    assert dev_idp is not None
    now = datetime.now(UTC)

    # Given an escrow key, two platforms, an officer, and people registered through HTTP
    with extension.session_factory() as session:
        key = install_key(session, log=extension.log, now=now)
        _, shares = threshold_key()
        for platform_id in ("forum", "market"):
            register_platform(
                session,
                platform_id=platform_id,
                name=platform_id.title(),
                contact="abuse@example.org",
                redirect_uris=["https://example.org/cb"],
                log=extension.log,
                now=now,
            )
        api_key = create_api_key(session, platform_id="forum", log=extension.log, now=now).api_key
        create_staff(
            session,
            extension.password_hasher,
            extension.log,
            username="olga",
            display_name="Olga Officer",
            organisation="Town hall",
            roles=["verification_officer"],
            password=OFFICER_PASSWORD,
            now=now,
        )
    for user in PEOPLE:
        dev_idp.add_user(user)
        client = app.test_client()
        _register_by_provider(client, user)
        for platform_id in ("forum", "market"):
            issued = client.post(
                "/api/v1/me/credentials", json={"platform_id": platform_id}, headers=_csrf(client)
            )
            assert issued.status_code == 201
            if platform_id == "forum":
                token = issued.get_json()["credential"]
                verified = client.post(
                    "/api/v1/credentials/verify",
                    json={"credential": token},
                    headers={"Authorization": f"Bearer {api_key}"},
                )
                assert verified.status_code == 200
    officer = app.test_client()
    login_page = officer.get("/login").get_data(as_text=True)
    officer.post(
        "/login",
        data={"username": "olga", "password": OFFICER_PASSWORD, "csrf_token": csrf_token_from(login_page)},
    )
    for country, number, name, birthdate in DOCUMENTS:
        registered = officer.post(
            "/api/v1/officer/persons",
            json={
                "document_type": "passport",
                "issuing_country": country,
                "document_number": number,
                "name": name,
                "birthdate": birthdate,
                "password": "person password long enough",
            },
            headers=_csrf(officer),
        )
        assert registered.status_code == 201
    # A refused registration (a duplicate) must not leak either.
    assert (
        officer.post(
            "/api/v1/officer/persons",
            json={
                "document_type": "passport",
                "issuing_country": DOCUMENTS[0][0],
                "document_number": DOCUMENTS[0][1],
                "name": DOCUMENTS[0][2],
                "birthdate": DOCUMENTS[0][3],
                "password": "person password long enough",
            },
            headers=_csrf(officer),
        ).status_code
        == 409
    )

    # When we read every byte the server keeps
    stored = _every_stored_byte(app)
    files = b"".join(p.read_bytes() for p in tmp_path.glob("privacy.sqlite3*"))
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    forbidden = [
        *(t for u in PEOPLE for t in (u.name, u.birthdate, _dev_subject(u.username))),
        *(t for d in DOCUMENTS for t in (d[1], d[2], d[3])),
    ]

    # Then no identity appears anywhere
    with extension.session_factory() as session:
        assert len(session.scalars(select(Person)).all()) == len(PEOPLE) + len(DOCUMENTS)
        envelopes = [Envelope.from_bytes(c.envelope) for c in session.scalars(select(Credential))]
        seals = [IdentitySeal.from_dict(json.loads(p.identity_seal)) for p in session.scalars(select(Person))]
    assert len(envelopes) == 2 * len(PEOPLE)
    # Control: the scan does see what is stored (pseudonyms and API key prefixes are there).
    assert token.split(".")[1].encode() not in stored  # credentials themselves are never stored
    assert json.loads(b64u_decode(token.split(".")[1]))["sub"].encode() in stored
    assert api_key.split("_")[1].encode() in stored
    for term in forbidden:
        for form in _secrets(term):
            assert form not in stored, f"database holds {term!r}"
            assert form not in files, f"SQLite file holds {term!r}"
            assert form not in logged, f"log lines hold {term!r}"

    # ... and no server key opens any envelope when used as the escrow private key
    server_keys = [p.read_bytes() for p in (tmp_path / "keys").iterdir() if p.is_file()]
    assert len(server_keys) >= 4  # flask, TOTP, log signing, credential signing (no person/pseudonym key)
    server_keys.append(extension.keyring.oprf_client_seed)  # from the environment in the suite
    request_digest = b"\x00" * 32
    targets = envelopes
    for secret in server_keys:
        # ... nor is any server key a person's seal key: wrapped under it, no stored seal opens even
        # with the escrow key's real shares (issue 14: seal keys come only from each person's secret)
        for material in (hashlib.sha512(secret).digest(), secret.ljust(64, b"\0")[:64]):
            for identity_seal in seals[:3]:
                wrapped = reseal(key, SealKey(material), identity_seal, {"platform": "x", "pseudonym": "y"})
                partials = [partial_decrypt(shares[j], wrapped, request_digest) for j in (1, 2, 3)]
                with pytest.raises(CryptoError):
                    combine_and_open(key, wrapped, request_digest, partials)
        candidate = Scalar.reduce(hashlib.sha512(secret).digest())
        for raw in (candidate, Scalar.reduce(secret.ljust(64, b"\0")[:64])):
            fake_key = ThresholdPublicKey(
                threshold=1, public_key=key.public_key, verification_keys={1: Point.base_times(raw)}
            )
            for envelope in targets[:6]:
                partial = partial_decrypt(KeyShare(1, raw), envelope, request_digest)
                with pytest.raises(CryptoError):
                    combine_and_open(fake_key, envelope, request_digest, [partial])
