"""c2sp.org/tlog-cosignature v1 (Ed25519): the signed message, the key ID, the line format, vkeys, and
that any change to the checkpoint, the timestamp or the signature is refused."""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.note import (
    CosignerKey,
    InvalidCosignatureError,
    MalformedVerifierKeyError,
    add_signature_lines,
    cosign,
    cosigned_message,
    cosigner_key_hash,
    format_checkpoint,
    parse_cosigner_vkey,
    sign_note,
    verifier_key_string,
    verify_cosignatures,
)

LOG = nacl.signing.SigningKey(b"\x01" * 32)
WITNESS = nacl.signing.SigningKey(b"\x02" * 32)
NAME = "witness.example/w1"
ORIGIN = "example.com/behind-the-sofa"
BODY = format_checkpoint(ORIGIN, 20852163, base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))


def _note() -> str:
    return sign_note(BODY, ORIGIN, LOG)


def test_the_signed_message_is_the_header_the_time_line_and_the_body_as_the_spec_shows() -> None:
    # c2sp.org/tlog-cosignature "Ed25519 signed message", the spec's example.
    assert cosigned_message(BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_the_key_id_uses_algorithm_byte_0x04_not_the_note_key_0x01() -> None:
    public = bytes(WITNESS.verify_key)
    expected = hashlib.sha256(NAME.encode() + b"\n\x04" + public).digest()[:4]

    assert cosigner_key_hash(NAME, public) == expected
    assert cosigner_key_hash(NAME, public) != bytes.fromhex(
        verifier_key_string(NAME, WITNESS.verify_key).split("+")[1]
    )


def test_a_cosignature_line_holds_key_id_timestamp_and_signature_and_verifies() -> None:
    line = cosign(BODY, NAME, WITNESS, 1679315147)
    raw = base64.b64decode(line.removeprefix(f"\u2014 {NAME} ").removesuffix("\n"))
    key = CosignerKey.from_verify_key(NAME, WITNESS.verify_key)

    assert raw[:4] == key.key_hash
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    nacl.signing.VerifyKey(key.public_key).verify(cosigned_message(BODY, 1679315147), raw[12:])
    found = verify_cosignatures(add_signature_lines(_note(), [line]), [key])
    assert found[NAME].timestamp == 1679315147


def test_vkeys_round_trip_and_refuse_a_note_key_or_a_wrong_key_id() -> None:
    key = CosignerKey.from_verify_key(NAME, WITNESS.verify_key)

    assert parse_cosigner_vkey(key.vkey) == key
    with pytest.raises(MalformedVerifierKeyError):
        parse_cosigner_vkey(verifier_key_string(NAME, WITNESS.verify_key))  # type 0x01, not 0x04
    name, _, rest = key.vkey.partition("+")
    with pytest.raises(MalformedVerifierKeyError):
        parse_cosigner_vkey(f"{name}+00000000+{rest.partition('+')[2]}")


def test_cosignatures_by_unknown_keys_are_ignored_and_a_bad_one_by_a_known_key_is_refused() -> None:
    key = CosignerKey.from_verify_key(NAME, WITNESS.verify_key)
    stranger = cosign(BODY, "other.example/w", nacl.signing.SigningKey(b"\x03" * 32), 5)
    assert verify_cosignatures(add_signature_lines(_note(), [stranger]), [key]) == {}

    line = cosign(BODY, NAME, WITNESS, 7)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # the timestamp is signed: change it and the signature fails
    forged = f"\u2014 {NAME} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(InvalidCosignatureError):
        verify_cosignatures(add_signature_lines(_note(), [forged]), [key])


@given(
    size=st.integers(min_value=0, max_value=2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    timestamp=st.integers(min_value=0, max_value=2**63 - 1),
    other_root=st.binary(min_size=32, max_size=32),
)
def test_a_cosignature_verifies_only_on_the_checkpoint_it_was_made_for(
    size: int, root: bytes, timestamp: int, other_root: bytes
) -> None:
    key = CosignerKey.from_verify_key(NAME, WITNESS.verify_key)
    body = format_checkpoint(ORIGIN, size, root)
    line = cosign(body, NAME, WITNESS, timestamp)

    assert verify_cosignatures(add_signature_lines(sign_note(body, ORIGIN, LOG), [line]), [key])[
        NAME
    ].timestamp == (timestamp)
    if other_root != root:
        other = sign_note(format_checkpoint(ORIGIN, size, other_root), ORIGIN, LOG)
        with pytest.raises(InvalidCosignatureError):
            verify_cosignatures(add_signature_lines(other, [line]), [key])


def test_add_signature_lines_adds_each_line_once() -> None:
    line = cosign(BODY, NAME, WITNESS, 1)

    once = add_signature_lines(_note(), [line, line])

    assert once.count(line) == 1
    assert add_signature_lines(once, [line]) == once


@pytest.mark.parametrize("timestamp", [-1, 2**63, True])
def test_a_timestamp_outside_u63_is_refused(timestamp: int) -> None:
    with pytest.raises(InvalidCosignatureError):
        cosigned_message(BODY, timestamp)
