"""The light install (issue 12): `pip install escrow` gives the key-holder, officer, auditor and platform
tools without the server's dependencies. Installed for real into a fresh virtual environment."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import nacl.signing
import pytest
from sqlalchemy.orm import Session

from escrow.cli.dev_nodes import free_port
from escrow.config import Settings
from escrow.crypto.merkle import EMPTY_ROOT
from escrow.crypto.note import (
    add_signature_lines,
    format_checkpoint,
    parse_cosigner_vkey,
    sign_note,
    verifier_key_string,
    verify_cosignatures,
)
from escrow.identity.base import VerifiedIdentity
from escrow.keystore import load_keyring
from escrow.protocol.witness import AddCheckpoint
from escrow.services.credentials import issue_credential
from escrow.services.registration import register_person
from escrow.services.signing_keys import published_jwks
from tests.credentials_support import NOW, add_platform, escrow_key, make_log, make_oprf

__all__ = ["escrow_key"]  # a fixture used below

PROJECT = Path(__file__).resolve().parents[1]
ISSUER = "http://escrow.test"
SERVER_ONLY = ("flask", "flask_login", "sqlalchemy", "alembic", "psycopg", "gunicorn", "authlib", "argon2")

# Runs inside the light environment: an SDK verification, offline, from a JWKS and a token on stdin.
_VERIFY = """
import json, sys
from datetime import datetime
from escrow.client.verifier import CredentialVerifier, StaticKeys
data = json.load(sys.stdin)
verifier = CredentialVerifier(issuer=data["issuer"], platform_id="forum", keys=StaticKeys(data["jwks"]))
credential = verifier.verify(data["token"], now=datetime.fromisoformat(data["now"]))
print(json.dumps({"pseudonym": credential.pseudonym, "envelope_digest": credential.envelope_digest}))
"""

_IMPORTABLE = """
import importlib.util, json, sys
print(json.dumps({name: importlib.util.find_spec(name) is not None for name in sys.argv[1:]}))
"""


@pytest.fixture(scope="module")
def light_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with `pip install <project>` and no extras."""
    return _install(tmp_path_factory, "light", "")


@pytest.fixture(scope="module")
def witness_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with `pip install '<project>[witness]'` (issue 15)."""
    return _install(tmp_path_factory, "witness", "[witness]")


def _install(tmp_path_factory: pytest.TempPathFactory, name: str, extra: str) -> Path:
    home = tmp_path_factory.mktemp(name)
    venv.create(home / "venv", with_pip=True)
    python = home / "venv" / "bin" / "python"
    # A copy of the sources, so the build leaves nothing in the working tree.
    source = home / "src"
    subprocess.run(
        [sys.executable, "-c", _COPY, str(PROJECT), str(source)], check=True, capture_output=True, text=True
    )
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{source}{extra}"], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    return home / "venv" / "bin"


_COPY = """
import shutil, subprocess, sys
from pathlib import Path
project, target = Path(sys.argv[1]), Path(sys.argv[2])
names = subprocess.run(["git", "-C", str(project), "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], check=True, capture_output=True).stdout.split(b"\\0")
for name in filter(None, names):
    path = project / name.decode()
    if path.is_file():
        (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / name.decode())
"""


def _run(bin_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_light_install_has_none_of_the_server_dependencies(light_env: Path) -> None:
    result = _run(
        light_env, "python", "-c", _IMPORTABLE, *SERVER_ONLY, "nacl", "cryptography", "click", "rbcl"
    )

    found = json.loads(result.stdout)
    assert {name for name, present in found.items() if present} == {"nacl", "cryptography", "click", "rbcl"}


@pytest.mark.parametrize(
    "command",
    [
        ("keyholder", "--help"),
        ("audit", "verify", "--help"),
        ("officer", "--help"),
        ("ceremony", "verify", "--help"),
    ],
)
def test_client_commands_run_from_the_light_install(light_env: Path, command: tuple[str, ...]) -> None:
    result = _run(light_env, "escrow", *command)

    assert result.returncode == 0, result.stderr
    assert "Usage: escrow" in result.stdout


def test_a_server_command_on_the_light_install_names_the_extra_to_install(light_env: Path) -> None:
    result = _run(light_env, "escrow", "run")

    assert result.returncode == 1
    assert "pip install 'escrow[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def _credential(session: Session, keys_dir: Path, subject: str) -> tuple[dict[str, object], str, str]:
    """Issues a credential through the service; returns the verification request, pseudonym, digest."""
    add_platform(session)
    identity = VerifiedIdentity("oidc", "https://idp.example", subject, "Eve Example", "1999-12-31", "low")
    person = register_person(session, identity=identity, oprf=make_oprf(), log=make_log(), now=NOW)
    issued = issue_credential(
        session,
        person_id=person.account.id,
        platform_id="forum",
        secret=person.secret,
        keyring=load_keyring(Settings.for_tests("sqlite://", keys_dir)),
        issuer=ISSUER,
        log=make_log(),
        now=NOW,
    )
    request = {
        "issuer": ISSUER,
        "jwks": published_jwks(session, now=NOW),
        "token": issued.token,
        "now": NOW.isoformat(),
    }
    return request, issued.pseudonym, issued.envelope_digest


@pytest.mark.usefixtures("escrow_key")
def test_sdk_verifies_a_real_credential_in_the_light_install(
    light_env: Path, db_session: Session, tmp_path: Path
) -> None:
    # Given a credential issued by the service
    request, pseudonym, digest = _credential(db_session, tmp_path / "keys", "light")

    # When the platform verifies it with the SDK of the light install
    result = _run(light_env, "python", "-c", _VERIFY, stdin=json.dumps(request))

    # Then it gets the pseudonym and envelope digest the service issued
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"pseudonym": pseudonym, "envelope_digest": digest}


@pytest.mark.usefixtures("escrow_key")
def test_sdk_in_the_light_install_refuses_a_tampered_credential(
    light_env: Path, db_session: Session, tmp_path: Path
) -> None:
    request, _, _ = _credential(db_session, tmp_path / "keys", "tamper")
    header, claims, signature = str(request["token"]).split(".")
    flipped = "B" if signature[0] == "A" else "A"
    request["token"] = f"{header}.{claims}.{flipped}{signature[1:]}"

    result = _run(light_env, "python", "-c", _VERIFY, stdin=json.dumps(request))

    assert result.returncode == 1
    assert "BadSignatureError" in result.stderr


def test_the_witness_install_has_flask_and_gunicorn_but_none_of_the_server_dependencies(
    witness_env: Path,
) -> None:
    result = _run(witness_env, "python", "-c", _IMPORTABLE, *SERVER_ONLY)

    found = json.loads(result.stdout)
    assert {name for name, present in found.items() if present} == {"flask", "gunicorn"}


def test_a_witness_from_the_witness_install_serves_and_cosigns(witness_env: Path, tmp_path: Path) -> None:
    log_key = nacl.signing.SigningKey(bytes(32))
    port = free_port()
    key = _run(
        witness_env, "escrow", "witness", "key", "--name", "w.test/a", "--key-file", str(tmp_path / "k")
    )
    assert key.returncode == 0, key.stderr
    witness = subprocess.Popen(  # noqa: S603 - our own command
        [
            str(witness_env / "escrow"),
            "witness",
            "serve",
            "--name",
            "w.test/a",
            "--key-file",
            str(tmp_path / "k"),
            "--data-dir",
            str(tmp_path / "data"),
            "--log",
            verifier_key_string("log.test/a", log_key.verify_key),
            "--port",
            str(port),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        note = sign_note(format_checkpoint("log.test/a", 0, EMPTY_ROOT), "log.test/a", log_key)
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"http://127.0.0.1:{port}/add-checkpoint",
            data=AddCheckpoint(0, (), note).to_bytes(),
            method="POST",
        )
        for _ in range(100):
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310 - loopback
                    line = answer.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        cosigner = parse_cosigner_vkey(key.stdout.strip())
        assert set(verify_cosignatures(add_signature_lines(note, [line]), [cosigner])) == {"w.test/a"}
    finally:
        witness.terminate()
        witness.wait(timeout=10)
