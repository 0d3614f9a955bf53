"""Issue 17 finding 10: what changes rarely is cached per process (the JWKS, API-key lookups, the active
signing key) and the cache follows a change made in ANOTHER process at once (generation counters in the
database, escrow.services.read_cache); no pool pre-ping, a dropped connection is a 503 and then heals.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session

from escrow.app import create_app
from escrow.config import Settings
from escrow.httpkit import get_components
from escrow.services.read_cache import ReadCache
from escrow.services.signing_keys import active_signing_key, published_jwks, rotate_signing_key
from tests.credentials_support import NOW, add_api_key, add_platform, make_log

ESCROW = str(Path(sys.executable).with_name("escrow"))


@pytest.fixture
def instance(fresh_database_url: str, tmp_path: Path) -> Iterator[tuple[Flask, dict[str, str]]]:
    """An app on a committed database, and the environment another process needs to reach the same
    instance (database and keys)."""
    settings = Settings.for_tests(fresh_database_url, tmp_path / "keys", instance_path=tmp_path)
    app = create_app(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
    env.update(
        ESCROW_DATABASE_URL=fresh_database_url,
        ESCROW_KEYS_DIR=str(tmp_path / "keys"),
        ESCROW_INSTANCE_PATH=str(tmp_path),
        ESCROW_DEV_MODE="1",
    )
    yield app, env
    get_components(app).engine.dispose()


def _statements(app: Flask, table: str) -> list[str]:
    """Records every statement the app sends that names ``table``."""
    seen: list[str] = []

    @event.listens_for(get_components(app).engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if table in statement:
            seen.append(statement)

    return seen


def _in_another_process(env: dict[str, str], *args: str) -> None:
    subprocess.run(args, env=env, check=True, capture_output=True, timeout=120)


def test_finding_10_jwks_is_read_once_and_follows_a_rotation_in_another_process_at_once(
    instance: tuple[Flask, dict[str, str]],
) -> None:
    app, env = instance
    client = app.test_client()
    _in_another_process(env, ESCROW, "keys", "rotate")  # the first key
    reads = _statements(app, "FROM signing_keys")

    # Given the JWKS served twice: the second time without reading the keys again
    first = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert client.get("/.well-known/jwks.json").get_json()["keys"] == first
    assert len(reads) == 1, reads

    # When another process rotates the key
    _in_another_process(env, ESCROW, "keys", "rotate")

    # Then the very next answer of this process has the new key (the old one signed no credential, so
    # it is no longer published)
    after = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert len(reads) == 2, reads
    assert {k["kid"] for k in after}.isdisjoint(k["kid"] for k in first if k["kty"] == "OKP")


_REVOKE = """
import os, sys
from datetime import UTC, datetime
from escrow.bootstrap import build_components
from escrow.config import Settings
from escrow.services.platforms import revoke_api_key
components = build_components(Settings.from_env())
with components.session_factory() as session:
    revoke_api_key(
        session, platform_id=sys.argv[1], prefix=sys.argv[2], log=components.log, now=datetime.now(UTC)
    )
components.close()
"""


def test_finding_10_api_key_lookup_is_cached_and_a_revocation_in_another_process_refuses_it_at_once(
    instance: tuple[Flask, dict[str, str]],
) -> None:
    app, env = instance
    with get_components(app).session_factory() as session:
        add_platform(session, "forum")
        api_key = add_api_key(session, "forum")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}
    body = {"credential_ids": ["no-such-credential"]}
    lookups = _statements(app, "FROM platform_api_keys")

    # Given the key accepted twice, looked up in the database once
    for _ in range(2):
        assert client.post("/api/v1/credentials/status", json=body, headers=headers).status_code == 200
    assert len(lookups) == 1, lookups

    # And a wrong secret under the same (cached) prefix still refused
    forged = {"Authorization": f"Bearer {api_key[:-4]}AAAA"}
    assert client.post("/api/v1/credentials/status", json=body, headers=forged).status_code == 401

    # When another process revokes the key
    prefix = "_".join(api_key.split("_")[:2])  # esk_ and 10 letters; the secret may hold "_" too
    _in_another_process(env, sys.executable, "-c", _REVOKE, "forum", prefix)

    # Then this process refuses it on the very next request
    refused = client.post("/api/v1/credentials/status", json=body, headers=headers)
    assert refused.status_code == 401, refused.get_json()


def test_finding_10_active_signing_key_is_cached_until_a_rotation(
    db_session: Session, tmp_path: Path
) -> None:
    keyring = get_keyring(tmp_path)
    cache = ReadCache()
    log = make_log()
    # Given the active key read through the cache (the first read creates it, which moves the generation)
    active_signing_key(db_session, keyring, now=NOW, cache=cache)
    first = active_signing_key(db_session, keyring, now=NOW, cache=cache)
    assert active_signing_key(db_session, keyring, now=NOW, cache=cache) is first

    # When the key rotates, Then the cache gives the new key
    new_kid = rotate_signing_key(db_session, keyring, log=log, now=NOW)
    assert active_signing_key(db_session, keyring, now=NOW, cache=cache).kid == new_kid != first.kid


def test_finding_10_a_retired_key_leaves_the_cached_jwks_when_its_publication_ends(
    db_session: Session, tmp_path: Path
) -> None:
    keyring = get_keyring(tmp_path)
    cache = ReadCache()
    log = make_log()
    old = rotate_signing_key(db_session, keyring, log=log, now=NOW)
    db_session.execute(
        text("UPDATE signing_keys SET publish_until = :until WHERE kid = :kid"),
        {"until": NOW + timedelta(hours=1), "kid": old},
    )
    rotate_signing_key(db_session, keyring, log=log, now=NOW)
    # Given the JWKS with the retired key, cached
    assert old in {k["kid"] for k in published_jwks(db_session, now=NOW, cache=cache)["keys"]}

    # When its last credential has expired, Then the cached JWKS is read again, without it
    later = NOW + timedelta(hours=2)
    assert old not in {k["kid"] for k in published_jwks(db_session, now=later, cache=cache)["keys"]}


def get_keyring(tmp_path: Path) -> Any:
    from escrow.keystore import load_keyring

    return load_keyring(Settings.for_tests("sqlite://", tmp_path / "keys"))


def test_a_dropped_postgresql_connection_is_replaced_and_the_service_answers(
    fresh_database_url: str, tmp_path: Path
) -> None:
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (ESCROW_TEST_DATABASE_URL)")
    settings = Settings.for_tests(fresh_database_url, tmp_path / "keys", instance_path=tmp_path)
    app = create_app(dataclasses.replace(settings))
    client = app.test_client()
    try:
        # Given a pooled connection that served a request
        assert client.get("/.well-known/jwks.json").status_code == 200

        # When the database server drops every connection of the app (a restart, a failover)
        maintenance = create_engine(fresh_database_url, isolation_level="AUTOCOMMIT")
        with maintenance.connect() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        maintenance.dispose()
        assert dropped >= 1

        # Then the next request is served: the pool finds the dead connection and reconnects by itself
        met = client.get("/.well-known/jwks.json", headers={"Accept": "application/json"})
        assert met.status_code == 200, met.get_data(as_text=True)
        assert client.get("/.well-known/jwks.json").status_code == 200
    finally:
        get_components(app).engine.dispose()
