"""The OIDC client over real HTTP: the development provider served on a loopback port (0 = any free)."""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from escrow.errors import IdentityProofError
from escrow.identity.devidp import DevClient, DevIdentityProvider, DevUser
from escrow.identity.oidc import OidcProvider
from escrow.identity.transport import UrllibHttp
from tests.credentials_support import log_in_over_http, served_dev_idp

REDIRECT = "http://escrow.test/account/oidc/callback"


@pytest.fixture
def served_idp() -> Iterator[DevIdentityProvider]:
    users = (DevUser("zoe", "Zoe Example", "1999-09-09"),)
    with served_dev_idp(users=users, clients=(DevClient("escrow", "secret", (REDIRECT,)),)) as idp:
        yield idp


def test_code_flow_over_loopback_http(served_idp: DevIdentityProvider) -> None:
    # Given a provider reached by urllib, as a real one would be
    provider = OidcProvider(
        provider_id="loopback",
        label="Loopback",
        issuer=served_idp.issuer,
        client_id="escrow",
        client_secret="secret",
        redirect_uri=REDIRECT,
        http=UrllibHttp(),
    )
    request = provider.begin()

    # When the browser logs in at the provider (here: a POST of its form) and comes back with a code
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(log_in_over_http(request.url, "zoe")).query))

    # Then the code exchange and ID token checks succeed over HTTP
    identity = provider.finish(kept=request.kept, callback=back, now=datetime.now(UTC))
    assert identity.name == "Zoe Example"


def test_token_endpoint_refusal_over_http_is_an_identity_proof_error(served_idp: DevIdentityProvider) -> None:
    provider = OidcProvider(
        provider_id="loopback",
        label="Loopback",
        issuer=served_idp.issuer,
        client_id="escrow",
        client_secret="wrong",
        redirect_uri=REDIRECT,
        http=UrllibHttp(),
    )
    request = provider.begin()
    callback = {"code": "nope", "state": request.kept["state"]}

    with pytest.raises(IdentityProofError, match="refused"):
        provider.finish(kept=request.kept, callback=callback, now=datetime.now(UTC))


def test_urllib_transport_refuses_other_schemes() -> None:
    with pytest.raises(OSError, match="http"):
        UrllibHttp().get("file:///etc/passwd")
