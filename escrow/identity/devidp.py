"""DEVELOPMENT-ONLY identity provider: a tiny OpenID Connect provider for the demo and the tests.

It stands for an outside party. It has its own users (in memory, or a JSON file it reads), its own
signing key (new on every start, or a seed the server keeps under keys/), its pending codes (in
memory, or in the server's database so that every gunicorn worker can redeem what another issued:
issue 17 finding 11, escrow.identity.devidp_store), and its own WSGI app; the escrow reaches it only through
OpenID Connect (discovery, authorize, token, JWKS), exactly as it reaches a real provider. It checks
nobody's identity: anyone can log in as any of its users. It is mounted only when ESCROW_DEV_IDP=1,
and every page it serves says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, Response, abort, jsonify, redirect, render_template_string, request
from werkzeug.wrappers.response import Response as WerkzeugResponse

from escrow.crypto.tokens import key_id, public_jwk

DEV_LABEL = "DEVELOPMENT IDENTITY PROVIDER: not a real identity check, never use in production"
CODE_TTL_S = 120
ID_TOKEN_TTL_S = 300

_AUTHORIZE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Development identity provider</title></head>
<body>
<p><strong>{{ label }}</strong></p>
<h1>Log in to the development identity provider</h1>
<form method="post">
  {% for name, value in params.items() %}
  <input type="hidden" name="{{ name }}" value="{{ value }}">
  {% endfor %}
  <label>User <select name="username">
  {% for username in users %}<option value="{{ username }}">{{ username }}</option>{% endfor %}
  </select></label>
  <button type="submit">Log in</button>
</form>
</body></html>
"""


@dataclass(frozen=True, slots=True, repr=False)
class DevUser:
    """A made-up person known to the development identity provider."""

    username: str
    name: str
    birthdate: str

    def __repr__(self) -> str:
        return f"DevUser({self.username!r})"


@dataclass(frozen=True, slots=True)
class DevClient:
    """A relying party registered at the development identity provider."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PendingCode:
    """An authorization code's request, kept until the code is exchanged or expires (epoch seconds)."""

    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    username: str
    expires: float


class CodeStore(Protocol):
    """Where the provider keeps its pending codes: ``take`` returns a code's request at most once."""

    def put(self, code: str, pending: PendingCode) -> None: ...

    def take(self, code: str) -> PendingCode | None: ...


class MemoryCodeStore:
    """Pending codes in this process's memory: one process only (tests, a single-process server)."""

    def __init__(self) -> None:
        self._codes: dict[str, PendingCode] = {}
        self._lock = threading.Lock()

    def put(self, code: str, pending: PendingCode) -> None:
        with self._lock:
            self._codes[code] = pending

    def take(self, code: str) -> PendingCode | None:
        with self._lock:
            return self._codes.pop(code, None)


# Made-up people for `make run` with ESCROW_DEV_IDP=1 (no real person is named).
DEMO_USERS = (
    DevUser("alice", "Alice Example", "1990-01-01"),
    DevUser("bob", "Bob Example", "1985-06-15"),
)


class DevIdentityProvider:
    """DEVELOPMENT ONLY. The provider's state and its WSGI app (``wsgi_app``)."""

    def __init__(
        self,
        *,
        issuer: str,
        users: tuple[DevUser, ...] = DEMO_USERS,
        codes: CodeStore | None = None,
        signing_seed: bytes | None = None,
    ) -> None:
        """``codes``: where pending codes live (default: this process's memory). ``signing_seed``: a
        32-byte Ed25519 seed shared by every process serving this provider (default: a new key)."""
        self.issuer = issuer.rstrip("/")
        self._users = {u.username: u for u in users}
        self._clients: dict[str, DevClient] = {}
        self._codes = codes if codes is not None else MemoryCodeStore()
        self._lock = threading.Lock()
        if signing_seed is None:
            self.rotate_key()
        else:
            self._use_key(Ed25519PrivateKey.from_private_bytes(signing_seed))
        self.wsgi_app = self._make_app()

    @classmethod
    def from_file(cls, *, issuer: str, path: Path) -> DevIdentityProvider:
        """Returns a provider whose users are read from a JSON list of {username, name, birthdate}."""
        records = json.loads(path.read_text())
        return cls(issuer=issuer, users=tuple(DevUser(**r) for r in records))

    def add_user(self, user: DevUser) -> None:
        with self._lock:
            self._users[user.username] = user

    def register_client(self, client: DevClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def rotate_key(self) -> None:
        """Replaces the signing key (relying parties must refetch the JWKS on the new kid)."""
        self._use_key(Ed25519PrivateKey.generate())

    def _use_key(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public = self._key.public_key().public_bytes_raw()
        self._kid = key_id(self._public)

    def sign_id_token(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """Returns an ID token signed with this provider's key (tests use it to forge edge cases)."""
        return jwt.encode(
            dict(claims), self._key, algorithm="EdDSA", headers={"kid": self._kid, **(headers or {})}
        )

    def _make_app(self) -> Flask:
        app = Flask("escrow.identity.devidp")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self._discovery)
        app.add_url_rule("/jwks", view_func=self._jwks)
        app.add_url_rule("/authorize", view_func=self._authorize, methods=["GET", "POST"])
        app.add_url_rule("/token", view_func=self._token, methods=["POST"])
        app.after_request(self._label)
        return app

    @staticmethod
    def _label(response: Response) -> Response:
        response.headers["X-Development-Only"] = DEV_LABEL
        return response

    def _discovery(self) -> Response:
        return jsonify(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["EdDSA"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "claims_supported": ["sub", "name", "birthdate"],
                "service_documentation": DEV_LABEL,
            }
        )

    def _jwks(self) -> Response:
        return jsonify({"keys": [public_jwk(self._public)]})

    def _authorize(self) -> str | WerkzeugResponse:
        params = request.values
        client = self._clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            abort(400)
        if params.get("response_type") != "code" or params.get("code_challenge_method") != "S256":
            abort(400)
        kept = {
            k: params.get(k, "") for k in ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
        }
        kept.update(response_type="code", code_challenge_method="S256")
        if request.method == "GET":
            return render_template_string(
                _AUTHORIZE_PAGE, label=DEV_LABEL, params=kept, users=sorted(self._users)
            )
        username = params.get("username", "")
        if username not in self._users or not kept["nonce"] or not kept["code_challenge"]:
            abort(400)
        code = secrets.token_urlsafe(32)
        self._codes.put(
            code,
            PendingCode(
                client.client_id,
                redirect_uri,
                kept["nonce"],
                kept["code_challenge"],
                username,
                time.time() + CODE_TTL_S,
            ),
        )
        query = urllib.parse.urlencode({"code": code, "state": kept["state"]})
        return redirect(f"{redirect_uri}?{query}", code=303)

    def _token(self) -> tuple[Response, int] | Response:
        form = request.form
        pending = self._codes.take(form.get("code", ""))  # single use
        client = self._clients.get(form.get("client_id", ""))
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            pending is None
            or client is None
            or pending.client_id != client.client_id
            or not hmac.compare_digest(form.get("client_secret", ""), client.client_secret)
            or form.get("redirect_uri") != pending.redirect_uri
            or form.get("grant_type") != "authorization_code"
            or not hmac.compare_digest(challenge, pending.code_challenge)
            or time.time() > pending.expires
        ):
            return jsonify({"error": "invalid_grant"}), 400
        user = self._users[pending.username]
        now = int(time.time())
        id_token = self.sign_id_token(
            {
                "iss": self.issuer,
                "sub": "dev-" + hashlib.sha256(user.username.encode()).hexdigest()[:16],
                "aud": client.client_id,
                "iat": now,
                "exp": now + ID_TOKEN_TTL_S,
                "nonce": pending.nonce,
                "name": user.name,
                "birthdate": user.birthdate,
            }
        )
        return jsonify(
            {"id_token": id_token, "access_token": secrets.token_urlsafe(16), "token_type": "Bearer"}
        )
