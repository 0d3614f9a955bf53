"""A client generated from the live OpenAPI document by a maintained generator (openapi-python-client)
drives a real platform flow against a live escrow (issue 19): discovery, redeem a credential once
(the replay is a typed 409 problem), status, a bad API key (a typed 401 problem), the log's key.

Nothing here is written by hand against the API: every call and every model is generated code."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import sysconfig
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.client.test_verifiers import Issuer, issuer  # noqa: F401 - fixture

PACKAGE = "escrow_generated_client"


@pytest.fixture
def live(request: pytest.FixtureRequest) -> Issuer:
    value: Issuer = request.getfixturevalue("issuer")
    return value


@pytest.fixture
def generated(live: Issuer, tmp_path: Path) -> Iterator[ModuleType]:
    """Generates the client package from the live /openapi.json into tmp_path and imports it."""
    with urllib.request.urlopen(live.url + "/openapi.json") as response:  # noqa: S310 - loopback
        (tmp_path / "openapi.json").write_bytes(response.read())
    scripts = Path(sysconfig.get_path("scripts"))
    subprocess.run(  # noqa: S603 - the generator from our own environment, fixed arguments
        [
            str(scripts / "openapi-python-client"),
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        check=True,
        timeout=120,
        capture_output=True,
        # its post-generation hook runs ruff from PATH
        env={**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_generated_client_drives_a_platform_flow(generated: ModuleType, live: Issuer) -> None:
    client_module = _module(generated, "client")
    discovery = _module(generated, "api.sign_in_with_escrow.oidc_discovery")
    verify = _module(generated, "api.platforms.post_credentials_verify")
    status = _module(generated, "api.platforms.post_credentials_status")
    log_key = _module(generated, "api.transparency.get_log_key")
    models = _module(generated, "models")

    anonymous = client_module.Client(base_url=live.url, raise_on_unexpected_status=True)
    platform = client_module.AuthenticatedClient(
        base_url=live.url, token=live.api_key, raise_on_unexpected_status=True
    )
    stranger = client_module.AuthenticatedClient(
        base_url=live.url, token="esk_wrong", raise_on_unexpected_status=True
    )

    # Discovery, as a typed model
    metadata = discovery.sync(client=anonymous)
    assert isinstance(metadata, models.OidcDiscovery)
    assert metadata.issuer == live.issuer

    # Redeem a credential once: a typed VerifiedCredential, then the replay as a typed 409 problem
    body = models.PostCredentialsVerifyBody(credential=live.issued.token)
    first = verify.sync_detailed(client=platform, body=body)
    assert first.status_code == 200
    assert isinstance(first.parsed, models.VerifiedCredential)
    assert first.parsed.pseudonym == live.issued.pseudonym
    replay = verify.sync_detailed(client=platform, body=body)
    assert replay.status_code == 409
    assert isinstance(replay.parsed, models.Problem)
    assert replay.parsed.code == "credential-already-redeemed"

    # Status of that credential
    statuses = status.sync(
        client=platform, body=models.PostCredentialsStatusBody(credential_ids=[live.issued.credential_id])
    )
    assert isinstance(statuses, models.Statuses)
    assert statuses.statuses.to_dict() == {live.issued.credential_id: "redeemed"}

    # A bad API key: the documented 401, as a typed problem
    refused = verify.sync_detailed(client=stranger, body=body)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.Problem)
    assert refused.parsed.code == "authentication-failed"

    # The log's key, typed
    key = log_key.sync(client=anonymous)
    assert isinstance(key, models.LogKey)
    assert json.dumps(key.to_dict())
