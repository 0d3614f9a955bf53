"""Person keys and pairwise pseudonyms (DESIGN.md section 7)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.errors import EncodingError
from escrow.crypto.pseudonym import PSEUDONYM_CHARS, HmacPseudonymDeriver

DERIVER = HmacPseudonymDeriver(person_key=b"k" * 32, pseudonym_key=b"m" * 32)
platform_ids = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=64)
identity_keys = st.binary(min_size=1, max_size=200)


@given(identity_keys, platform_ids)
def test_same_person_same_platform_gives_the_same_pseudonym(identity_key: bytes, platform: str) -> None:
    person_key = DERIVER.person_key(identity_key)

    assert DERIVER.pseudonym(person_key, platform) == DERIVER.pseudonym(
        DERIVER.person_key(identity_key), platform
    )


@given(identity_keys, platform_ids, platform_ids)
def test_same_person_on_two_platforms_gets_two_pseudonyms(identity_key: bytes, a: str, b: str) -> None:
    person_key = DERIVER.person_key(identity_key)

    assert (DERIVER.pseudonym(person_key, a) == DERIVER.pseudonym(person_key, b)) == (a == b)


@given(identity_keys, identity_keys, platform_ids)
def test_two_people_never_share_a_pseudonym(one: bytes, other: bytes, platform: str) -> None:
    same = one == other

    assert (
        DERIVER.pseudonym(DERIVER.person_key(one), platform)
        == DERIVER.pseudonym(DERIVER.person_key(other), platform)
    ) == same


@given(identity_keys, platform_ids)
def test_pseudonyms_are_130_bit_lowercase_base32(identity_key: bytes, platform: str) -> None:
    pseudonym = DERIVER.pseudonym(DERIVER.person_key(identity_key), platform)

    assert len(pseudonym) == PSEUDONYM_CHARS
    assert set(pseudonym) <= set("abcdefghijklmnopqrstuvwxyz234567")


@given(identity_keys, platform_ids)
def test_pseudonym_depends_on_the_server_key(identity_key: bytes, platform: str) -> None:
    # Without K_pseudonym nobody can compute (or link) pseudonyms from person keys.
    other = HmacPseudonymDeriver(person_key=b"k" * 32, pseudonym_key=b"n" * 32)
    person_key = DERIVER.person_key(identity_key)

    assert DERIVER.pseudonym(person_key, platform) != other.pseudonym(person_key, platform)


def test_further_slots_give_further_pseudonyms_on_one_platform() -> None:
    person_key = DERIVER.person_key(b"someone")

    names = {DERIVER.pseudonym(person_key, "forum", slot=s) for s in range(4)}

    assert len(names) == 4


def test_person_key_is_32_bytes_and_keyed() -> None:
    other = HmacPseudonymDeriver(person_key=b"j" * 32, pseudonym_key=b"m" * 32)

    assert len(DERIVER.person_key(b"x")) == 32
    assert DERIVER.person_key(b"x") != other.person_key(b"x")


def test_repr_hides_the_keys() -> None:
    assert "k" * 32 not in repr(DERIVER)


@pytest.mark.parametrize(
    ("person_key", "platform", "slot"),
    [(b"short", "forum", 0), (b"k" * 32, "", 0), (b"k" * 32, "a\x00b", 0), (b"k" * 32, "forum", -1)],
)
def test_pseudonym_refuses_malformed_input(person_key: bytes, platform: str, slot: int) -> None:
    with pytest.raises(EncodingError):
        DERIVER.pseudonym(person_key, platform, slot=slot)


def test_refuses_short_keys_and_empty_identity_keys() -> None:
    with pytest.raises(EncodingError):
        HmacPseudonymDeriver(person_key=b"k" * 16, pseudonym_key=b"m" * 32)
    with pytest.raises(EncodingError):
        DERIVER.person_key(b"")
