"""Identity proofing behind one small interface (``base.VerifiedIdentity``).

- ``base``             VerifiedIdentity, and the IdentityProvider protocol (begin, finish) of providers
                       a browser is sent to
- ``registry``         IdentityProviders: every configured provider, in order, by id (built from Settings)
- ``provider_config``  ESCROW_IDENTITY_PROVIDERS, parsed strictly (no Flask: Settings reads it)
- ``oidc``             OpenID Connect providers, configured by issuer URL (PyJWT verifies ID tokens)
- ``officer``          in-person document checks by a verification officer
- ``devidp``           a DEVELOPMENT-ONLY OpenID Connect provider (ESCROW_DEV_IDP=1), an outside party
- ``transport``        HTTP for the OIDC client: urllib, or in-process WSGI for the dev provider
"""
