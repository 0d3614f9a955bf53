"""The OIDC client over real HTTP: the development provider served on a loopback port (0 = any free)."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from werkzeug.serving import make_server

from escrow.errors import IdentityProofError
from escrow.identity.devidp import DevClient, DevIdentityProvider, DevUser
from escrow.identity.oidc import OidcProvider
from escrow.identity.transport import UrllibHttp

REDIRECT = "http://escrow.test/account/oidc/callback"


@pytest.fixture
def served_idp() -> Iterator[DevIdentityProvider]:
    # The issuer URL must name the port, so the server is bound first and the app mounted after.
    holder: dict[str, DevIdentityProvider] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["idp"].wsgi_app(env, start))
    idp = DevIdentityProvider(
        issuer=f"http://127.0.0.1:{server.server_port}", users=(DevUser("zoe", "Zoe Example", "1999-09-09"),)
    )
    idp.register_client(DevClient("escrow", "secret", (REDIRECT,)))
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
    form = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query), username="zoe")
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:  # 303 is not followed
        opener.open(served_idp.issuer + "/authorize", data=urllib.parse.urlencode(form).encode())
    with redirect.value:
        back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect.value.headers["Location"]).query))

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
