"""DEVELOPMENT ONLY: seed a demonstration instance once (issue 8).

In development mode, on first start (after the development escrow key: services/dev_ceremony.py),
`seed_demo_instance` creates one platform (with an API key and a login for the platform's own staff),
an administrator, a verification officer, two legal officers in different organisations (each with an
officer signing key file under <keys>/dev-officers/, certified by its organisation's key under
<keys>/dev-orgs/ and recorded by the administrator) and a court with a signing key; the development
key-holders sign the roster that lists the court and both organisations (issue 16), so the holders'
tools accept the demo's officers and court. The legal officers are enrolled with generated TOTP
secrets (the second factor a real officer enrols at first sign-in). Every password and TOTP secret is
generated; the logins, API key and passphrase go into 0600 files under <keys>/ and are never written to
the repository or the log. Outside development mode it does nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import argon2
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.crypto.disclosure import (
    OfficerSecrets,
    encrypt_officer_key,
    new_officer_secrets,
    public_key,
    sign_roster,
)
from escrow.crypto.holderfile import decrypt_holder_file
from escrow.crypto.transcript import b64u_encode
from escrow.errors import ConfigError
from escrow.keystore import ensure_keys_dir, read_secret_file, write_secret_file
from escrow.models import STAFF_ROLE_PLATFORM, KeyHolder, StaffAccount
from escrow.protocol.roster import OfficerCertificate
from escrow.services import totp
from escrow.services.dev_ceremony import DEV_HOLDERS_DIR
from escrow.services.dev_ceremony import PASSPHRASE_FILE as HOLDER_PASSPHRASE_FILE
from escrow.services.disclosure import add_court, record_officer_certificate
from escrow.services.platforms import create_api_key, register_platform
from escrow.services.roster import propose_roster
from escrow.services.roster import sign_roster as sign_roster_version
from escrow.services.staff import StaffView, create_staff, enrol_totp
from escrow.services.transparency import LogSigner

LOGINS_FILE = "dev-logins.json"
OFFICERS_DIR = "dev-officers"
PASSPHRASE_FILE = "PASSPHRASE"  # noqa: S105 - a file name
COURT_SEED_FILE = "dev-court.seed"
DEMO_PLATFORM = "demo-forum"
DEMO_PLATFORM_LOGIN = "forum"  # the platform's own staff (issue 8)
DEMO_REDIRECT_URI = "http://127.0.0.1:8000/callback"
COURT_NAME = "District Court of Demonstration"
COURT_JURISDICTION = "DEMO"
# username, display name, organisation, role
STAFF = (
    ("admin", "Demo Administrator", "Escrow Operator", "admin"),
    ("verifier", "Demo Verification Officer", "Escrow Operator", "verification_officer"),
    ("alice", "Alice Officer", "Demo Forum Legal", "legal_officer"),
    ("bob", "Bob Prosecutor", "Public Prosecution Service", "legal_officer"),
    (DEMO_PLATFORM_LOGIN, "Demo Forum Staff", "Demo Forum", "platform"),  # manages DEMO_PLATFORM only
)
OFFICERS = ("alice", "bob")
ORGS_DIR = "dev-orgs"
CERTIFICATE_VALIDITY = timedelta(days=365)


def read_seed_record(keys_dir: Path) -> dict[str, Any]:
    """Returns what seed_demo_instance wrote to <keys_dir>/dev-logins.json (the demo and `escrow
    dev-code` read it). Raises ConfigError if the file is missing, unsafe or not the seed's JSON."""
    path = keys_dir / LOGINS_FILE
    if not path.is_file():
        raise ConfigError(
            f"no seeded logins in {path}; start the server with ESCROW_DEV_MODE=1 "
            "(make run) and pass its keys directory with --keys-dir"
        )
    try:
        record = json.loads(read_secret_file(path))
    except ValueError as e:
        raise ConfigError(f"{path} is not JSON") from e
    if not isinstance(record, dict) or not isinstance(record.get("staff"), list):
        raise ConfigError(f"{path} is not a record of seeded logins")
    return record


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What seed_demo_instance made: the logins (shown once) and where its files are."""

    logins: dict[str, str]
    totp_secrets: dict[str, str]
    platform: str
    logins_file: Path
    officers_dir: Path
    court_seed_file: Path


def _org_seed(keys_dir: Path, organisation: str) -> bytes:
    """The development organisation's certifying key, in <keys>/dev-orgs/ (made once)."""
    directory = keys_dir / ORGS_DIR
    ensure_keys_dir(directory)
    path = directory / ("".join(c if c.isalnum() else "-" for c in organisation.lower()) + ".seed")
    if not path.exists():
        write_secret_file(path, secrets.token_bytes(32))
    return read_secret_file(path)


def _sign_dev_roster(
    session: Session,
    settings: Settings,
    court_seed: bytes,
    officers: dict[str, OfficerSecrets],
    views: dict[str, StaffView],
    *,
    log: LogSigner,
    now: datetime,
) -> None:
    """The development instance's roster (issue 16): the demo court and the officers' organisations,
    signed by the development key-holders with their holder files, and each officer's key certified by
    their organisation and recorded. In production each holder signs with `escrow keyholder roster sign`
    and each organisation certifies on its own machine; here one process holds every key."""
    organisations = {org for username, _, org, _ in STAFF if username in officers}
    seeds = {org: _org_seed(settings.keys_dir, org) for org in sorted(organisations)}
    document = propose_roster(
        session,
        courts=[
            {
                "name": COURT_NAME,
                "jurisdiction": COURT_JURISDICTION,
                "public_key": b64u_encode(public_key(court_seed)),
            }
        ],
        organisations=[
            {"name": org, "public_key": b64u_encode(public_key(seed)), "may_submit": True, "may_cosign": True}
            for org, seed in seeds.items()
        ],
        log=log,
        now=now,
    )
    holders_dir = settings.keys_dir / DEV_HOLDERS_DIR
    passphrase = read_secret_file(holders_dir / HOLDER_PASSPHRASE_FILE).decode().strip()
    holder_ids = {row.signing_key: row.id for row in session.scalars(select(KeyHolder))}
    for path in sorted(holders_dir.glob("holder-*.escrow")):
        holder = decrypt_holder_file(read_secret_file(path), passphrase)
        key = public_key(holder.signing_seed)
        if key not in holder_ids:
            continue
        sign_roster_version(
            session,
            holder_id=holder_ids[key],
            version=document.roster.version,
            signature_b64=b64u_encode(sign_roster(holder.signing_seed, document.roster.digest())),
            log=log,
            now=now,
        )
    for username, officer in officers.items():
        organisation = next(org for u, _, org, _ in STAFF if u == username)
        record = OfficerCertificate(
            username=username,
            organisation=organisation,
            officer_key=b64u_encode(officer.public_key),
            not_before=now,
            not_after=now + CERTIFICATE_VALIDITY,
        ).signed(seeds[organisation])
        record_officer_certificate(
            session,
            actor=views["admin"],
            certificate=record["certificate"],
            signature_b64=record["signature"],
            log=log,
            now=now,
        )


def seed_demo_instance(
    session: Session,
    settings: Settings,
    *,
    hasher: argon2.PasswordHasher,
    log: LogSigner,
    totp_key: bytes,
    now: datetime,
) -> SeedReport | None:
    """Seeds the demonstration accounts once, in development mode only, and commits.

    Returns None (and does nothing) outside development mode, when the logins file exists, or when the
    instance already has staff accounts (it is not a fresh instance). Raises FileExistsError if an old
    officer key file is in the way.
    """
    if not settings.dev_mode:
        return None
    keys_dir = settings.keys_dir
    logins_file = keys_dir / LOGINS_FILE
    if logins_file.exists() or session.scalars(select(StaffAccount.id)).first() is not None:
        return None
    ensure_keys_dir(keys_dir)
    officers_dir = keys_dir / OFFICERS_DIR
    ensure_keys_dir(officers_dir)
    logins = {username: secrets.token_urlsafe(18) for username, *_ in STAFF}
    # The platform first: its staff login is bound to it.
    register_platform(
        session,
        platform_id=DEMO_PLATFORM,
        name="Demo Forum",
        contact="abuse@demo-forum.example",
        redirect_uris=[DEMO_REDIRECT_URI],
        log=log,
        now=now,
    )
    views = {}
    for username, display_name, organisation, role in STAFF:
        views[username] = create_staff(
            session,
            hasher,
            log,
            username=username,
            display_name=display_name,
            organisation=organisation,
            roles=(role,),
            password=logins[username],
            now=now,
            platform_id=DEMO_PLATFORM if role == STAFF_ROLE_PLATFORM else None,
        )
    totp_secrets = {username: totp.new_secret() for username in OFFICERS}
    previous_step = totp.current_step(now) - 1
    for username, secret in totp_secrets.items():
        # Enrolled with the previous step's code, so a demo run right after start can use the current one.
        enrol_totp(
            session,
            log,
            totp_key,
            staff_id=views[username].id,
            secret=secret,
            code=totp.code_at(secret, previous_step),
            now=now,
        )
    passphrase = secrets.token_urlsafe(18)
    write_secret_file(officers_dir / PASSPHRASE_FILE, (passphrase + "\n").encode())
    officers = {username: new_officer_secrets(username) for username in OFFICERS}
    for username, officer in officers.items():
        write_secret_file(
            officers_dir / f"{username}.key",
            encrypt_officer_key(
                officer,
                passphrase,
                opslimit=settings.holderfile_opslimit,
                memlimit=settings.holderfile_memlimit,
            ),
        )
    court_seed = secrets.token_bytes(32)
    court_seed_file = keys_dir / COURT_SEED_FILE
    write_secret_file(court_seed_file, court_seed)
    court = add_court(
        session,
        name=COURT_NAME,
        jurisdiction=COURT_JURISDICTION,
        public_key_b64=b64u_encode(public_key(court_seed)),
        log=log,
        now=now,
    )
    _sign_dev_roster(session, settings, court_seed, officers, views, log=log, now=now)
    api_key = create_api_key(session, platform_id=DEMO_PLATFORM, log=log, now=now).api_key
    session.commit()
    record = {
        "staff": [
            {"username": u, "password": logins[u], "organisation": org, "role": role}
            | ({"totp_secret": totp_secrets[u]} if u in totp_secrets else {})
            | ({"platform": DEMO_PLATFORM} if role == STAFF_ROLE_PLATFORM else {})
            for u, _, org, role in STAFF
        ],
        "platform": {"id": DEMO_PLATFORM, "api_key": api_key, "redirect_uri": DEMO_REDIRECT_URI},
        "court": {"id": court.id, "name": COURT_NAME, "seed_file": COURT_SEED_FILE},
        "officers": {u: f"{OFFICERS_DIR}/{u}.key" for u in OFFICERS},
        "officer_passphrase_file": f"{OFFICERS_DIR}/{PASSPHRASE_FILE}",
    }
    write_secret_file(logins_file, (json.dumps(record, indent=2) + "\n").encode())
    return SeedReport(logins, totp_secrets, DEMO_PLATFORM, logins_file, officers_dir, court_seed_file)
