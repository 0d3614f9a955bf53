"""Builders for disclosure tests (issue 6): a whole world through the real services, API and tools.

Five key-holders enrol and run a real 3-of-5 ceremony through the HTTP API; a person registers in
person and gets a credential; legal officers make their keys with the officer-key code and register
them; a court with a signing key is registered. Every holder signs the roster (the court, and each
officers' organisation with its key), and each organisation certifies its officers' keys (issue 16).
Nothing is mocked.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.client.disclosure import (
    CheckedRequest,
    approve,
    establish_checkpoint,
    extension_summary,
    fetch_checked,
    officer_cosign_extension,
    officer_propose_extension,
    officer_sign,
    officer_submit,
    officer_summary,
    officer_withdraw,
    prepare_extension,
)
from escrow.client.disclosure.officers import certify_officer
from escrow.client.disclosure.reveal import Revealed, open_request
from escrow.client.disclosure.roster import sign_version
from escrow.client.holder import HolderClient, enrol, new_holder_secrets
from escrow.crypto.disclosure import (
    ROLE_REVEAL,
    OfficerSecrets,
    new_officer_secrets,
    public_key,
    sign_court_order,
    sign_officer,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.httpkit import get_components
from escrow.identity.officer import DocumentCheck
from escrow.models import DisclosureRequest, LogEntry, StaffAccount
from escrow.protocol.roster import Roster
from escrow.services import ceremony as ceremony_service
from escrow.services import keyholders as keyholder_service
from escrow.services.credentials import IssuedCredential, issue_credential
from escrow.services.disclosure import add_court, record_officer_certificate, register_officer_key
from escrow.services.platforms import register_platform
from escrow.services.registration import login_with_password, register_in_person
from escrow.services.roster import active_roster, propose_roster
from escrow.services.staff import StaffView, create_staff, get_staff
from escrow.services.transparency import LogSigner
from tests.api.holders import FlaskTransport, Holder, run_ceremony
from tests.conftest import STAFF_PASSWORD, csrf_token_from, sign_in_staff
from tests.oprf_support import log_oprf_activation

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PERSON_PASSWORD = "a long person passphrase"
PERSON_NAME = "Jane Q. Example"
OFFICER_ORGS = {
    "alice": "Forum Legal",
    "bob": "Escrow Counsel",
    "carol": "Forum Legal",
    "dave": "Police Agency",
}


@dataclass
class World:
    app: Flask
    holders: list[Holder]
    officers: dict[str, OfficerSecrets]
    court_id: int
    court_seed: bytes
    credential: IssuedCredential
    person_id: int
    org_seeds: dict[str, bytes] = field(default_factory=dict)
    clients: dict[str, FlaskClient] = field(default_factory=dict)

    def certify(self, username: str, secrets: OfficerSecrets) -> None:
        """Has the officer's organisation certify a (new) key, recorded through the service."""
        certify_officers(self.app, {username: secrets}, self.org_seeds)

    def roster(self) -> Roster:
        """The roster in force (as the holders signed it)."""
        with get_components(self.app).session_factory() as session:
            roster = active_roster(session)
        assert roster is not None
        return roster

    def now(self) -> datetime:
        return datetime.now(UTC)

    def client(self, username: str) -> FlaskClient:
        """A test client logged in as staff member `username` (one cookie jar each)."""
        if username not in self.clients:
            self.clients[username] = sign_in_staff(self.app.test_client(), username, STAFF_PASSWORD)
        return self.clients[username]

    def person_client(self) -> FlaskClient:
        """A test client logged in as the registered person (document + password)."""
        client = self.app.test_client()
        token = csrf_token_from(client.get("/account/login").get_data(as_text=True))
        response = client.post(
            "/account/login",
            data={
                "issuing_country": "NLD",
                "document_number": "XR1234567",
                "password": PERSON_PASSWORD,
                "csrf_token": token,
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    def csrf(self, username: str) -> dict[str, str]:
        token = self.client(username).get("/api/v1/session").get_json()["csrf_token"]
        return {"X-CSRFToken": token}

    def scope(self) -> list[dict[str, str]]:
        c = self.credential
        return [{"platform": c.platform_id, "pseudonym": c.pseudonym, "envelope_digest": c.envelope_digest}]

    def draft(self, username: str = "alice", **overrides: Any) -> Any:
        """Posts a draft through the API as `username`; returns the response."""
        order = overrides.pop("order", PDF)
        form: dict[str, Any] = {
            "court_id": str(self.court_id),
            "case_number": "2026/CR/0042",
            "legal_basis": "Criminal procedure code art. 126nd (threats)",
            "scope": json.dumps(overrides.pop("scope", self.scope())),
            "expires_at": (self.now() + timedelta(days=14)).isoformat(),
            "notify_delay_days": "0",
            "court_signature": b64u_encode(sign_court_order(self.court_seed, order)) if order else "",
        }
        form.update(overrides)
        if order is not None:
            form["order"] = (io.BytesIO(order), "order.pdf", "application/pdf")
        return self.client(username).post(
            "/api/v1/disclosures", data=form, headers=self.csrf(username), content_type="multipart/form-data"
        )

    def document(self, request_id: int, username: str = "alice") -> dict[str, Any]:
        response = self.client(username).get(f"/api/v1/disclosures/{request_id}")
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    def sign(self, request_id: int, username: str, role: str) -> dict[str, Any]:
        """The officer tool's code: check the document, sign its digest (a submission with its blinding
        points), send the signature."""
        document = self.document(request_id)
        _, digest, _ = officer_summary(document)
        transport = FlaskTransport(self.app.test_client())
        if role == "submit":
            return officer_submit(transport, self.officers[username], document)
        return officer_sign(transport, self.officers[username], request_id, digest, role)

    def reveal_post(self, request_id: int, username: str = "alice") -> Any:
        """POSTs the reveal-package request signed with `username`'s key; returns the raw response."""
        digest = b64u_decode(self.document(request_id)["digest"])
        signature = sign_officer(self.officers[username].signing_seed, ROLE_REVEAL, digest)
        return self.app.test_client().post(
            f"/api/v1/disclosures/{request_id}/reveal", json={"signature": b64u_encode(signature)}
        )

    def reveal(self, request_id: int, username: str = "alice") -> list[Revealed]:
        """The officer tool's code: fetch the blinded partials, open here, check with the OPRF nodes."""
        log, _, _ = establish_checkpoint(self.fetch)
        transport = FlaskTransport(self.app.test_client())
        revealed, _ = open_request(
            transport, log, self.officers[username], self.document(request_id, username)
        )
        return revealed

    def extend(
        self, request_id: int, username: str, days: int, *, order: bytes | None = None
    ) -> dict[str, Any]:
        """The officer tool's code: build the next extension from the document, sign it, send it."""
        prepared = prepare_extension(
            self.document(request_id),
            username,
            new_delay_days=days,
            reason="the investigation is ongoing (art. 126bb)",
            order_reference="2026/CR/0042-EXT",
            order=order,
        )
        transport = FlaskTransport(self.app.test_client())
        return officer_propose_extension(transport, self.officers[username], prepared)

    def cosign_extension(self, request_id: int, sequence: int, username: str) -> dict[str, Any]:
        """The officer tool's code: check extension `sequence` in the document, co-sign its digest."""
        _, digest, _ = extension_summary(self.document(request_id), sequence)
        transport = FlaskTransport(self.app.test_client())
        return officer_cosign_extension(transport, self.officers[username], request_id, sequence, digest)

    def withdraw(self, request_id: int, username: str, reason: str = "order set aside") -> dict[str, Any]:
        """The officer tool's code: sign the withdrawal of the request and send it."""
        _, digest, _ = officer_summary(self.document(request_id))
        transport = FlaskTransport(self.app.test_client())
        return officer_withdraw(transport, self.officers[username], request_id, digest, reason)

    def cosigned_request(self, cosigner: str = "bob") -> int:
        response = self.draft()
        assert response.status_code == 201, response.get_json()
        request_id = int(response.get_json()["id"])
        self.sign(request_id, "alice", "submit")
        self.sign(request_id, cosigner, "cosign")
        return request_id

    def fetch(self, path: str) -> bytes:
        return bytes(self.app.test_client().get(path).data)

    def check(self, holder: Holder, request_id: int) -> CheckedRequest:
        return fetch_checked(holder.client, self.fetch, request_id)[0]

    def approve(self, holder: Holder, request_id: int) -> dict[str, Any]:
        return approve(holder.client, holder.secrets, self.check(holder, request_id))


def add_officers(
    session: Session, hasher: argon2.PasswordHasher, log: LogSigner, *, now: datetime
) -> tuple[StaffView, dict[str, StaffView], dict[str, OfficerSecrets]]:
    """Creates the admin `root` and the legal officers of OFFICER_ORGS, each with a signing key that the
    admin registers; returns the admin, each officer's account and each officer's key secrets."""
    admin = create_staff(
        session,
        hasher,
        log,
        username="root",
        display_name="Root",
        organisation="Escrow Operator",
        roles=("admin",),
        password=STAFF_PASSWORD,
        now=now,
    )
    staff, officers = {}, {}
    for username, org in OFFICER_ORGS.items():
        staff[username] = create_staff(
            session,
            hasher,
            log,
            username=username,
            display_name=username.title(),
            organisation=org,
            roles=("legal_officer",),
            password=STAFF_PASSWORD,
            now=now,
        )
        officers[username] = new_officer_secrets(username)
        register_officer_key(
            session,
            actor=admin,
            username=username,
            public_key_b64=b64u_encode(officers[username].public_key),
            log=log,
            now=now,
        )
    return admin, staff, officers


def build_world(
    app: Flask, *, holder_orgs: list[str] | None = None, threshold: int = 3, holder_count: int = 5
) -> World:
    """Makes everything a disclosure needs (see the module docstring) and returns it."""
    extension = get_components(app)
    log, now = extension.log, datetime.now(UTC)
    client = app.test_client()
    orgs = holder_orgs or [f"Trustee Org {i + 1}" for i in range(holder_count)]
    holders = []
    with extension.session_factory() as session:
        for i, org in enumerate(orgs):
            invitation = keyholder_service.invite_keyholder(
                session,
                name=f"Holder {i + 1}",
                organisation=org,
                contact=f"h{i}@example.org",
                log=log,
                now=now,
            )
            secrets = new_holder_secrets(f"Holder {i + 1}")
            record = enrol(FlaskTransport(client), invitation.code, secrets)
            holders.append(
                Holder(record["id"], secrets, HolderClient(FlaskTransport(client), secrets.signing_seed))
            )
        ceremony_id = ceremony_service.open_ceremony(
            session, threshold=threshold, holder_ids=[h.id for h in holders], log=log, now=now
        )
    assert run_ceremony(client, holders, ceremony_id) == "active"
    with extension.session_factory() as session:
        log_oprf_activation(session, log, now=now)
        register_platform(
            session,
            platform_id="forum",
            name="Forum",
            contact="abuse@forum.example",
            redirect_uris=["https://forum.example/cb"],
            log=log,
            now=now,
        )
        register_in_person(
            session,
            check=DocumentCheck("passport", "NLD", "XR1234567", PERSON_NAME, "1990-02-03"),
            password=PERSON_PASSWORD,
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=log,
            now=now,
        )
        # The person then signs in themselves (document + password): that gives their pseudonym secret.
        person = login_with_password(
            session,
            issuing_country="NLD",
            document_number="XR1234567",
            password=PERSON_PASSWORD,
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=log,
            now=now,
        )
        credential = issue_credential(
            session,
            person_id=person.account.id,
            platform_id="forum",
            secret=person.secret,
            keyring=extension.keyring,
            issuer=extension.settings.issuer_url,
            log=log,
            now=now,
        )
        _, _, officers = add_officers(session, extension.password_hasher, log, now=now)
        court_seed = os.urandom(32)
        court = add_court(
            session,
            name="District Court of Example",
            jurisdiction="EX",
            public_key_b64=b64u_encode(public_key(court_seed)),
            log=log,
            now=now,
        )
    org_seeds = sign_roster_and_certify(
        app,
        holders,
        officers,
        courts=[("District Court of Example", "EX", court_seed)],
    )
    return World(app, holders, officers, court.id, court_seed, credential, person.account.id, org_seeds)


def certify_officers(app: Flask, officers: dict[str, OfficerSecrets], seeds: dict[str, bytes]) -> None:
    """Each officer's organisation certifies their key (escrow org certify's code); the admin records it."""
    extension = get_components(app)
    log, now = extension.log, datetime.now(UTC)
    with extension.session_factory() as session:
        root = session.scalars(select(StaffAccount).where(StaffAccount.username == "root")).one()
        admin = get_staff(session, root.id)
        for username, secrets in officers.items():
            organisation = OFFICER_ORGS[username]
            record = certify_officer(
                seeds[organisation],
                username=username,
                organisation=organisation,
                officer_key_b64=b64u_encode(secrets.public_key),
                not_before=now - timedelta(minutes=5),
                not_after=now + timedelta(days=365),
            )
            record_officer_certificate(
                session,
                actor=admin,
                certificate=record["certificate"],
                signature_b64=record["signature"],
                log=log,
                now=now,
            )


def sign_roster_and_certify(
    app: Flask,
    holders: list[Holder],
    officers: dict[str, OfficerSecrets],
    *,
    courts: list[tuple[str, str, bytes | None]],
    org_seeds: dict[str, bytes] | None = None,
) -> dict[str, bytes]:
    """Proposes a roster of `courts` and the officers' organisations (each with a fresh key unless
    given), has every holder sign it with the holder tool, and has each organisation certify its
    officers' keys, recorded through the service. Returns the organisations' seeds."""
    extension = get_components(app)
    log, now = extension.log, datetime.now(UTC)
    seeds = dict(org_seeds or {})
    for organisation in sorted(set(OFFICER_ORGS.values())):
        seeds.setdefault(organisation, os.urandom(32))
    with extension.session_factory() as session:
        document = propose_roster(
            session,
            courts=[
                {"name": n, "jurisdiction": j, "public_key": b64u_encode(public_key(k)) if k else None}
                for n, j, k in courts
            ],
            organisations=[
                {"name": o, "public_key": b64u_encode(public_key(k)), "may_submit": True, "may_cosign": True}
                for o, k in sorted(seeds.items())
            ],
            log=log,
            now=now,
        )
    for holder in holders:
        sign_version(holder.client, holder.secrets, document.roster, None)
    certify_officers(app, officers, seeds)
    return seeds


def backdate_reveal(app: Flask, request_id: int, ago: timedelta) -> None:
    """Time travel for tests: makes request `request_id` look revealed `ago` before now, in its row and
    in the time of its `disclosure.disclosed` log entry, which (issue 14) is what the notice date counts
    from. The entry's leaf then no longer matches the signed tree: an auditor would see it; tests only."""
    when = datetime.now(UTC) - ago
    with get_components(app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        row.disclosed_at = when
        for entry in session.scalars(select(LogEntry).where(LogEntry.kind == "disclosure.disclosed")):
            event = json.loads(entry.body)
            if event["data"].get("request") == request_id:
                event["time"] = when.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
                entry.body = canonical_json(event)
        session.commit()
