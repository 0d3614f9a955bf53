"""Fixtures for issue 3's tests (tests/credentials_support.py)."""

from tests.credentials_support import dev_idp, escrow_key, oidc_app  # noqa: F401
