"""Key-holder files: round trip, wrong passphrase, tampering and foreign files each refused clearly."""

from __future__ import annotations

import json

import nacl.pwhash
import pytest

from escrow.crypto.dkg import KeyShare
from escrow.crypto.errors import HolderFileError
from escrow.crypto.group import Scalar
from escrow.crypto.holderfile import (
    HolderSecrets,
    ShareRecord,
    decrypt_holder_file,
    encrypt_holder_file,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode
from tests.crypto.support import run_dkg

FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}
KEY, SHARES = run_dkg(2, 3)
SECRETS = HolderSecrets(
    name="holder-2",
    signing_seed=b"\x01" * 32,
    exchange_secret=b"\x02" * 32,
    shares=(ShareRecord(KEY, SHARES[2]),),
)


def _file() -> dict:  # type: ignore[type-arg]
    return json.loads(encrypt_holder_file(SECRETS, "correct horse", **FAST))


def test_holder_file_round_trips_with_its_share() -> None:
    opened = decrypt_holder_file(encrypt_holder_file(SECRETS, "correct horse", **FAST), "correct horse")
    assert opened.name == "holder-2"
    assert opened.signing_seed == SECRETS.signing_seed
    record = opened.share_for(KEY.key_id)
    assert record.share.value == SHARES[2].value
    assert record.key == KEY
    assert "correct" not in repr(opened)
    assert "hidden" in repr(opened)


def test_file_holds_no_plaintext_secret() -> None:
    raw = encrypt_holder_file(SECRETS, "correct horse", **FAST)
    for secret in (SECRETS.signing_seed, bytes(SHARES[2].value)):
        assert secret not in raw
        assert b64u_encode(secret).encode() not in raw


def test_wrong_passphrase_is_a_clear_error() -> None:
    raw = encrypt_holder_file(SECRETS, "correct horse", **FAST)
    with pytest.raises(HolderFileError, match="wrong passphrase"):
        decrypt_holder_file(raw, "battery staple")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["kdf"].update(opslimit=d["kdf"]["opslimit"] + 1),
        lambda d: d["kdf"].update(salt=b64u_encode(b"\x00" * 16)),
        lambda d: d.update(nonce=b64u_encode(b"\x00" * 24)),
        lambda d: d.update(
            ciphertext=b64u_encode(
                bytes([b64u_decode(d["ciphertext"])[0] ^ 1]) + b64u_decode(d["ciphertext"])[1:]
            )
        ),
        lambda d: d.update(ciphertext=b64u_encode(b64u_decode(d["ciphertext"])[:-1])),
        lambda d: d.update(extra="field"),
    ],
)
def test_tampered_file_fails_like_a_wrong_passphrase(tamper) -> None:  # type: ignore[no-untyped-def]
    document = _file()
    tamper(document)
    with pytest.raises(HolderFileError, match="wrong passphrase or damaged"):
        decrypt_holder_file(json.dumps(document).encode(), "correct horse")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not a holder file"),
        ({"version": 2}, "unsupported holder file version"),
        ({"aead": "aes-gcm"}, "unsupported holder file algorithms"),
        ({"nonce": "!!"}, "bad header"),
        (
            {"kdf": {"alg": "argon2id13", "opslimit": 1, "memlimit": 2**40, "salt": "AA"}},
            "out of range",
        ),
    ],
)
def test_foreign_or_malformed_files_are_named(change: dict, message: str) -> None:  # type: ignore[type-arg]
    document = _file() | change
    with pytest.raises(HolderFileError, match=message):
        decrypt_holder_file(json.dumps(document).encode(), "correct horse")


def test_not_json_and_empty_passphrase_are_refused() -> None:
    with pytest.raises(HolderFileError, match="not JSON"):
        decrypt_holder_file(b"\xff\x00", "x")
    with pytest.raises(HolderFileError, match="passphrase is required"):
        encrypt_holder_file(SECRETS, "", **FAST)
    with pytest.raises(HolderFileError, match="out of range"):
        encrypt_holder_file(SECRETS, "x", opslimit=0, memlimit=FAST["memlimit"])


def test_share_for_an_unknown_key_and_bad_key_lengths_are_refused() -> None:
    with pytest.raises(HolderFileError, match="no share of key"):
        SECRETS.share_for("ek1-unknown")
    with pytest.raises(HolderFileError):
        HolderSecrets(name="x", signing_seed=b"\x00", exchange_secret=b"\x00" * 32)


def test_share_record_refuses_an_index_outside_the_key() -> None:
    from escrow.crypto.errors import InvalidParameterError

    record = ShareRecord(KEY, KeyShare(9, Scalar.from_int(1))).to_dict()
    with pytest.raises(InvalidParameterError):
        ShareRecord.from_dict(record)
