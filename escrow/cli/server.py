"""The server's commands: init, run, db, staff, keys, admin, disclosures, webhooks, dev-code, demo.

They run where the service runs, on its database and keys directory, and need the server install
(``pip install 'escrow[server]'``). They start from the composition root (escrow.bootstrap), never
from a Flask app. Errors become ``Error: <message>`` and exit status 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

import click
import nacl.signing
from sqlalchemy.exc import SQLAlchemyError

from escrow.bootstrap import Components, build_components
from escrow.cli.common import DEFAULT_KDF, FAST_KDF, clean_errors, passphrase_option, read_passphrase
from escrow.cli.dev_nodes import (
    DEV_WITNESS_DIR,
    DEV_WITNESS_POLICY,
    NodeProcess,
    WitnessSpec,
    start_nodes,
    start_witnesses,
    stop_nodes,
)
from escrow.config import Settings
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.note import verifier_key_string
from escrow.crypto.transcript import b64u_encode
from escrow.db import current_revision, make_engine, upgrade_database
from escrow.errors import ConfigError, EscrowError
from escrow.keystore import load_keyring
from escrow.logconfig import configure_logging
from escrow.models import STAFF_ROLES
from escrow.protocol.ceremony import PURPOSE_ESCROW, PURPOSE_OPRF, PURPOSES
from escrow.services import ceremony as ceremony_service
from escrow.services import key_pinning, totp
from escrow.services import keyholders as keyholder_service
from escrow.services.dev_ceremony import (
    NODE_WARNING,
    WARNING,
    ensure_dev_escrow_key,
    ensure_dev_oprf_key,
    simulate_ceremony,
    write_holder_files,
    write_node_files,
)
from escrow.services.dev_ceremony import WARNING as DEV_WARNING
from escrow.services.dev_seed import DEMO_PLATFORM_LOGIN, LOGINS_FILE, read_seed_record, seed_demo_instance
from escrow.services.instance import InitReport, init_instance
from escrow.services.signing_keys import published_jwks, rotate_signing_key
from escrow.services.staff import create_staff, disable_staff, reset_totp

P = ParamSpec("P")
R = TypeVar("R")


def _fail_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Turns expected failures into ``Error: <message>`` and exit status 1, with no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EscrowError as e:  # includes ConfigError and KeyFileError
            raise click.ClickException(str(e)) from e
        except SQLAlchemyError as e:
            # The driver message may quote host and user names; the class name is enough here.
            raise click.ClickException(
                f"the database cannot be reached or migrated ({type(e).__name__}); "
                "check ESCROW_DATABASE_URL and that the database server is running"
            ) from e
        except OSError as e:
            raise click.ClickException(f"{e.strerror}: {e.filename}") from e

    return wrapper


@click.group()
def server_commands() -> None:
    """The server's commands (merged into `escrow` by escrow.cli.main)."""


@server_commands.command()
@_fail_cleanly
def init() -> None:
    """Create the keys directory, secrets and instance folder; migrate the database. Idempotent."""
    settings = Settings.from_env()
    _echo_init_report(init_instance(settings))
    _ensure_dev_key(settings)


@server_commands.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@_fail_cleanly
def run(host: str, port: int) -> None:
    """Initialise (as `escrow init`), then serve with Werkzeug's threaded server.

    This is a single-process server for development. In production use `escrow serve` (gunicorn
    with escrow/gunicorn_conf.py).
    """
    from werkzeug.serving import run_simple

    from escrow.app import create_app
    from escrow.httpkit import RedactedAccessLogHandler

    with _initialised_instance() as settings:
        app = create_app(settings)
        click.echo(f"serving on http://{host}:{port}/ (health: http://{host}:{port}/healthz)")
        run_simple(
            host,
            port,
            app,
            threaded=True,
            use_reloader=False,
            use_debugger=False,
            request_handler=RedactedAccessLogHandler,
        )


@server_commands.command()
@click.option(
    "--bind",
    help="Address to listen on, e.g. 127.0.0.1:8000 or unix:/run/escrow.sock "
    "(default: escrow/gunicorn_conf.py's, from ESCROW_BIND).",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker processes (default: ESCROW_WORKERS or 2)."
)
@_fail_cleanly
def serve(bind: str | None, workers: int | None) -> None:
    """Initialise (as `escrow init`), then serve with gunicorn and the configuration file kept in the
    package (escrow/gunicorn_conf.py: workers, timeouts, a JSON access log without query strings).

    In development mode it also starts the development OPRF nodes and witnesses, as `escrow run` does,
    and every worker shares them, the dev identity provider's codes and the database (issue 17).
    """
    from escrow.gunicorn_conf import EscrowGunicorn

    with _initialised_instance() as settings:
        EscrowGunicorn(settings, bind=bind, workers=workers).run()


@contextlib.contextmanager
def _initialised_instance() -> Iterator[Settings]:
    """Reads the settings, logs as JSON lines, initialises the instance (as `escrow init`) and, in
    development mode, starts the development OPRF nodes and witnesses; yields the settings that name
    them, and stops them on the way out (SIGTERM included)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    _echo_init_report(init_instance(settings))
    _ensure_dev_key(settings)
    # SIGTERM (a service manager, `kill`) unwinds like Ctrl-C, so the development nodes stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    nodes = _start_dev_nodes(settings)
    witnesses: list[NodeProcess] = []
    try:
        witnesses = _start_dev_witnesses(settings)
        if witnesses:
            settings = dataclasses.replace(settings, witnesses=_dev_witness_setting(settings, witnesses))
        elif not settings.witnesses:
            click.secho(
                "no witnesses configured (ESCROW_WITNESSES): checkpoints are served unwitnessed, and tools "
                "with a witness policy will refuse them",
                fg="yellow",
                err=True,
            )
        if nodes:
            settings = dataclasses.replace(settings, oprf_nodes=tuple((n.index, n.url) for n in nodes))
        elif not settings.oprf_nodes:
            click.secho(
                "no OPRF nodes configured (ESCROW_OPRF_NODES): registration and sign-in will answer 503",
                fg="yellow",
                err=True,
            )
        yield settings
    finally:
        stop_nodes(witnesses + nodes)


def _start_dev_nodes(settings: Settings) -> list[NodeProcess]:
    """Development mode with no ESCROW_OPRF_NODES: start the three development nodes (2 of 3) as their
    own processes on loopback ports, their key from a simulated ceremony (issue 13)."""
    if not settings.dev_mode or settings.oprf_nodes:
        return []
    components = build_components(settings)
    try:
        with components.session_factory() as session:
            files = ensure_dev_oprf_key(session, settings, log=components.log, now=datetime.now(UTC))
        service_key = components.oprf.signing_key
    finally:
        components.close()
    click.secho(NODE_WARNING, fg="red", bold=True, err=True)
    if files.created:
        click.echo(
            f"activated development OPRF key {files.key_id} (2 of 3 nodes); "
            f"share files in {files.passphrase_file.parent}"
        )
    nodes = start_nodes(
        files.share_files,
        passphrase_file=files.passphrase_file,
        service_key=service_key,
        data_dir=settings.instance_path / "dev-oprf-nodes",
    )
    for node in nodes:
        click.echo(f"development OPRF node {node.index}: {node.url} (stats: {node.url}/stats)")
    return nodes


DEV_WITNESSES = 2


def _dev_witness_specs(settings: Settings) -> list[WitnessSpec]:
    folder = settings.keys_dir / DEV_WITNESS_DIR
    return [
        WitnessSpec(i, f"dev-witness-{i}.localhost/w", folder / f"witness-{i}.key")
        for i in range(1, DEV_WITNESSES + 1)
    ]


def _dev_witness_setting(settings: Settings, processes: list[NodeProcess]) -> tuple[tuple[str, str], ...]:
    from escrow.crypto.note import CosignerKey
    from escrow.witness.settings import load_or_create_key

    urls = {p.index: p.url for p in processes}
    return tuple(
        (
            CosignerKey.from_verify_key(spec.name, load_or_create_key(spec.key_file)[0].verify_key).vkey,
            urls[spec.index],
        )
        for spec in _dev_witness_specs(settings)
    )


def _start_dev_witnesses(settings: Settings) -> list[NodeProcess]:
    """Development mode with no ESCROW_WITNESSES: start two development witnesses (issue 15) as their
    own processes on loopback ports, and write a policy naming both (<keys>/dev-witnesses/witness.policy)
    for the tools. A real witness is run by another organisation (docs/operations.md#witnesses)."""
    if not settings.dev_mode or settings.witnesses:
        return []
    from escrow.crypto.note import CosignerKey
    from escrow.witness.settings import load_or_create_key

    keyring = load_keyring(settings)
    log_key = verifier_key_string(
        settings.log_origin, nacl.signing.SigningKey(keyring.log_signing_seed).verify_key
    )
    specs = _dev_witness_specs(settings)
    lines = ["# DEVELOPMENT witnesses started by `escrow run`: both must cosign every checkpoint"]
    for spec in specs:
        signing_key, _ = load_or_create_key(spec.key_file)
        lines.append(
            f"witness w{spec.index} {CosignerKey.from_verify_key(spec.name, signing_key.verify_key).vkey}"
        )
    lines += [f"group dev-witnesses all {' '.join(f'w{s.index}' for s in specs)}", "quorum dev-witnesses", ""]
    policy = settings.keys_dir / DEV_WITNESS_DIR / DEV_WITNESS_POLICY
    policy.write_text("\n".join(lines))
    processes = start_witnesses(specs, log_keys=[log_key], data_dir=settings.instance_path / "dev-witnesses")
    for process in processes:
        click.echo(f"development witness {process.index}: {process.url} (state: {process.url}/logs)")
    click.echo(f"witness policy for the tools (--witness-policy): {policy}")
    return processes


@server_commands.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
@_fail_cleanly
def db_upgrade() -> None:
    """Migrate the database to the newest revision."""
    settings = Settings.from_env()
    # The default SQLite database lives in the instance folder, which may not exist yet.
    settings.instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        upgrade_database(settings.database_url)
        after = current_revision(engine)
    finally:
        engine.dispose()
    click.echo(_describe_migration(before, after))


def _echo_init_report(report: InitReport) -> None:
    for path in report.created_paths:
        click.echo(f"created {path}")
    if not report.created_paths:
        click.echo("keys and instance folder already present")
    click.echo(_describe_migration(report.revision_before, report.revision_after))


def _describe_migration(before: str | None, after: str | None) -> str:
    if before == after:
        return f"database already at revision {after}"
    return f"database migrated from {before or 'empty'} to revision {after}"


def _ensure_dev_key(settings: Settings) -> None:
    """Development mode only: simulate and activate a 3-of-5 escrow key if none is active (issue 4)."""
    if not settings.dev_mode:
        return
    components = build_components(settings)
    try:
        with components.session_factory() as session:
            report = ensure_dev_escrow_key(session, settings, log=components.log, now=datetime.now(UTC))
    finally:
        components.close()
    if report is not None:
        click.secho(DEV_WARNING, fg="red", bold=True, err=True)
        click.echo(f"activated development escrow key {report.key_id} (3 of 5)")
        click.echo(f"holder files: {report.directory}/holder-1.escrow ... holder-5.escrow")
        click.echo(
            f"their passphrase (shown once; also in {report.directory}/PASSPHRASE): {report.passphrase}"
        )
    _seed_demo(settings)


def _seed_demo(settings: Settings) -> None:
    """Development mode only: seed the demonstration accounts on first start (issue 8)."""
    components = build_components(settings)
    try:
        with components.session_factory() as session:
            seeded = seed_demo_instance(
                session,
                settings,
                hasher=components.password_hasher,
                log=components.log,
                totp_key=components.keyring.totp_key,
                now=datetime.now(UTC),
            )
    finally:
        components.close()
    if seeded is None:
        return
    click.echo(f"seeded a demonstration instance at {settings.issuer_url}/ (DEVELOPMENT ONLY)")
    click.echo("staff logins (shown once; also in " + str(seeded.logins_file) + ", mode 0600):")
    for username, password in seeded.logins.items():
        click.echo(f"  {username}: {password}")
    click.echo(
        f"legal officers {', '.join(seeded.totp_secrets)} also need a TOTP code: add their keys from "
        f"{seeded.logins_file} to an authenticator app, or print the current code with "
        "`make dev-code OFFICER=alice` (or `ESCROW_DEV_MODE=1 escrow dev-code alice`)"
    )
    click.echo(
        f"platform: {seeded.platform} (API key in {seeded.logins_file}; "
        f"its own staff sign in as {DEMO_PLATFORM_LOGIN} and manage it at /platform/)"
    )
    click.echo(
        f"legal officer key files: {seeded.officers_dir}/alice.key, bob.key (passphrase in PASSPHRASE)"
    )
    click.echo(f"court signing key: {seeded.court_seed_file}")
    click.echo(f"run the whole story: escrow demo --url {settings.issuer_url}")


def _server_components() -> Components:
    """Initialises the instance and returns its components (the same wiring the web app uses)."""
    settings = Settings.from_env()
    init_instance(settings)
    return build_components(settings)


@server_commands.group()
def staff() -> None:
    """Staff accounts (run on the server: administrators, verification and legal officers)."""


@staff.command("create")
@click.option("--username", required=True)
@click.option("--display-name", required=True)
@click.option("--organisation", required=True)
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice(STAFF_ROLES), help="Repeatable."
)
@click.option("--platform", "platform_id", help="With --role platform: the one platform this login manages.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_fail_cleanly
def staff_create(
    username: str,
    display_name: str,
    organisation: str,
    roles: tuple[str, ...],
    platform_id: str | None,
    password_stdin: bool,
) -> None:
    """Create a staff account; the password is prompted for (never an argument)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    components = _server_components()
    with components.session_factory() as session:
        view = create_staff(
            session,
            components.password_hasher,
            components.log,
            username=username,
            display_name=display_name,
            organisation=organisation,
            roles=roles,
            password=password,
            now=datetime.now(UTC),
            platform_id=platform_id,
        )
    bound = f", platform {view.platform_id}" if view.platform_id else ""
    click.echo(f"created staff account {view.username} ({', '.join(sorted(view.roles))}{bound})")


@staff.command("disable")
@click.option("--username", required=True)
@_fail_cleanly
def staff_disable(username: str) -> None:
    """Disable a staff account (kept for the record; it can no longer sign in)."""
    components = _server_components()
    with components.session_factory() as session:
        view = disable_staff(session, components.log, username=username, now=datetime.now(UTC))
    click.echo(f"disabled staff account {view.username}")


@staff.command("reset-totp")
@click.option("--username", required=True)
@_fail_cleanly
def staff_reset_totp(username: str) -> None:
    """Remove a member of staff's authenticator app (lost phone); they enrol a new one at next sign-in."""
    components = _server_components()
    with components.session_factory() as session:
        view = reset_totp(session, components.log, username=username, now=datetime.now(UTC))
    click.echo(f"reset the authenticator of {view.username}: they enrol a new one at their next sign-in")


@server_commands.command("dev-code")
@click.argument("username")
@_fail_cleanly
def dev_code(username: str) -> None:
    """DEVELOPMENT ONLY: print the current TOTP code of a seeded legal officer (keys/dev-logins.json)."""
    settings = Settings.from_env()
    if not settings.dev_mode:
        raise ConfigError("escrow dev-code works only in development mode (ESCROW_DEV_MODE=1)")
    staff = read_seed_record(settings.keys_dir)["staff"]
    try:
        secret = next(s.get("totp_secret") for s in staff if s["username"] == username)
    except (KeyError, TypeError, StopIteration) as e:
        raise ConfigError(f"no seeded login {username!r} in {settings.keys_dir / LOGINS_FILE}") from e
    if not secret:
        raise ConfigError(f"{username!r} has no authenticator (only legal officers need one)")
    click.echo(totp.code_at(secret, totp.current_step(datetime.now(UTC))))


@server_commands.group()
def keys() -> None:
    """Credential signing keys and the OPRF request key (run on the server)."""


@keys.command("oprf-client")
@_fail_cleanly
def keys_oprf_client() -> None:
    """Print the public key the OPRF nodes pin (ESCROW_NODE_SERVICE_KEY), base64url, and its fingerprint."""
    components = _server_components()
    try:
        key = components.oprf.signing_key
    finally:
        components.close()
    click.echo(b64u_encode(key))
    click.echo(f"fingerprint: {fingerprint(key)}", err=True)


@keys.command("rotate")
@_fail_cleanly
def keys_rotate() -> None:
    """Add a new credential signing key; the old one stays published until its credentials expire."""
    components = _server_components()
    with components.session_factory() as session:
        kid = rotate_signing_key(session, components.keyring, log=components.log, now=datetime.now(UTC))
        published = published_jwks(session, now=datetime.now(UTC))
    click.echo(f"new signing key {kid}; {len(published['keys'])} key(s) published at /.well-known/jwks.json")


@server_commands.group()
def admin() -> None:
    """The administrator's commands on the server: invite key-holders, open and cancel ceremonies."""


@admin.group("keyholder")
def admin_keyholder() -> None:
    """Key-holder invitations (the holder then runs `escrow keyholder init` on their own machine)."""


@admin.group("ceremony")
def admin_ceremony() -> None:
    """Open, reshare and cancel key ceremonies; simulate one (development only)."""


def _purpose_option(help_text: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--purpose",
        type=click.Choice(PURPOSES),
        default=PURPOSE_ESCROW,
        show_default=True,
        help=help_text,
    )


@admin_ceremony.command("simulate")
@_purpose_option("escrow: key-holder files holder-<j>.escrow; oprf: OPRF node share files node-<j>.share.")
@click.option("--threshold", default=3, show_default=True, type=click.IntRange(1, 255))
@click.option("--holders", default=5, show_default=True, type=click.IntRange(1, 255))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@passphrase_option
@click.option("--insecure-fast-kdf", is_flag=True, hidden=True, help="Tests only: cheap Argon2id.")
@clean_errors
def ceremony_simulate(
    purpose: str,
    threshold: int,
    holders: int,
    out: Path,
    passphrase_file: Path | None,
    insecure_fast_kdf: bool,
) -> None:
    """DEVELOPMENT ONLY: run the dealerless ceremony in one process and write every holder file
    (with --purpose oprf: every OPRF node's share file). Nothing is installed in the database."""
    click.secho(NODE_WARNING if purpose == PURPOSE_OPRF else WARNING, fg="red", bold=True, err=True)
    passphrase = read_passphrase(passphrase_file, confirm=True)
    limits = FAST_KDF if insecure_fast_kdf else DEFAULT_KDF
    result = simulate_ceremony(threshold, holders)
    if purpose == PURPOSE_OPRF:
        nodes = write_node_files(result, out, passphrase, opslimit=limits[0], memlimit=limits[1])
        paths = list(nodes.values())
    else:
        paths = write_holder_files(result, out, passphrase, opslimit=limits[0], memlimit=limits[1])
    for path in paths:
        click.echo(f"wrote {path}")
    if purpose == PURPOSE_OPRF:
        click.echo(
            f"serve one with: escrow oprf-node serve --share-file {paths[0]} --key-id {result.key.key_id} ..."
        )
    click.echo(f"key id {result.key.key_id} ({threshold} of {holders})")
    click.echo(json.dumps(result.key.to_dict(), sort_keys=True))


@admin_keyholder.command("invite")
@click.option("--name", required=True)
@click.option("--organisation", required=True)
@click.option("--contact", required=True)
@clean_errors
def keyholder_invite(name: str, organisation: str, contact: str) -> None:
    """Invite a key-holder; prints the one-time invitation code once."""
    components = _server_components()
    with components.session_factory() as session:
        invitation = keyholder_service.invite_keyholder(
            session,
            name=name,
            organisation=organisation,
            contact=contact,
            log=components.log,
            now=datetime.now(UTC),
        )
    click.echo(f"invited key-holder {invitation.holder_id}; one-time code (shown once): {invitation.code}")


def _ids(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError as e:
        raise click.BadParameter("key-holder ids are numbers separated by commas") from e


@admin_ceremony.command("open")
@_purpose_option("The key to make: the escrow key, or the key the OPRF nodes share (one holder per node).")
@click.option("--threshold", required=True, type=int)
@click.option("--holders", required=True, help="Enrolled key-holder ids in order, e.g. 1,2,3,4,5.")
@clean_errors
def ceremony_open(purpose: str, threshold: int, holders: str) -> None:
    """Open a ceremony for a new escrow key (or, with --purpose oprf, the OPRF nodes' key)."""
    components = _server_components()
    with components.session_factory() as session:
        ceremony_id = ceremony_service.open_ceremony(
            session,
            threshold=threshold,
            holder_ids=_ids(holders),
            log=components.log,
            now=datetime.now(UTC),
            purpose=purpose,
        )
    what = "the OPRF key" if purpose == PURPOSE_OPRF else "an escrow key"
    click.echo(f"opened ceremony {ceremony_id} for {what}")


@admin_ceremony.command("reshare")
@click.option("--threshold", required=True, type=int)
@click.option("--dealers", required=True, help="Current key-holder ids who hand over their shares.")
@click.option("--holders", required=True, help="The new key-holder ids, in order.")
@clean_errors
def ceremony_reshare(threshold: int, dealers: str, holders: str) -> None:
    """Open a reshare of the active key to a new set of key-holders."""
    components = _server_components()
    with components.session_factory() as session:
        ceremony_id = ceremony_service.open_reshare(
            session,
            threshold=threshold,
            dealer_ids=_ids(dealers),
            holder_ids=_ids(holders),
            log=components.log,
            now=datetime.now(UTC),
        )
    click.echo(f"opened reshare {ceremony_id}")


@admin_ceremony.command("cancel")
@click.argument("ceremony_id", type=int)
@click.option("--reason", default="cancelled by an admin", show_default=True)
@clean_errors
def ceremony_cancel(ceremony_id: int, reason: str) -> None:
    """Cancel an open ceremony."""
    components = _server_components()
    with components.session_factory() as session:
        ceremony_service.cancel_ceremony(
            session, ceremony_id=ceremony_id, reason=reason, log=components.log, now=datetime.now(UTC)
        )
    click.echo(f"cancelled ceremony {ceremony_id}")


@admin_ceremony.command("check-key")
@click.option(
    "--pin",
    is_flag=True,
    help="For a key activated before issue 14: log `key.pinned` once its newest ceremony's complete "
    "transcript proves the stored key.",
)
@clean_errors
def ceremony_check_key(pin: bool) -> None:
    """Check that the active escrow key is backed by its complete, logged ceremony transcript (what
    registration and issuance check before sealing); exits non-zero naming the mismatch."""
    components = _server_components()
    with components.session_factory() as session:
        if pin:
            index = key_pinning.pin_escrow_key(session, log=components.log, now=datetime.now(UTC))
            click.echo(f"logged key.pinned as entry {index}")
        key = key_pinning.pinned_escrow_key(session)
    click.echo(f"OK: escrow key {key.key_id} is the key its logged, complete ceremony transcript proves")


@server_commands.group("disclosures")
def disclosures() -> None:
    """Disclosure housekeeping (run on the server)."""


@disclosures.command("sweep")
@clean_errors
def disclosures_sweep() -> None:
    """Expire overdue requests and delete partial decryptions of closed viewing windows (run from cron)."""
    from escrow.services.disclosure import sweep_disclosures

    components = _server_components()
    with components.session_factory() as session:
        count = sweep_disclosures(session, log=components.log, now=datetime.now(UTC))
    click.echo(f"{count} disclosure request(s) closed or cleared")


@server_commands.group("log")
def log_commands() -> None:
    """The transparency log (run on the server)."""


@log_commands.command("sequence")
@click.option("--once", is_flag=True, help="Integrate what is queued now, then exit.")
@clean_errors
def log_sequence(once: bool) -> None:
    """Integrate queued log events into the tree in batches, one signed checkpoint per batch.

    Every `escrow run`/`escrow serve` process already runs a sequencer; this runs one on its own
    (ESCROW_LOG_BATCH_MS, ESCROW_LOG_BATCH_MAX). Any number may run: one works at a time.
    """
    from escrow.services.transparency import sequence_pending, tree_size

    components = _server_components()
    settings = components.settings
    try:
        while True:
            count = sequence_pending(
                components.session_factory,
                components.log,
                clock=lambda: datetime.now(UTC),
                batch_max=settings.log_batch_max,
                wait=once,
            )
            if once:
                with components.session_factory() as session:
                    click.echo(f"{count} event(s) integrated; the log has {tree_size(session)} entries")
                return
            time.sleep(settings.log_batch_ms / 1000)
    finally:
        components.close()


@server_commands.group("webhooks")
def webhooks() -> None:
    """Events to platforms (Standard Webhooks, issue 19): the delivery worker."""


@webhooks.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit (for cron or a timer).")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.5, 3600),
    help="Seconds between rounds.",
)
@_fail_cleanly
def webhooks_deliver(once: bool, interval: float) -> None:
    """Post the due webhook messages, retrying failures with exponential backoff; without --once,
    keep doing so every --interval seconds until stopped (SIGTERM or Ctrl-C)."""
    import time

    from escrow.services.webhooks import deliver_due

    components = _server_components()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        with components.session_factory() as session:
            report = deliver_due(session, keyring=components.keyring, now=datetime.now(UTC))
        if once or report.delivered or report.retrying or report.failed:
            click.echo(f"{report.delivered} delivered, {report.retrying} to retry, {report.failed} failed")
        if once:
            return
        time.sleep(interval)


def _add_demo() -> None:
    from escrow.cli.demo import demo

    server_commands.add_command(demo)


_add_demo()
