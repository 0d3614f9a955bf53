"""Issue 16, item 5: holder request signatures covered the path without its query string, so a relay
could change or add a query under a valid signature. Driven through the app as the holder tool sends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from escrow.client.holder import HolderClient, HolderClientError, enrol, new_holder_secrets
from escrow.httpkit import get_components
from escrow.services import keyholders as keyholder_service
from tests.api.holders import FlaskTransport


class _QueryRewriter(FlaskTransport):
    """A relay between the tool and the service that rewrites the query of every request."""

    def __call__(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        return super().__call__(method, path.replace("?as=1", "?as=2"), body, headers)


def _holder(app: Flask) -> bytes:
    extension = get_components(app)
    with extension.session_factory() as session:
        invitation = keyholder_service.invite_keyholder(
            session,
            name="Holder",
            organisation="Trustee Org",
            contact="h@example.org",
            log=extension.log,
            now=datetime.now(UTC),
        )
    secrets = new_holder_secrets("Holder")
    enrol(FlaskTransport(app.test_client()), invitation.code, secrets)
    return secrets.signing_seed


def test_a_relay_that_rewrites_the_query_of_a_signed_request_is_refused(app: Flask) -> None:
    seed = _holder(app)
    honest = HolderClient(FlaskTransport(app.test_client()), seed)
    assert (
        honest.request("GET", "/api/v1/keyholders/me?as=1")["holder"]["name"] == "Holder"
    )  # signed with its query
    assert honest.request("GET", "/api/v1/keyholders/me")["holder"]["name"] == "Holder"

    relayed = HolderClient(_QueryRewriter(app.test_client()), seed)
    with pytest.raises(HolderClientError, match=r"\(401\).*does not verify"):
        relayed.request("GET", "/api/v1/keyholders/me?as=1")
