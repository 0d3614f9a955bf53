"""Holder clients for the ceremony tests: real holder secrets and the real tool, over the test client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.client.holder import CeremonyRunner, HolderClient, enrol, new_holder_secrets
from escrow.crypto.holderfile import HolderSecrets
from escrow.httpkit import get_components
from escrow.services import keyholders as keyholder_service


class FlaskTransport:
    """A holder tool Transport over the app's test client (no network)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def __call__(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        response = self.client.open(path, method=method, data=body, headers=dict(headers))
        return response.status_code, response.get_json(silent=True)


@dataclass
class Holder:
    id: int
    secrets: HolderSecrets
    client: HolderClient
    saved: list[HolderSecrets] = field(default_factory=list)

    def runner(self, ceremony_id: int, cls: type[CeremonyRunner] = CeremonyRunner) -> CeremonyRunner:
        def save(secrets: HolderSecrets) -> None:
            self.secrets = secrets
            self.saved.append(secrets)

        return cls(self.client, self.secrets, ceremony_id, on_new_secrets=save)


def enrol_holders(app: Flask, client: FlaskClient, session: Session, n: int) -> list[Holder]:
    """Invites and enrols `n` holders through the API; returns them."""
    holders = []
    for i in range(n):
        invitation = keyholder_service.invite_keyholder(
            session,
            name=f"Holder {i + 1}",
            organisation=f"Org {i + 1}",
            contact=f"h{i + 1}@example.org",
            log=get_components(app).log,
            now=datetime.now(UTC),
        )
        secrets = new_holder_secrets(f"Holder {i + 1}")
        record = enrol(FlaskTransport(client), invitation.code, secrets)
        holders.append(
            Holder(record["id"], secrets, HolderClient(FlaskTransport(client), secrets.signing_seed))
        )
    return holders


def run_ceremony(
    client: FlaskClient,
    holders: list[Holder],
    ceremony_id: int,
    runners: dict[int, CeremonyRunner] | None = None,
    max_rounds: int = 10,
) -> str:
    """Steps every holder's runner round-robin until the ceremony ends; returns its final status."""
    runners = runners or {}
    for h in holders:
        runners.setdefault(h.id, h.runner(ceremony_id))
    status = ""
    for _ in range(max_rounds):
        for h in holders:
            status = runners[h.id].step()
        if status in ("active", "aborted", "cancelled") and all(
            r.is_saved or status != "active" for r in runners.values()
        ):
            return status
    return status
