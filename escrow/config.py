"""Settings: one frozen, typed dataclass filled from ``ESCROW_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nacl.pwhash.argon2id
from limits import parse_many
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.note import parse_cosigner_vkey
from escrow.crypto.transcript import b64u_decode
from escrow.errors import ConfigError
from escrow.identity.provider_config import ENV_NAME as IDENTITY_PROVIDERS_ENV
from escrow.identity.provider_config import ProviderConfig, parse_identity_providers

DATABASE_FILENAME = "escrow.sqlite3"
# Flask signs session cookies with this; shorter values are guessable (docs/architecture.md#config).
MIN_SECRET_KEY_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The development origin line; a production log must name itself (issue 15, c2sp.org/tlog-checkpoint).
DEFAULT_LOG_ORIGIN = "escrow.localhost/log"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an escrow instance needs to start. Build with from_env() or for_tests()."""

    database_url: str
    keys_dir: Path
    instance_path: Path
    # None: the Flask secret key is generated into keys_dir on first start (escrow.keystore).
    secret_key: str | None
    testing: bool
    # Argon2id cost for passphrase-protected key-holder files (nacl.pwhash.argon2id).
    holderfile_opslimit: int
    holderfile_memlimit: int
    log_level: str
    # Issue 3: the credential issuer (our public base URL), identity providers, person passwords.
    issuer_url: str = "http://127.0.0.1:5000"
    # DEVELOPMENT ONLY: mount the development OIDC identity provider at /dev-idp.
    dev_idp_enabled: bool = False
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    # Issue 12: more identity providers, by configuration only (ESCROW_IDENTITY_PROVIDERS, a JSON list).
    identity_providers: tuple[ProviderConfig, ...] = ()
    # Origin line of the transparency log's checkpoints (C2SP tlog-checkpoint): a schema-less URL.
    log_origin: str = DEFAULT_LOG_ORIGIN
    # Argon2id cost for staff and person passwords (argon2-cffi; RFC 9106 second recommended option).
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    password_parallelism: int = 4
    # Development only: on first start with no active escrow key, `escrow init`/`escrow run` simulate a
    # 3-of-5 ceremony into <keys>/dev-holders/ and activate that key (issue 4). Never on in production.
    dev_mode: bool = False
    # Issue 6: disclosure policy (docs/disclosure.md#policy).
    disclosure_cosigners: int = 1  # co-signing legal officers required besides the submitter
    disclosure_cosigner_other_org: bool = True  # a co-signer must belong to another organisation
    disclosure_min_organisations: int = 2  # an approval quorum must span this many organisations
    disclosure_monthly_cap: int | None = None  # submissions per calendar month (None: no cap)
    disclosure_view_hours: int = 72  # how long the granted officers may view a revealed identity
    # Staff login (docs/operations.md#staff-logins): TOTP is mandatory for legal officers; this flag
    # makes it mandatory for every member of staff.
    totp_all_staff: bool = False
    # Flask-Limiter: failed and successful password/code POSTs per client address. memory:// counts per
    # process; with several workers use a shared store (redis://host:6379).
    login_rate_limit: str = "10 per minute"
    ratelimit_storage_uri: str = "memory://"
    # Issue 13: the OPRF nodes the service asks, as (share index, base URL), from
    # ESCROW_OPRF_NODES="1=https://node1.example,2=..."; empty in dev mode means `escrow run` starts
    # development nodes itself. ESCROW_OPRF_TIMEOUT: seconds to wait for the threshold of answers.
    oprf_nodes: tuple[tuple[int, str], ...] = ()
    oprf_timeout_s: float = 2.0
    # The Ed25519 seed signing node requests, from ESCROW_OPRF_CLIENT_KEY (base64url); None: the file
    # <keys>/oprf-client-key, made on first start (escrow.keystore).
    oprf_client_key: bytes | None = field(default=None, repr=False)
    # Issue 17: GET /metrics (Prometheus) answers only with `Authorization: Bearer <this>`; None: 404.
    metrics_token: str | None = field(default=None, repr=False)
    # Issue 15: the witnesses asked to cosign every new checkpoint, as (cosigner vkey, base URL), from
    # ESCROW_WITNESSES="<vkey> <url>,<vkey> <url>"; empty in dev mode means `escrow run` starts two
    # development witnesses. ESCROW_WITNESS_TIMEOUT: seconds a round of requests may take in all.
    witnesses: tuple[tuple[str, str], ...] = ()
    witness_timeout_s: float = 2.0
    # Issue 15: the sequencer signs at most one checkpoint every ESCROW_LOG_BATCH_MS milliseconds, or
    # sooner once ESCROW_LOG_BATCH_MAX events are queued; a batch holds at most that many events.
    log_batch_ms: int = 200
    log_batch_max: int = 1000

    def __repr__(self) -> str:
        # Never print the secret key or a database password into logs or tracebacks.
        secret = "None" if self.secret_key is None else "'***'"
        url = make_url(self.database_url).render_as_string(hide_password=True)
        return (
            f"Settings(database_url={url!r}, keys_dir={self.keys_dir!r}, "
            f"instance_path={self.instance_path!r}, secret_key={secret}, testing={self.testing}, "
            f"holderfile_opslimit={self.holderfile_opslimit}, "
            f"holderfile_memlimit={self.holderfile_memlimit}, log_level={self.log_level!r}, "
            f"log_origin={self.log_origin!r}, dev_mode={self.dev_mode}, "
            f"issuer_url={self.issuer_url!r}, dev_idp_enabled={self.dev_idp_enabled}, "
            f"oidc_issuer={self.oidc_issuer!r}, oidc_client_id={self.oidc_client_id!r}, "
            f"identity_providers={[p.id for p in self.identity_providers]!r}, oprf_nodes={self.oprf_nodes!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Returns the production settings read from ``environ`` (default: os.environ).

        Relative paths are resolved against the current working directory. Raises ConfigError
        if a value is malformed (unparsable database URL, unknown driver, short secret key,
        unknown log level).
        """
        env = os.environ if environ is None else environ
        cwd = Path.cwd()
        instance_path = cwd / _get(env, "ESCROW_INSTANCE_PATH", "instance")
        keys_dir = cwd / _get(env, "ESCROW_KEYS_DIR", "keys")
        default_url = URL.create("sqlite", database=str(instance_path / DATABASE_FILENAME))
        database_url = _get(env, "ESCROW_DATABASE_URL", default_url.render_as_string())
        secret_key = env.get("ESCROW_SECRET_KEY") or None
        log_level = _get(env, "ESCROW_LOG_LEVEL", "INFO").upper()
        log_origin = _get(env, "ESCROW_LOG_ORIGIN", DEFAULT_LOG_ORIGIN)
        dev_mode = _parse_flag(env, "ESCROW_DEV_MODE")
        _check_database_url(database_url)
        _check_log_origin(log_origin)
        _check_secret_key(secret_key)
        _check_log_level(log_level)
        issuer_url = _get(env, "ESCROW_ISSUER_URL", "http://127.0.0.1:5000").rstrip("/")
        _check_url(issuer_url, "ESCROW_ISSUER_URL")
        dev_idp = _get(env, "ESCROW_DEV_IDP", "0")
        if dev_idp not in ("0", "1"):
            raise ConfigError("ESCROW_DEV_IDP must be 0 or 1")
        oidc_issuer = env.get("ESCROW_OIDC_ISSUER") or None
        oidc_client_id = env.get("ESCROW_OIDC_CLIENT_ID") or None
        oidc_client_secret = env.get("ESCROW_OIDC_CLIENT_SECRET") or None
        if oidc_issuer is not None:
            _check_url(oidc_issuer, "ESCROW_OIDC_ISSUER")
            if oidc_client_id is None or oidc_client_secret is None:
                raise ConfigError(
                    "ESCROW_OIDC_ISSUER needs ESCROW_OIDC_CLIENT_ID and ESCROW_OIDC_CLIENT_SECRET"
                )
        identity_providers = parse_identity_providers(env.get(IDENTITY_PROVIDERS_ENV), env)
        policy = _DisclosurePolicyEnv.read(env)
        login_rate_limit = _get(env, "ESCROW_LOGIN_RATE_LIMIT", "10 per minute")
        _check_rate_limit(login_rate_limit)
        ratelimit_storage_uri = _get(env, "ESCROW_RATELIMIT_STORAGE_URI", "memory://")
        _check_storage_uri(ratelimit_storage_uri)
        oprf_nodes = parse_oprf_nodes(env.get("ESCROW_OPRF_NODES", ""))
        oprf_timeout_s = _parse_timeout(env.get("ESCROW_OPRF_TIMEOUT", "2"))
        return cls(
            witnesses=parse_witnesses(env.get("ESCROW_WITNESSES", "")),
            witness_timeout_s=_parse_timeout(
                env.get("ESCROW_WITNESS_TIMEOUT", "2"), "ESCROW_WITNESS_TIMEOUT"
            ),
            log_batch_ms=_parse_bounded_int(env, "ESCROW_LOG_BATCH_MS", 200, 1, 60_000),
            log_batch_max=_parse_bounded_int(env, "ESCROW_LOG_BATCH_MAX", 1000, 1, 100_000),
            oprf_nodes=oprf_nodes,
            oprf_timeout_s=oprf_timeout_s,
            oprf_client_key=parse_oprf_client_key(
                env.get("ESCROW_OPRF_CLIENT_KEY"), "ESCROW_OPRF_CLIENT_KEY"
            ),
            metrics_token=_metrics_token(env.get("ESCROW_METRICS_TOKEN")),
            totp_all_staff=_parse_flag(env, "ESCROW_TOTP_ALL_STAFF"),
            login_rate_limit=login_rate_limit,
            ratelimit_storage_uri=ratelimit_storage_uri,
            disclosure_cosigners=policy.cosigners,
            disclosure_cosigner_other_org=policy.cosigner_other_org,
            disclosure_min_organisations=policy.min_organisations,
            disclosure_monthly_cap=policy.monthly_cap,
            disclosure_view_hours=policy.view_hours,
            database_url=database_url,
            keys_dir=keys_dir.resolve(),
            instance_path=instance_path.resolve(),
            secret_key=secret_key,
            testing=False,
            holderfile_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
            holderfile_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
            log_level=log_level,
            issuer_url=issuer_url,
            dev_idp_enabled=dev_idp == "1",
            oidc_issuer=oidc_issuer.rstrip("/") if oidc_issuer else None,
            oidc_client_id=oidc_client_id,
            oidc_client_secret=oidc_client_secret,
            identity_providers=identity_providers,
            log_origin=log_origin,
            dev_mode=dev_mode,
        )

    @classmethod
    def for_tests(cls, database_url: str, keys_dir: Path, *, instance_path: Path | None = None) -> Settings:
        """Returns settings for the test suite: fast (insecure) Argon2id cost, testing on.

        These KDF parameters are for tests only: a holder file written with them is cheap to
        brute-force. Raises ConfigError if the database URL is malformed.
        """
        _check_database_url(database_url)
        return cls(
            database_url=database_url,
            keys_dir=keys_dir,
            instance_path=instance_path if instance_path is not None else keys_dir.parent,
            secret_key=None,
            testing=True,
            holderfile_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            holderfile_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
            log_level="DEBUG",
            issuer_url="http://escrow.test",
            # Tests only: cheap password hashing (NOTES.md: 120 ms a hash is too slow for a suite).
            password_time_cost=1,
            password_memory_kib=8,
            password_parallelism=1,
            # Tests log in many times from one address; tests/web/test_totp.py sets a low limit.
            login_rate_limit="1000 per minute",
            # The suite's OPRF nodes (tests/conftest.py starts them and names them here).
            oprf_nodes=parse_oprf_nodes(os.environ.get("ESCROW_TEST_OPRF_NODES", "")),
            oprf_client_key=parse_oprf_client_key(
                os.environ.get("ESCROW_TEST_OPRF_CLIENT_KEY"), "ESCROW_TEST_OPRF_CLIENT_KEY"
            ),
        )


def parse_oprf_nodes(text: str) -> tuple[tuple[int, str], ...]:
    """Returns the (index, URL) pairs of ``1=http://host:port,2=...``. Raises ConfigError naming the fault."""
    nodes: list[tuple[int, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        index, equals, url = item.partition("=")
        if not equals or not index.isascii() or not index.isdigit() or not 1 <= int(index) <= 255:
            raise ConfigError(f"ESCROW_OPRF_NODES: {item!r} is not <index 1-255>=<url>")
        _check_url(url.rstrip("/"), f"ESCROW_OPRF_NODES node {index}")
        nodes.append((int(index), url.rstrip("/")))
    if len({i for i, _ in nodes}) != len(nodes):
        raise ConfigError("ESCROW_OPRF_NODES names the same node index twice")
    return tuple(nodes)


def parse_witnesses(text: str) -> tuple[tuple[str, str], ...]:
    """Returns the (cosigner vkey, URL) pairs of ``<vkey> <url>,<vkey> <url>``. Raises ConfigError."""
    witnesses: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        vkey, space, url = item.partition(" ")
        if not space:
            raise ConfigError(f"ESCROW_WITNESSES: {item!r} is not '<witness vkey> <url>'")
        try:
            name = parse_cosigner_vkey(vkey).name
        except CryptoError as e:
            raise ConfigError(f"ESCROW_WITNESSES: {vkey!r} is not a witness vkey: {e}") from e
        _check_url(url.strip().rstrip("/"), f"ESCROW_WITNESSES witness {name}")
        witnesses.append((vkey, url.strip().rstrip("/")))
    names = [v.partition("+")[0] for v, _ in witnesses]
    if len(set(names)) != len(names):
        raise ConfigError("ESCROW_WITNESSES names the same witness twice")
    return tuple(witnesses)


def check_production_origin(settings: Settings) -> None:
    """Refuses to serve a production log under the development origin (issue 15). Raises ConfigError."""
    if not settings.dev_mode and not settings.testing and settings.log_origin == DEFAULT_LOG_ORIGIN:
        raise ConfigError(
            f"ESCROW_LOG_ORIGIN is the development default {DEFAULT_LOG_ORIGIN!r}: outside development "
            "mode the log must name itself (e.g. ESCROW_LOG_ORIGIN=escrow.example.org/log); witnesses "
            "and auditors tell logs apart by this line"
        )


def _metrics_token(text: str | None) -> str | None:
    if not text:
        return None
    if len(text) < MIN_SECRET_KEY_LENGTH or not text.isascii() or not text.isprintable() or " " in text:
        raise ConfigError(
            f"ESCROW_METRICS_TOKEN must be at least {MIN_SECRET_KEY_LENGTH} printable ASCII characters, "
            "without spaces"
        )
    return text


def parse_oprf_client_key(text: str | None, name: str) -> bytes | None:
    """Returns the 32-byte seed in base64url `text` (None if unset). Raises ConfigError otherwise."""
    if not text:
        return None
    try:
        return b64u_decode(text, length=32)
    except EncodingError as e:
        raise ConfigError(f"{name} must be the base64url of a 32-byte Ed25519 seed") from e


def _parse_bounded_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name, "").strip() or str(default)
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {text!r}")
    return int(text)


def _parse_timeout(text: str, name: str = "ESCROW_OPRF_TIMEOUT") -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.05 <= value <= 60:
        raise ConfigError(f"{name} must be a number of seconds between 0.05 and 60, got {text!r}")
    return value


def _check_rate_limit(value: str) -> None:
    try:
        parse_many(value)
    except ValueError as e:
        raise ConfigError(f"ESCROW_LOGIN_RATE_LIMIT: {e} (example: '10 per minute')") from e


def _check_storage_uri(value: str) -> None:
    if value.partition("://")[0] not in ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster"):
        raise ConfigError("ESCROW_RATELIMIT_STORAGE_URI must be memory:// or a redis:// URL")


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    # An empty variable counts as unset, as in most shells' ${VAR:-default}.
    return env.get(name) or default


def _check_database_url(database_url: str) -> None:
    # The URL itself is not echoed: it may carry a password.
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError) as e:  # ValueError: e.g. a non-numeric port
        raise ConfigError(
            "ESCROW_DATABASE_URL cannot be parsed as a database URL; expected e.g. "
            "postgresql+psycopg://user@host:5432/escrow or sqlite:////path/to/escrow.sqlite3"
        ) from e
    try:
        url.get_dialect()
    except NoSuchModuleError as e:
        raise ConfigError(
            f"ESCROW_DATABASE_URL names an unknown database driver {url.drivername!r}; "
            "use postgresql+psycopg or sqlite"
        ) from e


def _check_secret_key(secret_key: str | None) -> None:
    if secret_key is not None and len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"ESCROW_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters; "
            "unset it to have a random key generated in the keys directory"
        )


def _check_log_level(log_level: str) -> None:
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"ESCROW_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")


def _parse_flag(env: Mapping[str, str], name: str) -> bool:
    value = _get(env, name, "0").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0")


def _check_url(url: str, name: str) -> None:
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        raise ConfigError(f"{name} must be an absolute http(s) URL")


def _check_log_origin(origin: str) -> None:
    # A signed-note key name: no spaces, no '+', printable (C2SP signed-note).
    if not origin or any(c.isspace() or c == "+" or not c.isprintable() for c in origin):
        raise ConfigError(
            "ESCROW_LOG_ORIGIN must be non-empty, without spaces or '+' (e.g. escrow.example/log)"
        )


def _int_setting(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = _get(env, name, str(default)).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}")
    return int(text)


@dataclass(frozen=True, slots=True)
class _DisclosurePolicyEnv:
    cosigners: int
    cosigner_other_org: bool
    min_organisations: int
    monthly_cap: int | None
    view_hours: int

    @classmethod
    def read(cls, env: Mapping[str, str]) -> _DisclosurePolicyEnv:
        """Returns the disclosure policy in ESCROW_DISCLOSURE_* (README, Configuration)."""
        has_cap = bool(env.get("ESCROW_DISCLOSURE_MONTHLY_CAP"))
        return cls(
            cosigners=_int_setting(env, "ESCROW_DISCLOSURE_COSIGNERS", 1, 1),
            cosigner_other_org=not env.get("ESCROW_DISCLOSURE_COSIGNER_OTHER_ORG")
            or _parse_flag(env, "ESCROW_DISCLOSURE_COSIGNER_OTHER_ORG"),
            min_organisations=_int_setting(env, "ESCROW_DISCLOSURE_MIN_ORGANISATIONS", 2, 1),
            monthly_cap=_int_setting(env, "ESCROW_DISCLOSURE_MONTHLY_CAP", 0, 0) if has_cap else None,
            view_hours=_int_setting(env, "ESCROW_DISCLOSURE_VIEW_HOURS", 72, 1),
        )
