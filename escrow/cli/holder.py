"""``escrow keyholder ...``: the key-holder's tool, run on the holder's own machine.

Enrol, take part in ceremonies and reshares, then review, approve or reject disclosure requests. Every
command talks to the service over HTTP and never sends a secret: the share and the signing key stay in
the passphrase-protected holder file. Before approving, the tool checks the request itself (log
inclusion, officer and court signatures, envelopes) and that the log only grew since it last looked.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from escrow.cli.common import (
    DEFAULT_KDF,
    FAST_KDF,
    STATE_SUFFIX,
    clean_errors,
    load_log_state,
    log_fetch,
    passphrase_option,
    read_passphrase,
    save_log_state,
    witness_policy_option,
)
from escrow.client.audit import load_witness_policy
from escrow.client.disclosure import (
    CheckedRequest,
    approve,
    check_package,
    establish_checkpoint,
    fetch_checked,
    fetch_order,
    reject,
)
from escrow.client.disclosure.holders import holder_key
from escrow.client.disclosure.roster import (
    PIN_SUFFIX,
    establish_roster,
    fetch_version,
    read_pin,
    roster_review_lines,
    sign_version,
    write_pin,
)
from escrow.client.disclosure.shared import answer_json
from escrow.client.holder import (
    TERMINAL,
    CeremonyRunner,
    HolderClient,
    HolderClientError,
    UrllibTransport,
    enrol,
    find_open_ceremony,
    new_holder_secrets,
)
from escrow.crypto.ceremony_messages import fingerprint, public_keys
from escrow.crypto.holderfile import HolderSecrets, decrypt_holder_file, encrypt_holder_file
from escrow.keystore import read_secret_file, write_secret_file
from escrow.protocol.ceremony import (
    KIND_RESHARE,
    PURPOSE_OPRF,
    AccessStructure,
    CeremonyHeader,
    CeremonyProtocolError,
)
from escrow.protocol.roster import Roster

F = TypeVar("F", bound=Callable[..., Any])
MAX_TRANSIENT_FAILURES = 10


def _kdf_limits(data: bytes) -> tuple[int, int]:
    # Re-encrypt with the cost the holder chose at init (the header is authenticated on decryption).
    kdf = json.loads(data)["kdf"]
    return int(kdf["opslimit"]), int(kdf["memlimit"])


def _replace_holder_file(
    path: Path, secrets: HolderSecrets, passphrase: str, limits: tuple[int, int]
) -> None:
    data = encrypt_holder_file(secrets, passphrase, opslimit=limits[0], memlimit=limits[1])
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    write_secret_file(staging, data)
    os.replace(staging, path)


@click.group()
def keyholder() -> None:
    """The key-holder tool: enrol, take part in ceremonies and reshares (run on your own machine)."""


@keyholder.command("init")
@click.option("--server", required=True, help="The escrow service URL, e.g. https://escrow.example.org")
@click.option("--invite", "code", required=True, help="The one-time invitation code from the administrator.")
@click.option("--out", "out", default="holder.escrow", show_default=True, type=click.Path(path_type=Path))
@passphrase_option
@click.option("--insecure-fast-kdf", is_flag=True, hidden=True, help="Tests only: cheap Argon2id.")
@clean_errors
def keyholder_init(
    server: str, code: str, out: Path, passphrase_file: Path | None, insecure_fast_kdf: bool
) -> None:
    """Create your keys in a passphrase-protected holder file and register the public keys."""
    if out.exists():
        raise click.ClickException(
            f"{out} already exists; choose another --out (a holder file is never overwritten)"
        )
    passphrase = read_passphrase(passphrase_file, confirm=True)
    secrets = new_holder_secrets("")
    record = enrol(UrllibTransport(server), code, secrets)
    secrets = HolderSecrets(str(record["name"]), secrets.signing_seed, secrets.exchange_secret)
    limits = FAST_KDF if insecure_fast_kdf else DEFAULT_KDF
    write_secret_file(out, encrypt_holder_file(secrets, passphrase, opslimit=limits[0], memlimit=limits[1]))
    keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
    click.echo(f"enrolled as key-holder {record['id']} ({record['name']}); holder file written to {out}")
    click.echo(f"signing key fingerprint:  {fingerprint(keys.signing_key)}")
    click.echo(f"exchange key fingerprint: {fingerprint(keys.exchange_key)}")
    click.echo(
        "Read both fingerprints to the administrator by phone; they must match what the service shows."
    )
    click.echo(
        "Keep the holder file and its passphrase apart and backed up: without them your share is lost."
    )


@keyholder.command("show")
@click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@passphrase_option
@clean_errors
def keyholder_show(holder_file: Path, passphrase_file: Path | None) -> None:
    """Show your fingerprints and which escrow keys you hold a share of (never the share itself)."""
    secrets = decrypt_holder_file(
        read_secret_file(holder_file), read_passphrase(passphrase_file, confirm=False)
    )
    keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
    click.echo(f"key-holder: {secrets.name}")
    click.echo(f"signing key fingerprint:  {fingerprint(keys.signing_key)}")
    click.echo(f"exchange key fingerprint: {fingerprint(keys.exchange_key)}")
    for record in secrets.shares:
        click.echo(f"share {record.share.index} of key {record.key.key_id} ({record.key.threshold} needed)")
    if not secrets.shares:
        click.echo("no shares yet")


def purpose_line(header: CeremonyHeader) -> str:
    """Returns what the key of this ceremony is for, as the header every recipient signs says."""
    if header.purpose == PURPOSE_OPRF:
        return (
            "This ceremony makes the OPRF key the OPRF nodes share (purpose oprf): your share goes to "
            "your node, and approves no disclosure."
        )
    return "This ceremony makes the escrow key (purpose escrow): your share approves disclosures."


def roster_lines(header: CeremonyHeader) -> list[str]:
    """Returns one line per participant: name, both fingerprints and indices (what holders compare)."""
    lines = []
    for p in header.participants:
        roles = [
            f"{r} {i}" for r, i in (("deals as", p.dealer_index), ("receives as", p.recipient_index)) if i
        ]
        lines.append(
            f"{p.name}: signing {fingerprint(p.signing_key)} / exchange {fingerprint(p.exchange_key)}"
            f" ({', '.join(roles)})"
        )
    return lines


def access_lines(access: AccessStructure) -> list[str]:
    """Returns the access structure as the holder confirms it: t of n, then each new key-holder."""
    what = "the OPRF key" if access.header.purpose == PURPOSE_OPRF else "the escrow key"
    lines = [
        f"Access structure: any {access.threshold} of these {access.holders} key-holders together can use "
        f"{what}"
        + (
            " (every envelope sealed before this reshare included):"
            if access.header.kind == KIND_RESHARE
            else ":"
        )
    ]
    for p in access.members():
        organisation = access.organisations.get(p.holder, "") or "(no organisation)"
        lines.append(
            f"  share {p.recipient_index}: {p.name}, {organisation}, signing {fingerprint(p.signing_key)}"
        )
    return lines


def parse_access_option(value: str | None) -> tuple[int, int] | None:
    """Returns (t, n) from a ``T-of-N`` option value. Raises click.BadParameter if malformed."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*([0-9]{1,3})\s*-?of-?\s*([0-9]{1,3})\s*", value)
    if match is None:
        raise click.BadParameter(f"{value!r}: give the expected threshold and holders as T-of-N, e.g. 3-of-5")
    return int(match.group(1)), int(match.group(2))


def _access_checker(
    roster: Path | None, expected: tuple[int, int] | None
) -> Callable[[AccessStructure], None]:
    def check(access: AccessStructure) -> None:
        header = access.header
        click.echo(purpose_line(header))
        click.echo("The key-holders of this ceremony, as the service lists them:")
        for line in roster_lines(header):
            click.echo(f"  {line}")
        if roster is not None:
            confirmed = {" ".join(line.split()) for line in roster.read_text().splitlines()}
            for p in header.participants:
                for key in (p.signing_key, p.exchange_key):
                    if fingerprint(key) not in confirmed:
                        raise click.ClickException(
                            f"{p.name}'s fingerprint {fingerprint(key)} is not in {roster}: the "
                            "service may be substituting keys. Stop, and compare fingerprints with "
                            "every key-holder by phone"
                        )
            click.echo(f"every fingerprint is in {roster}")
        elif not click.confirm(
            "Does every fingerprint match the list you confirmed with the other key-holders by phone?"
        ):
            raise click.ClickException("stopped before sending anything: fingerprints not confirmed")
        for line in access_lines(access):
            click.echo(line)
        try:
            access.check_floor()  # before asking: nobody may agree to less than the published minimum
        except CeremonyProtocolError as e:
            raise click.ClickException(f"stopped before sending anything: {e.detail}") from e
        actual = f"{access.threshold}-of-{access.holders}"
        if expected is not None:
            if expected != (access.threshold, access.holders):
                raise click.ClickException(
                    f"stopped before sending anything: this ceremony is {actual}, not the "
                    f"{expected[0]}-of-{expected[1]} you confirmed (--confirm-access-structure)"
                )
            click.echo(f"access structure {actual} confirmed by --confirm-access-structure")
        elif not click.confirm(
            f"Do you agree that any {access.threshold} of these {access.holders} key-holders can use the key?"
        ):
            raise click.ClickException("stopped before sending anything: access structure not confirmed")

    return check


def _erasure_confirmer(holder_file: Path, assume_yes: bool) -> Callable[[str, int], bool]:
    def confirm(key_id: str, index: int) -> bool:
        click.echo(
            f"You are no longer a key-holder of key {key_id}. Your old share {index} would still open "
            "every envelope of it together with the other old shares."
        )
        if assume_yes:
            click.echo("erasing it (--erase-old-share)")
            return True
        return click.confirm(
            f"Erase your old share from {holder_file} now, and sign a statement that you did for the log?",
            default=True,
        )

    return confirm


def _run_ceremony(
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    ceremony_id: int | None,
    poll: float,
    timeout: float,
    roster: Path | None,
    expected: str | None,
    erase_old_share: bool = False,
) -> None:
    expected_access = parse_access_option(expected)
    data = read_secret_file(holder_file)
    passphrase = read_passphrase(passphrase_file, confirm=False)
    secrets = decrypt_holder_file(data, passphrase)
    limits = _kdf_limits(data)
    client = HolderClient(UrllibTransport(server), secrets.signing_seed)
    if ceremony_id is None:
        ceremony_id = find_open_ceremony(client)
    click.echo(f"taking part in ceremony {ceremony_id} as {secrets.name}")
    runner = CeremonyRunner(
        client,
        secrets,
        ceremony_id,
        on_new_secrets=lambda new: _replace_holder_file(holder_file, new, passphrase, limits),
        report=click.echo,
        confirm_access=_access_checker(roster, expected_access),
        confirm_erasure=_erasure_confirmer(holder_file, erase_old_share),
    )
    deadline = time.monotonic() + timeout
    last = ""
    failures = 0
    while True:
        try:
            status = runner.step()
            failures = 0
        except HolderClientError as e:
            # A network hiccup or a busy server must not end an hour-long ceremony: the runner
            # re-reads the transcript on the next step and picks up where it stopped.
            failures += 1
            if not e.is_transient or failures > MAX_TRANSIENT_FAILURES:
                raise
            click.echo(f"warning: {e}; retrying")
            time.sleep(poll)
            continue
        if status != last:
            click.echo(f"ceremony {ceremony_id}: {status}")
            last = status
        if status in TERMINAL and (status != "active" or runner.is_saved):
            break
        if time.monotonic() > deadline:
            raise click.ClickException(
                "timed out waiting for the other key-holders; run the command again later"
            )
        time.sleep(poll)
    if status != "active":
        state = client.public(f"/api/v1/ceremonies/{ceremony_id}")
        raise click.ClickException(
            f"ceremony {ceremony_id} {status}: {state.get('outcome') or 'no reason given'}"
        )
    click.echo("done: the key is active and your holder file is updated. Back it up now.")
    state = client.public(f"/api/v1/ceremonies/{ceremony_id}")
    header = CeremonyHeader.from_dict(state["header"])
    if header.purpose == PURPOSE_OPRF and state.get("key") is not None:
        click.echo(
            f"start your OPRF node with: escrow oprf-node serve --share-file {holder_file} "
            f"--key-id {state['key']['key_id']} (see docs/operations.md#oprf-node-ceremony)"
        )


def _ceremony_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--server", required=True, help="The escrow service URL."),
            click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path)),
            passphrase_option,
            click.option("--ceremony", "ceremony_id", type=int, help="Ceremony id (default: your open one)."),
            click.option("--poll", default=3.0, show_default=True, help="Seconds between checks."),
            click.option(
                "--timeout", default=3600.0, show_default=True, help="Give up after this many seconds."
            ),
            click.option(
                "--roster",
                type=click.Path(dir_okay=False, path_type=Path),
                help="File of the fingerprints confirmed by phone (one per line); otherwise you are asked.",
            ),
            click.option(
                "--confirm-access-structure",
                "expected",
                metavar="T-OF-N",
                help="For scripts: the threshold and number of new key-holders you agreed to, e.g. 3-of-5; "
                "the tool refuses to take part if the ceremony's differ (otherwise you are asked).",
            ),
        ]
    ):
        func = option(func)
    return func


@keyholder.command("ceremony")
@_ceremony_options
@clean_errors
def keyholder_ceremony(
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    ceremony_id: int | None,
    poll: float,
    timeout: float,
    roster: Path | None,
    expected: str | None,
) -> None:
    """Take part in a key ceremony: confirm t, n and the holders, deal, check, sign and pass the drill."""
    _run_ceremony(server, holder_file, passphrase_file, ceremony_id, poll, timeout, roster, expected)


@keyholder.command("reshare")
@_ceremony_options
@click.option(
    "--erase-old-share",
    is_flag=True,
    help="For scripts: if you leave the key, erase your old share and sign the erasure statement "
    "without asking.",
)
@clean_errors
def keyholder_reshare(
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    ceremony_id: int | None,
    poll: float,
    timeout: float,
    roster: Path | None,
    expected: str | None,
    erase_old_share: bool,
) -> None:
    """Take part in a reshare: confirm t', n' and the new holders, then hand over or receive a share.

    A key-holder who leaves the key is asked to erase its old share and sign an erasure statement."""
    _run_ceremony(
        server, holder_file, passphrase_file, ceremony_id, poll, timeout, roster, expected, erase_old_share
    )


def _holder(server: str, holder_file: Path, passphrase_file: Path | None):  # type: ignore[no-untyped-def]
    secrets = decrypt_holder_file(
        read_secret_file(holder_file), read_passphrase(passphrase_file, confirm=False)
    )
    return secrets, HolderClient(UrllibTransport(server), secrets.signing_seed)


_holder_options = [
    click.option("--server", required=True, help="The escrow service URL."),
    click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path)),
    passphrase_option,
    click.option(
        "--log-key", help="The log's verifier key, pinned out of band (default: the state's, else first use)."
    ),
    click.option(
        "--state",
        "state_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"The last log checkpoint you verified (default: the holder file's name + {STATE_SUFFIX}).",
    ),
    witness_policy_option,
]


def _state_path(holder_file: Path, state_file: Path | None) -> Path:
    return state_file or holder_file.with_name(holder_file.name + STATE_SUFFIX)


def _with_holder_options(func: F) -> F:
    for option in reversed(_holder_options):
        func = option(func)
    return func


def _roster_pin(holder_file: Path) -> Path:
    return holder_file.with_name(holder_file.name + PIN_SUFFIX)


def _save_pin(path: Path, roster: Roster | None) -> None:
    if roster is not None:
        write_pin(path, roster)
        click.echo(f"roster version {roster.version} pinned in {path}")


@keyholder.group("roster")
def keyholder_roster() -> None:
    """The roster of courts and officers' organisations the key-holders sign (issue 16)."""


def _public_json(server: str) -> Callable[[str], Any]:
    fetch = log_fetch(server)
    return lambda path: answer_json(fetch(path), path)


@keyholder_roster.command("review")
@click.option("--server", required=True, help="The escrow service URL.")
@click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--version", "version", type=int, help="The version to review (default: the newest).")
@clean_errors
def keyholder_roster_review(server: str, holder_file: Path, version: int | None) -> None:
    """Show a roster version in full, and what changed since the version you pinned."""
    fetch = _public_json(server)
    number = version if version is not None else _newest_version(fetch)
    roster = fetch_version(fetch, number)
    for line in roster_review_lines(roster, read_pin(_roster_pin(holder_file))):
        click.echo(line)
    click.echo(
        f"sign it, if every line is right: escrow keyholder roster sign {roster.version} --server {server} "
        f"--holder-file {holder_file}"
    )


def _newest_version(fetch: Callable[[str], Any]) -> int:
    """The newest roster version's number (a proposed one if any); which version it is, is all that is
    taken from this answer: the version itself is fetched and shown in full."""
    return int(fetch("/api/v1/roster/latest")["roster"]["version"])


@keyholder_roster.command("sign")
@click.argument("version", type=int)
@click.option("--server", required=True, help="The escrow service URL.")
@click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@passphrase_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (tests).")
@clean_errors
def keyholder_roster_sign(
    version: int, server: str, holder_file: Path, passphrase_file: Path | None, yes: bool
) -> None:
    """Sign a roster version with your holder key, after reading every line of it."""
    secrets, client = _holder(server, holder_file, passphrase_file)
    pin_path = _roster_pin(holder_file)
    pinned = read_pin(pin_path)
    roster = fetch_version(_public_json(server), version)
    for line in roster_review_lines(roster, pinned):
        click.echo(line)
    if not yes:
        click.confirm(f"Sign roster version {version} with your holder key?", abort=True)
    result = sign_version(client, secrets, roster, pinned)
    click.echo(f"signed roster version {version}; it is {result['status']}")
    if result["status"] == "active" and (pinned is None or pinned.version < roster.version):
        _save_pin(pin_path, roster)


@keyholder.command("review")
@_with_holder_options
@clean_errors
def keyholder_review(
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    log_key: str | None,
    state_file: Path | None,
    witness_policy: Path,
) -> None:
    """Check that the log only grew since you last looked, then list the requests awaiting you, each
    checked as `approve` would check it (against the log and the roster you pinned)."""
    path = _state_path(holder_file, state_file)
    fetch = log_fetch(server)
    log, new_state, lines = establish_checkpoint(
        fetch, log_key=log_key, state=load_log_state(path), policy=load_witness_policy(witness_policy)
    )
    for line in lines:
        click.echo(line)
    save_log_state(path, new_state)
    _, client = _holder(server, holder_file, passphrase_file)
    requests = client.request("GET", "/api/v1/holder/disclosures")
    if not requests:
        click.echo("no disclosure request awaits you")
        return
    pin = _roster_pin(holder_file)
    try:
        roster, roster_lines = establish_roster(
            lambda p: answer_json(fetch(p), p), holder_key(client), read_pin(pin)
        )
    except HolderClientError as e:
        roster, roster_lines = None, [f"roster: REFUSED: {e.detail}"]
    for line in roster_lines:
        click.echo(line)
    _save_pin(pin, roster)
    for item in requests:
        body = item["body"]
        try:
            check_package(client.request("GET", f"/api/v1/holder/disclosures/{item['id']}"), log, roster)
            verdict = "your tool's checks pass"
        except HolderClientError as e:
            verdict = f"REFUSED by your tool: {e.detail}"
        click.echo(
            f"request {item['id']}: {body['court']['name']}, case {body['case_number']}, "
            f"{len(body['scope'])} pseudonym(s), {item['approvals']} of {item['threshold']} approvals; "
            f"{verdict}; escrow keyholder approve {item['id']} --server {server} --holder-file {holder_file} "
            f"--witness-policy {witness_policy}"
        )


@keyholder.command("order")
@click.argument("request_id", type=int)
@click.option("--server", required=True, help="The escrow service URL.")
@click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@passphrase_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Write it here.")
@clean_errors
def keyholder_order(
    request_id: int, server: str, holder_file: Path, passphrase_file: Path | None, out: Path
) -> None:
    """Fetch the court order of a request, check its SHA-256 against the signed request, save it."""
    _, client = _holder(server, holder_file, passphrase_file)
    body, document = fetch_order(client, request_id)
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite it")
    out.write_bytes(document)
    click.echo(
        f"order of request {request_id} ({body.court.name}, case {body.case_number}) saved to {out}: "
        f"SHA-256 {body.order_sha256}, as in the request the officers signed"
    )


def _check_request(
    request_id: int,
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    log_key: str | None,
    state_file: Path | None,
    witness_policy: Path,
) -> tuple[HolderSecrets, HolderClient, CheckedRequest]:
    """What approve and reject both do first: check request `request_id` against the log (witnessed,
    consistent with the state kept) and the pinned roster, print what was checked, keep both pins."""
    path = _state_path(holder_file, state_file)
    state = load_log_state(path)
    secrets, client = _holder(server, holder_file, passphrase_file)
    pin = _roster_pin(holder_file)
    checked, new_state = fetch_checked(
        client,
        log_fetch(server),
        request_id,
        log_key=log_key,
        state=state,
        policy=load_witness_policy(witness_policy),
        pinned_roster=read_pin(pin),
    )
    for line in checked.summary:
        click.echo(line)
    save_log_state(path, new_state)
    _save_pin(pin, checked.roster)
    return secrets, client, checked


@keyholder.command("approve")
@click.argument("request_id", type=int)
@_with_holder_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (tests).")
@clean_errors
def keyholder_approve(
    request_id: int,
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    log_key: str | None,
    state_file: Path | None,
    witness_policy: Path,
    yes: bool,
) -> None:
    """Check a request yourself, then approve it with partial decryptions bound to its digest."""
    secrets, client, checked = _check_request(
        request_id, server, holder_file, passphrase_file, log_key, state_file, witness_policy
    )
    if not yes:
        click.confirm("Approve this disclosure with your share?", abort=True)
    result = approve(client, secrets, checked)
    progress = f"{result['approvals']} of {result['threshold']}"
    click.echo(f"approved; request {request_id} is {result['status']} ({progress})")


@keyholder.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True)
@_with_holder_options
@clean_errors
def keyholder_reject(
    request_id: int,
    reason: str,
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    log_key: str | None,
    state_file: Path | None,
    witness_policy: Path,
) -> None:
    """Reject a request, with a reason (signed with your holder key)."""
    if not reason.strip():
        raise HolderClientError("give a reason")
    secrets, client, checked = _check_request(
        request_id, server, holder_file, passphrase_file, log_key, state_file, witness_policy
    )
    result = reject(client, secrets, checked, reason)
    click.echo(f"rejected; request {request_id} is {result['status']} ({result['rejections']} rejection(s))")
