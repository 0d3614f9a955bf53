"""Sealed session values (escrow.crypto.session_box, issue 13): XChaCha20-Poly1305 bound to an owner."""

from __future__ import annotations

import pytest

from escrow.crypto.errors import EncodingError, OpenFailedError
from escrow.crypto.session_box import derive_session_box_key, open_session_value, seal_session_value

APP_SECRET = b"s" * 32
KEY = derive_session_box_key(APP_SECRET)
AAD = b"person:7"
PLAINTEXT = b"p" * 32


def test_a_sealed_value_opens_with_the_same_key_and_owner() -> None:
    sealed = seal_session_value(KEY, PLAINTEXT, associated_data=AAD)

    assert open_session_value(KEY, sealed, associated_data=AAD) == PLAINTEXT
    assert PLAINTEXT not in sealed
    assert len(sealed) == 24 + len(PLAINTEXT) + 16


def test_sealing_twice_gives_two_ciphertexts() -> None:
    assert seal_session_value(KEY, PLAINTEXT, associated_data=AAD) != seal_session_value(
        KEY, PLAINTEXT, associated_data=AAD
    )


def test_the_key_is_derived_from_and_differs_from_the_app_secret() -> None:
    assert len(KEY) == 32
    assert derive_session_box_key(APP_SECRET) == KEY
    assert KEY not in (APP_SECRET, APP_SECRET[:32])
    assert derive_session_box_key(b"t" * 32) != KEY


@pytest.mark.parametrize("position", [0, 23, 24, 40, -1])
def test_a_flipped_byte_does_not_open(position: int) -> None:
    sealed = bytearray(seal_session_value(KEY, PLAINTEXT, associated_data=AAD))
    sealed[position] ^= 0x01

    with pytest.raises(OpenFailedError):
        open_session_value(KEY, bytes(sealed), associated_data=AAD)


def test_another_owner_or_the_wrong_key_does_not_open() -> None:
    sealed = seal_session_value(KEY, PLAINTEXT, associated_data=AAD)

    with pytest.raises(OpenFailedError):
        open_session_value(KEY, sealed, associated_data=b"person:8")
    with pytest.raises(OpenFailedError):
        open_session_value(derive_session_box_key(b"t" * 32), sealed, associated_data=AAD)


@pytest.mark.parametrize("cut", [0, 10, 24, 39, 71])
def test_truncated_values_do_not_open(cut: int) -> None:
    sealed = seal_session_value(KEY, PLAINTEXT, associated_data=AAD)

    with pytest.raises(OpenFailedError):
        open_session_value(KEY, sealed[:cut], associated_data=AAD)


def test_wrong_types_and_lengths_are_refused() -> None:
    sealed = seal_session_value(KEY, PLAINTEXT, associated_data=AAD)
    with pytest.raises(OpenFailedError):
        open_session_value(KEY, sealed.hex(), associated_data=AAD)  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        open_session_value(KEY[:31], sealed, associated_data=AAD)
    with pytest.raises(EncodingError):
        seal_session_value(KEY, "text", associated_data=AAD)  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        seal_session_value(KEY, PLAINTEXT, associated_data="person:7")  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        derive_session_box_key(b"short")
    with pytest.raises(EncodingError):
        derive_session_box_key("s" * 32)  # type: ignore[arg-type]
