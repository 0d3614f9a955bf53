"""Configured identity providers (issue 12): ESCROW_IDENTITY_PROVIDERS, a JSON list, parsed strictly.

Each entry is one provider (docs/operations.md#identity-providers):
``{"id", "label", "issuer", "client_id", "client_secret" or "client_secret_env", "assurance", "kind"}``.
A secret is best read from another environment variable (``client_secret_env``), so the list itself
holds none. Errors name the entry and the field, never a value. No Flask here: Settings imports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from escrow.errors import ConfigError
from escrow.identity.base import ASSURANCE_LEVELS, ASSURANCE_SUBSTANTIAL, PROVIDER_OIDC

ENV_NAME: Final = "ESCROW_IDENTITY_PROVIDERS"
PROVIDER_ID: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")  # a URL path segment
MAX_LABEL_LENGTH: Final = 64
MAX_URL_LENGTH: Final = 2000
# Kinds a configuration entry may name; escrow.identity.registry builds each.
CONFIGURABLE_KINDS: Final = (PROVIDER_OIDC,)
_ENV_VAR_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_REQUIRED: Final = ("id", "label", "issuer", "client_id")
_OPTIONAL: Final = ("client_secret", "client_secret_env", "assurance", "kind")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One configured identity provider, checked: what the registry needs to build it."""

    id: str
    label: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    assurance: str = ASSURANCE_SUBSTANTIAL
    kind: str = PROVIDER_OIDC


def parse_identity_providers(text: str | None, env: Mapping[str, str]) -> tuple[ProviderConfig, ...]:
    """Returns the providers in ``text`` (the JSON list of ESCROW_IDENTITY_PROVIDERS), in order.

    ``env`` is where ``client_secret_env`` names are looked up. None or blank text: no providers.
    Raises ConfigError naming the entry and field at fault (never a value) for malformed JSON, a
    missing or unknown field, a bad slug, URL or assurance level, a secret given twice or not at
    all, or a secret variable that is unset. Duplicate ids are refused by the registry, which
    also sees the providers configured otherwise.
    """
    if text is None or not text.strip():
        return ()
    try:
        entries = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{ENV_NAME} is not valid JSON ({type(e).__name__})") from None
    if not isinstance(entries, list):
        raise ConfigError(f"{ENV_NAME} must be a JSON list of provider objects")
    return tuple(_parse_entry(entry, f"{ENV_NAME}[{i}]", env) for i, entry in enumerate(entries))


def _parse_entry(entry: object, where: str, env: Mapping[str, str]) -> ProviderConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a JSON object")
    known = _REQUIRED + _OPTIONAL
    unknown = sorted(str(name) for name in entry if name not in known)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")
    missing = [name for name in _REQUIRED if name not in entry]
    if missing:
        raise ConfigError(f"{where}: missing field {missing[0]!r}")
    provider_id = _text(entry, "id", where)
    if not PROVIDER_ID.match(provider_id):
        raise ConfigError(f"{where}.id must be 1 to 32 of a-z, 0-9 and '-', not starting or ending with '-'")
    label = _text(entry, "label", where)
    if len(label) > MAX_LABEL_LENGTH or not label.isprintable():
        raise ConfigError(f"{where}.label must be 1 to {MAX_LABEL_LENGTH} printable characters")
    issuer = _text(entry, "issuer", where).rstrip("/")
    if not issuer.startswith(("https://", "http://")) or len(issuer) > MAX_URL_LENGTH:
        raise ConfigError(f"{where}.issuer must be an absolute http(s) URL")
    kind = _text(entry, "kind", where) if "kind" in entry else PROVIDER_OIDC
    if kind not in CONFIGURABLE_KINDS:
        raise ConfigError(f"{where}.kind must be one of {', '.join(CONFIGURABLE_KINDS)}")
    assurance = _text(entry, "assurance", where) if "assurance" in entry else ASSURANCE_SUBSTANTIAL
    if assurance not in ASSURANCE_LEVELS:
        raise ConfigError(f"{where}.assurance must be one of {', '.join(ASSURANCE_LEVELS)}")
    return ProviderConfig(
        id=provider_id,
        label=label,
        issuer=issuer,
        client_id=_text(entry, "client_id", where),
        client_secret=_secret(entry, where, env),
        assurance=assurance,
        kind=kind,
    )


def _secret(entry: Mapping[str, Any], where: str, env: Mapping[str, str]) -> str:
    if ("client_secret" in entry) == ("client_secret_env" in entry):
        raise ConfigError(f"{where}: give exactly one of 'client_secret' and 'client_secret_env'")
    if "client_secret" in entry:
        return _text(entry, "client_secret", where)
    name = _text(entry, "client_secret_env", where)
    if not _ENV_VAR_NAME.match(name):
        # Not echoed: a secret pasted here by mistake must not reach the logs.
        raise ConfigError(f"{where}.client_secret_env must be the name of an environment variable")
    secret = env.get(name)
    if not secret:
        raise ConfigError(f"{where}.client_secret_env names {name}, which is not set")
    return secret


def _text(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry[name]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{name} must be a non-empty string")
    return value.strip()
