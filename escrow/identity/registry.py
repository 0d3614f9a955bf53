"""The identity providers an instance trusts, built from its settings."""

from __future__ import annotations

import secrets

from escrow.config import Settings
from escrow.identity.base import ASSURANCE_LOW
from escrow.identity.devidp import DevClient, DevIdentityProvider
from escrow.identity.oidc import OidcProvider
from escrow.identity.transport import UrllibHttp, WsgiHttp

DEV_IDP_MOUNT = "/dev-idp"
OIDC_CALLBACK_PATH = "/account/oidc/callback"


def build_identity_providers(settings: Settings) -> tuple[OidcProvider | None, DevIdentityProvider | None]:
    """Returns the OIDC provider the escrow trusts and, in development, the dev IdP it talks to."""
    redirect_uri = settings.issuer_url + OIDC_CALLBACK_PATH
    if settings.dev_idp_enabled:
        dev_idp = DevIdentityProvider(issuer=settings.issuer_url + DEV_IDP_MOUNT)
        client_secret = secrets.token_urlsafe(32)
        dev_idp.register_client(DevClient("escrow-dev", client_secret, (redirect_uri,)))
        # Same OIDC client as for a real provider; only the HTTP hop stays in process.
        oidc = OidcProvider(
            issuer=dev_idp.issuer,
            client_id="escrow-dev",
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            http=WsgiHttp({dev_idp.issuer: dev_idp.wsgi_app}),
            assurance=ASSURANCE_LOW,
        )
        return oidc, dev_idp
    if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
        oidc = OidcProvider(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            redirect_uri=redirect_uri,
            http=UrllibHttp(),
        )
        return oidc, None
    return None, None
