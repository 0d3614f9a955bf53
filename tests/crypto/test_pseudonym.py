"""Person keys and pairwise pseudonyms from one OPRF output (DESIGN.md sections 7 and 10, issue 13)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.errors import EncodingError
from escrow.crypto.pseudonym import (
    NOTICE_TAG_BYTES,
    OPRF_OUTPUT_BYTES,
    PERSON_KEY_BYTES,
    PSEUDONYM_CHARS,
    PersonKeys,
    PseudonymSecret,
    person_keys,
)

platform_ids = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=64)
oprf_outputs = st.binary(min_size=OPRF_OUTPUT_BYTES, max_size=OPRF_OUTPUT_BYTES)
Y = bytes(range(64))


def _hkdf_expand_32(prk: bytes, info: bytes) -> bytes:
    # RFC 5869 section 2.3, written out independently of the module under test.
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_known_answer_person_key_secret_and_pseudonyms() -> None:
    keys = person_keys(Y)
    secret = _hkdf_expand_32(Y, b"escrow/v2/pseudonym-secret")

    assert keys.person_key == _hkdf_expand_32(Y, b"escrow/v2/lookup")
    assert bytes(keys.secret) == secret
    for platform, slot, message in (
        ("forum", 0, b"escrow/v2/pseudonym\x00forum"),
        ("forum", 3, b"escrow/v2/pseudonym\x00forum\x003"),
    ):
        digest = hmac.new(secret, message, hashlib.sha256).digest()
        assert keys.secret.pseudonym(platform, slot=slot) == base64.b32encode(digest).decode().lower()[:26]


@given(oprf_outputs, platform_ids)
def test_same_output_same_platform_gives_the_same_pseudonym(y: bytes, platform: str) -> None:
    # Ban stickiness: every sign-in evaluates the OPRF again and must land on the same pseudonym.
    assert person_keys(y).secret.pseudonym(platform) == person_keys(y).secret.pseudonym(platform)


@given(oprf_outputs, platform_ids, platform_ids)
def test_same_person_on_two_platforms_gets_two_pseudonyms(y: bytes, a: str, b: str) -> None:
    secret = person_keys(y).secret

    assert (secret.pseudonym(a) == secret.pseudonym(b)) == (a == b)


@given(oprf_outputs, oprf_outputs, platform_ids)
def test_two_people_never_share_a_pseudonym(one: bytes, other: bytes, platform: str) -> None:
    same = one == other

    assert (
        person_keys(one).secret.pseudonym(platform) == person_keys(other).secret.pseudonym(platform)
    ) == same


@given(oprf_outputs, platform_ids)
def test_pseudonyms_are_130_bit_lowercase_base32(y: bytes, platform: str) -> None:
    pseudonym = person_keys(y).secret.pseudonym(platform)

    assert len(pseudonym) == PSEUDONYM_CHARS
    assert set(pseudonym) <= set("abcdefghijklmnopqrstuvwxyz234567")


@given(oprf_outputs, platform_ids)
def test_the_stored_person_key_computes_no_pseudonym(y: bytes, platform: str) -> None:
    # What the database holds (person_key) used as if it were the secret gives nothing of the person's.
    keys = person_keys(y)

    assert keys.person_key != bytes(keys.secret)
    assert PseudonymSecret(keys.person_key).pseudonym(platform) != keys.secret.pseudonym(platform)


def test_further_slots_give_further_pseudonyms_on_one_platform() -> None:
    secret = person_keys(Y).secret

    assert len({secret.pseudonym("forum", slot=s) for s in range(4)}) == 4


def test_person_key_is_32_bytes() -> None:
    assert len(person_keys(Y).person_key) == PERSON_KEY_BYTES


def test_reprs_hide_the_keys() -> None:
    keys = person_keys(Y)

    for text in (repr(keys), repr(keys.secret), str(keys.secret)):
        assert keys.person_key.hex() not in text
        assert bytes(keys.secret).hex() not in text
        assert str(bytes(keys.secret)) not in text
    assert repr(keys) == "PersonKeys(<hidden>)"


def test_secret_compares_by_value_and_is_not_hashable() -> None:
    secret = person_keys(Y).secret

    assert secret == PseudonymSecret.from_bytes(bytes(secret))
    assert secret != PseudonymSecret.from_bytes(b"\x00" * 32)
    assert secret != bytes(secret)  # a secret is never equal to raw bytes
    assert isinstance(person_keys(Y), PersonKeys)
    with pytest.raises(TypeError):
        hash(secret)


@pytest.mark.parametrize(
    ("platform", "slot"), [("", 0), ("a\x00b", 0), ("forum", -1), (b"forum", 0), ("forum", "1")]
)
def test_pseudonym_refuses_malformed_input(platform: object, slot: object) -> None:
    with pytest.raises(EncodingError):
        person_keys(Y).secret.pseudonym(platform, slot=slot)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [b"", b"k" * 31, b"k" * 33, bytearray(32), "k" * 32])
def test_secret_must_be_32_bytes(data: object) -> None:
    with pytest.raises(EncodingError):
        PseudonymSecret.from_bytes(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("output", [b"", Y[:63], Y + b"\x00", Y[:32], bytearray(Y), Y.hex()])
def test_person_keys_refuses_anything_but_a_64_byte_output(output: object) -> None:
    with pytest.raises(EncodingError):
        person_keys(output)  # type: ignore[arg-type]


# --- notice tags (issue 14) -------------------------------------------------------------------------


def test_known_answer_notice_tag() -> None:
    secret = person_keys(Y).secret
    pseudonym = secret.pseudonym("forum")
    expected = hmac.new(
        bytes(secret), b"escrow/v2/notice-tag\x00forum\x00" + pseudonym.encode(), hashlib.sha256
    ).digest()

    assert secret.notice_tag("forum", pseudonym) == expected
    assert len(expected) == NOTICE_TAG_BYTES


@given(oprf_outputs, platform_ids, platform_ids)
def test_notice_tags_of_two_pseudonyms_are_unrelated_and_never_a_pseudonym(y: bytes, a: str, b: str) -> None:
    secret = person_keys(y).secret
    first, second = secret.pseudonym(a), secret.pseudonym(b, slot=1)
    tag_a, tag_b = secret.notice_tag(a, first), secret.notice_tag(b, second)

    assert tag_a != tag_b
    assert tag_a == secret.notice_tag(a, first)  # deterministic: the person recomputes it at will
    # domain-separated from the pseudonym PRF: neither tag is any pseudonym's HMAC
    for platform in (a, b):
        pseudonym_mac = hmac.new(
            bytes(secret), b"escrow/v2/pseudonym\x00" + platform.encode(), hashlib.sha256
        )
        assert pseudonym_mac.digest() not in (tag_a, tag_b)


@given(oprf_outputs, oprf_outputs, platform_ids)
def test_only_the_secret_computes_a_persons_notice_tag(one: bytes, other: bytes, platform: str) -> None:
    mine, theirs = person_keys(one).secret, person_keys(other).secret
    pseudonym = mine.pseudonym(platform)

    # knowing the platform and the pseudonym (what the platform holds) is not enough
    assert (one == other) == (mine.notice_tag(platform, pseudonym) == theirs.notice_tag(platform, pseudonym))


@pytest.mark.parametrize(
    ("platform", "pseudonym"), [("", "p"), ("forum", ""), ("a\x00b", "p"), (1, "p"), ("f", None)]
)
def test_notice_tag_refuses_malformed_input(platform: object, pseudonym: object) -> None:
    with pytest.raises(EncodingError):
        person_keys(Y).secret.notice_tag(platform, pseudonym)  # type: ignore[arg-type]
