"""Threshold sealing: t holders open, t-1 cannot, every proof binds its request, every change fails;
blinded partials open only with the blinding scalar; envelopes prove their randomness (issue 14)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.disclosure import blinding_message, blinding_point, blinding_scalar
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import (
    DuplicateShareError,
    EncodingError,
    InvalidParameterError,
    InvalidPointError,
    InvalidProofError,
    NotEnoughSharesError,
    OpenFailedError,
)
from escrow.crypto.group import G, Point, Scalar
from escrow.crypto.seal import (
    Envelope,
    IdentitySeal,
    PartialDecryption,
    SealKey,
    combine_and_open,
    combine_partials,
    open_blinded,
    open_with_secret_point,
    partial_decrypt,
    reseal,
    seal,
    seal_identity,
    verify_partial,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode
from tests.crypto.support import run_dkg

IDENTITY = b'{"name":"Ada Lovelace","birthdate":"1815-12-10"}'
REQUEST = b"\x42" * 32
OTHER_REQUEST = b"\x43" * 32
CONTEXT = {"platform": "forum.example", "pseudonym": "k7d2", "envelope_id": "e1"}

KEY_3_OF_5, SHARES_3_OF_5 = run_dkg(3, 5)
PERSON = SealKey(b"\x07" * 64)


def _open(key, shares, envelope, holders, request=REQUEST):  # type: ignore[no-untyped-def]
    partials = [partial_decrypt(shares[j], envelope, request) for j in holders]
    return combine_and_open(key, envelope, request, partials)


@st.composite
def threshold_and_holders(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=12))
    return draw(st.integers(min_value=1, max_value=n)), n


@given(threshold_and_holders(), st.randoms(), st.binary(max_size=300))
@settings(max_examples=25, deadline=None)
def test_t_holders_open_and_t_minus_1_do_not(tn, rnd, payload) -> None:  # type: ignore[no-untyped-def]
    t, n = tn
    key, shares = run_dkg(t, n)
    envelope = reseal(key, PERSON, seal_identity(PERSON, payload, {"kind": "identity"}), CONTEXT)
    subset = rnd.sample(sorted(shares), t)
    opened = _open(key, shares, envelope, subset)
    assert opened.identity == payload
    assert dict(opened.context) == {"kind": "identity"}
    if t > 1:
        fewer = rnd.sample(sorted(shares), t - 1)
        partials = [partial_decrypt(shares[j], envelope, REQUEST) for j in fewer]
        with pytest.raises(NotEnoughSharesError):
            combine_and_open(key, envelope, REQUEST, partials)
        # Even a server lied to about the threshold learns nothing from t-1 valid shares.
        lowered = dataclasses.replace(key, threshold=t - 1)
        with pytest.raises(OpenFailedError):
            combine_and_open(lowered, envelope, REQUEST, partials)


def test_every_3_subset_of_5_opens_and_no_2_subset_does() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    partials = {j: partial_decrypt(SHARES_3_OF_5[j], envelope, REQUEST) for j in SHARES_3_OF_5}
    for subset in itertools.combinations(partials, 3):
        assert (
            combine_and_open(KEY_3_OF_5, envelope, REQUEST, [partials[j] for j in subset]).identity
            == IDENTITY
        )
    lowered = dataclasses.replace(KEY_3_OF_5, threshold=2)
    for subset in itertools.combinations(partials, 2):
        with pytest.raises(OpenFailedError):
            combine_and_open(lowered, envelope, REQUEST, [partials[j] for j in subset])


def test_more_than_t_valid_shares_still_open() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    assert _open(KEY_3_OF_5, SHARES_3_OF_5, envelope, [1, 2, 3, 4, 5]).identity == IDENTITY


def test_partial_made_for_one_request_fails_for_another_and_names_holder() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    partials = [partial_decrypt(SHARES_3_OF_5[j], envelope, REQUEST) for j in (1, 2)]
    partials.append(partial_decrypt(SHARES_3_OF_5[4], envelope, OTHER_REQUEST))
    with pytest.raises(InvalidProofError) as caught:
        combine_and_open(KEY_3_OF_5, envelope, REQUEST, partials)
    assert caught.value.holder == 4


def test_partial_made_for_another_envelope_is_refused() -> None:
    one, two = seal(KEY_3_OF_5, IDENTITY, CONTEXT), seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    stolen = partial_decrypt(SHARES_3_OF_5[2], one, REQUEST)
    with pytest.raises(InvalidProofError) as caught:
        verify_partial(KEY_3_OF_5, two, REQUEST, stolen)
    assert caught.value.holder == 2


def test_altered_decryption_share_is_rejected_naming_holder() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    partial = partial_decrypt(SHARES_3_OF_5[5], envelope, REQUEST)
    altered = dataclasses.replace(partial, d=partial.d + G)
    with pytest.raises(InvalidProofError) as caught:
        verify_partial(KEY_3_OF_5, envelope, REQUEST, altered)
    assert caught.value.holder == 5


def test_share_from_wrong_holder_index_is_rejected() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    partial = partial_decrypt(SHARES_3_OF_5[1], envelope, REQUEST)
    with pytest.raises(InvalidProofError) as caught:
        verify_partial(KEY_3_OF_5, envelope, REQUEST, dataclasses.replace(partial, holder=2))
    assert caught.value.holder == 2


def test_duplicate_share_is_refused() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    p1 = partial_decrypt(SHARES_3_OF_5[1], envelope, REQUEST)
    p2 = partial_decrypt(SHARES_3_OF_5[2], envelope, REQUEST)
    with pytest.raises(DuplicateShareError) as caught:
        combine_and_open(KEY_3_OF_5, envelope, REQUEST, [p1, p2, p1])
    assert caught.value.holder == 1


def test_envelope_sealed_to_another_key_is_refused() -> None:
    other_key, other_shares = run_dkg(2, 3)
    envelope = seal(other_key, IDENTITY, CONTEXT)
    partials = [partial_decrypt(other_shares[j], envelope, REQUEST) for j in (1, 2)]
    with pytest.raises(InvalidParameterError):
        combine_and_open(KEY_3_OF_5, envelope, REQUEST, partials)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, "digest"])
def test_request_digest_must_be_32_bytes(bad: object) -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    with pytest.raises(EncodingError):
        partial_decrypt(SHARES_3_OF_5[1], envelope, bad)  # type: ignore[arg-type]


def _binary_fields(envelope: Envelope) -> dict[str, bytes]:
    return {name: b64u_decode(envelope.to_dict()[name]) for name in ("r", "nonce", "outer", "proof")}


def _field(name: str, raw: bytearray) -> object:
    if name == "r":
        try:
            return Point.decode(bytes(raw))
        except InvalidPointError:
            return None
    if name == "proof":
        return None
    return bytes(raw)


def test_every_single_byte_change_to_an_envelope_fails_to_open() -> None:
    # Honest holders asked to decrypt a tampered envelope produce valid shares for it: opening must
    # still fail, so the envelope itself (not only the proofs) protects every byte.
    key, shares = run_dkg(2, 3)
    envelope = seal(key, IDENTITY, CONTEXT)
    original = envelope.to_dict()
    attempts = 0
    for name, raw in _binary_fields(envelope).items():
        for position in range(len(raw)):
            changed = bytearray(raw)
            changed[position] ^= 0x01
            attempts += 1
            # The proof of knowledge binds every byte: a changed envelope never reaches a holder.
            with pytest.raises((InvalidPointError, InvalidProofError, EncodingError)):
                Envelope.from_dict(original | {name: b64u_encode(bytes(changed))})
            # And holders tricked into decrypting it anyway (the proof skipped) cannot open it.
            value = _field(name, changed)
            if value is not None:
                with pytest.raises(OpenFailedError):
                    _open(key, shares, dataclasses.replace(envelope, **{name: value}), (1, 2))
    assert attempts > 100
    for change in ({"context": CONTEXT | {"pseudonym": "k7d3"}}, {"key_id": "ek1-x"}):
        with pytest.raises(InvalidProofError):
            Envelope.from_dict(original | change)


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_any_byte_change_to_the_stored_form_is_refused_or_fails_to_open(
    data: st.DataObject,
) -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    raw = bytearray(envelope.to_bytes())
    position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    replacement = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != raw[position]))
    raw[position] = replacement
    try:
        tampered = Envelope.from_bytes(bytes(raw))
    except (EncodingError, UnicodeDecodeError, InvalidProofError):
        return
    # Only a change that decodes to the very same envelope (a JSON escape) survives the proof.
    assert tampered == envelope


def test_truncated_or_malformed_envelopes_are_refused() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    good = envelope.to_dict()
    with pytest.raises(OpenFailedError):
        _open(
            KEY_3_OF_5,
            SHARES_3_OF_5,
            dataclasses.replace(envelope, outer=envelope.outer[:-1]),
            (1, 2, 3),
        )
    with pytest.raises(InvalidProofError):
        Envelope.from_dict(good | {"outer": b64u_encode(envelope.outer[:-1])})
    for bad in (
        {k: v for k, v in good.items() if k != "r"},
        good | {"v": 1},
        good | {"v": True},
        good | {"extra": 1},
        good | {"key_id": 5},
        good | {"nonce": b64u_encode(b"\x00" * 12)},
        good | {"context": [1]},
        good | {"context": {"x": 1.5}},
    ):
        with pytest.raises(EncodingError):
            Envelope.from_dict(bad)
    for text in (b"not json", b"[1]"):
        with pytest.raises(EncodingError):
            Envelope.from_bytes(text)
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope


def test_resealed_envelopes_share_no_bytes_with_each_other_or_the_seal() -> None:
    identity_seal = seal_identity(PERSON, IDENTITY, {"kind": "identity"})
    one = reseal(KEY_3_OF_5, PERSON, identity_seal, CONTEXT)
    two = reseal(KEY_3_OF_5, PERSON, identity_seal, CONTEXT)
    seal_fields = [bytes(PERSON.point), identity_seal.nonce, identity_seal.inner]
    for name, value in _binary_fields(one).items():
        assert value != _binary_fields(two)[name]
        for chunk_start in range(0, len(value) - 16, 16):
            chunk = value[chunk_start : chunk_start + 16]
            assert chunk not in _binary_fields(two)[name]
            assert all(chunk not in field for field in seal_fields)
    assert one.digest() != two.digest()
    assert _open(KEY_3_OF_5, SHARES_3_OF_5, two, (2, 3, 4)).identity == IDENTITY


def test_envelope_length_does_not_reveal_identity_length() -> None:
    short = seal(KEY_3_OF_5, b"Al", CONTEXT)
    long = seal(KEY_3_OF_5, b"A" * 200, CONTEXT)
    assert len(short.outer) == len(long.outer)


def test_seal_and_partial_round_trip_through_their_dict_forms() -> None:
    identity_seal = seal_identity(PERSON, IDENTITY, {"kind": "identity"})
    assert IdentitySeal.from_dict(identity_seal.to_dict()) == identity_seal
    for bad in (identity_seal.to_dict() | {"v": 1}, identity_seal.to_dict() | {"x": 1}, {"v": 2}):
        with pytest.raises(EncodingError):
            IdentitySeal.from_dict(bad)
    envelope = reseal(KEY_3_OF_5, PERSON, identity_seal, CONTEXT)
    partial = partial_decrypt(SHARES_3_OF_5[3], envelope, REQUEST)
    assert PartialDecryption.from_dict(json.loads(json.dumps(partial.to_dict()))) == partial
    for bad in (
        {"holder": 0} | {k: v for k, v in partial.to_dict().items() if k != "holder"},
        {"holder": 1},
    ):
        with pytest.raises(EncodingError):
            PartialDecryption.from_dict(bad)
    assert "hidden" in repr(_open(KEY_3_OF_5, SHARES_3_OF_5, envelope, (1, 2, 3)))


def test_seal_refuses_contexts_that_cannot_be_encoded_canonically() -> None:
    with pytest.raises(EncodingError):
        seal(KEY_3_OF_5, IDENTITY, {"weight": 1.5})
    with pytest.raises(EncodingError):
        seal_identity(PERSON, IDENTITY, ["not", "a", "mapping"])  # type: ignore[arg-type]


def test_threshold_key_from_dict_opens_envelopes_sealed_before_round_trip() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    key = ThresholdPublicKey.from_dict(json.loads(json.dumps(KEY_3_OF_5.to_dict())))
    assert _open(key, SHARES_3_OF_5, envelope, (1, 4, 5)).identity == IDENTITY


def test_envelopes_sealed_before_resharing_open_with_new_shares_only() -> None:
    from tests.crypto.test_dkg import _reshare

    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    _, _, new_key, new_shares = _reshare(KEY_3_OF_5, SHARES_3_OF_5, (2, 3, 5), 2, 3)
    assert new_key.key_id == envelope.key_id
    assert _open(new_key, new_shares, envelope, (1, 3)).identity == IDENTITY
    # An old share presented under the new key fails its proof: old and new shares never combine.
    old = partial_decrypt(SHARES_3_OF_5[1], envelope, REQUEST)
    new = partial_decrypt(new_shares[2], envelope, REQUEST)
    with pytest.raises(InvalidProofError) as caught:
        combine_and_open(new_key, envelope, REQUEST, [old, new])
    assert caught.value.holder == 1


def _blinded(envelope: Envelope, b: Scalar, holders: tuple[int, ...]) -> list[PartialDecryption]:
    blind = Point.base_times(b)
    return [partial_decrypt(SHARES_3_OF_5[j], envelope, REQUEST, blind=blind) for j in holders]


@given(st.binary(min_size=64, max_size=64), st.binary(max_size=200))
@settings(max_examples=15, deadline=None)
def test_blinded_partials_open_only_with_the_blinding_scalar(wide: bytes, payload: bytes) -> None:
    # Issue 14: holders decrypt R + B; what a server combines is s*R + b*PK, which opens nothing.
    b = Scalar.reduce(wide)
    if b.is_zero():
        return
    envelope = seal(KEY_3_OF_5, payload, CONTEXT)
    partials = _blinded(envelope, b, (1, 3, 5))
    assert open_blinded(KEY_3_OF_5, envelope, REQUEST, partials, b).identity == payload
    combined = combine_partials(KEY_3_OF_5, envelope, REQUEST, partials, blind=Point.base_times(b))
    with pytest.raises(OpenFailedError):
        open_with_secret_point(KEY_3_OF_5, envelope, combined)  # the server's best try
    wrong = b + Scalar.from_int(1)
    with pytest.raises(OpenFailedError):
        open_with_secret_point(KEY_3_OF_5, envelope, combined - KEY_3_OF_5.public_key * wrong)
    with pytest.raises(InvalidProofError):  # and the holders' proofs name B, not another point
        open_blinded(KEY_3_OF_5, envelope, REQUEST, partials, wrong)


def test_blinded_partial_is_refused_without_its_blinding_point_and_names_the_holder() -> None:
    envelope = seal(KEY_3_OF_5, IDENTITY, CONTEXT)
    b = Scalar.from_int(12345)
    partial = _blinded(envelope, b, (2,))[0]
    verify_partial(KEY_3_OF_5, envelope, REQUEST, partial, blind=Point.base_times(b))
    for wrong in (None, Point.base_times(Scalar.from_int(12346))):
        with pytest.raises(InvalidProofError) as caught:
            verify_partial(KEY_3_OF_5, envelope, REQUEST, partial, blind=wrong)
        assert caught.value.holder == 2


def test_mixed_envelope_with_a_point_taken_from_another_envelope_is_refused() -> None:
    # The issue-14 attack: a server builds a troll's envelope around another person's point. Without
    # the randomness behind it no proof can be made, so no holder decrypts it.
    victim = seal(KEY_3_OF_5, b'{"name":"victim"}', CONTEXT)
    troll = seal(KEY_3_OF_5, b'{"name":"troll"}', CONTEXT | {"pseudonym": "troll"})
    mixed = troll.to_dict() | {"r": victim.to_dict()["r"]}
    with pytest.raises(InvalidProofError):
        Envelope.from_dict(mixed)
    replayed = mixed | {"proof": victim.to_dict()["proof"]}
    with pytest.raises(InvalidProofError):
        Envelope.from_dict(replayed)


def test_opened_envelope_names_the_seal_key_it_was_made_with() -> None:
    envelope = reseal(KEY_3_OF_5, PERSON, seal_identity(PERSON, IDENTITY, {"kind": "identity"}), CONTEXT)
    opened = _open(KEY_3_OF_5, SHARES_3_OF_5, envelope, (1, 2, 3))
    assert opened.seal_point == PERSON.point
    other = SealKey(b"\x08" * 64)
    wrong = reseal(KEY_3_OF_5, other, seal_identity(PERSON, IDENTITY, {"kind": "identity"}), CONTEXT)
    with pytest.raises(OpenFailedError):  # a seal wrapped with another person's seal key never opens
        _open(KEY_3_OF_5, SHARES_3_OF_5, wrong, (1, 2, 3))
    assert "hidden" in repr(PERSON)


@given(st.binary(min_size=32, max_size=32), st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
@settings(max_examples=25, deadline=None)
def test_blinding_point_is_the_ed25519_public_key_a_browser_derives(seed: bytes, nonce: str) -> None:
    # The browser key (escrow/static/officer-key.js) computes B as the Ed25519 public key of
    # SHA-256(signature) with WebCrypto; the tool computes b*G. They must agree for every key.
    digest = hashlib.sha256(seed).digest()
    signature = nacl.signing.SigningKey(seed).sign(blinding_message(nonce, digest)).signature
    browser = nacl.signing.SigningKey(hashlib.sha256(signature).digest()).verify_key.encode()
    assert bytes(blinding_point(seed, nonce, digest)) == browser
    assert Point.base_times(blinding_scalar(seed, nonce, digest)) == blinding_point(seed, nonce, digest)
    # one point per envelope of one request: another envelope digest gives another point
    assert blinding_point(seed, nonce, digest) != blinding_point(seed, nonce, hashlib.sha256(digest).digest())
