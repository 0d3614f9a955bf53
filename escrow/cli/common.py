"""What every ``escrow`` command shares: clean error messages and holder-file passphrases.

Light: click, the crypto core and the key-file helpers only, so it runs on a key-holder's or a legal
officer's machine without the server's dependencies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click
import nacl.pwhash.argon2id

from escrow.client.audit import AuditState, read_state, write_state
from escrow.client.http import HttpClient
from escrow.crypto.errors import CryptoError, HolderFileError
from escrow.errors import EscrowError

P = ParamSpec("P")
R = TypeVar("R")

# Test-only Argon2id cost (as Settings.for_tests): a holder file written with it is cheap to brute-force.
FAST_KDF = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
DEFAULT_KDF = (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE)


def clean_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Crypto and holder-tool failures become ``Error: <message>`` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HolderFileError as e:
            raise click.ClickException(f"cannot open the holder file: {e}") from e
        except CryptoError as e:
            raise click.ClickException(f"a cryptographic check failed: {e}") from e
        except EscrowError as e:
            raise click.ClickException(str(e)) from e
        except OSError as e:
            raise click.ClickException(f"{e.strerror}: {e.filename}") from e

    return wrapper


MIN_PASSPHRASE_LENGTH = 12  # docs/operations.md asks for five random words; this refuses the obviously weak


def read_passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    """Returns the passphrase from the file or a prompt; a new one (`confirm`) must be long enough."""
    if passphrase_file is not None:
        passphrase = passphrase_file.read_text().rstrip("\n")
    else:
        passphrase = str(click.prompt("Holder file passphrase", hide_input=True, confirmation_prompt=confirm))
    if confirm and len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise click.ClickException(
            f"choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters (five random words is good)"
        )
    return passphrase


passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the passphrase from this file (for scripts); otherwise it is prompted for.",
)


STATE_SUFFIX = ".log-state.json"
"""What a holder's or officer's last verified log checkpoint is saved as, beside their key file."""


def log_fetch(server: str) -> Callable[[str], bytes]:
    """Returns a GET of the server's public paths (the transparency log), as the client tools take it."""
    http = HttpClient(server)

    def fetch(path: str) -> bytes:
        return http.get_bytes(path)

    return fetch


def load_log_state(path: Path) -> AuditState | None:
    """Reads the log checkpoint verified last time (None on a first run, which the user is told)."""
    state = read_state(path)
    if state is None:
        click.echo(f"no log state at {path} yet: this first run trusts the log on first use")
    return state


def save_log_state(path: Path, state: AuditState) -> None:
    write_state(path, state)
    click.echo(f"log state saved to {path}")


WITNESS_POLICY_ENV = "ESCROW_WITNESS_POLICY"
# Issue 15: no tool trusts an unwitnessed checkpoint, so the policy is required; a file whose only
# line is `quorum none` trusts the log key alone, and says so on every run.
witness_policy_option = click.option(
    "--witness-policy",
    "witness_policy",
    required=True,
    envvar=WITNESS_POLICY_ENV,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The witness policy file: which witnesses must have cosigned the log's checkpoint "
    f"(docs/transparency.md#witness-policy; {WITNESS_POLICY_ENV}).",
)
