"""Issue 16, item 5, an audit finding: lax parsing (`"v": true` and `1.0` as version 1, `int()` on
indices and thresholds, lone surrogates escaping as UnicodeEncodeError)."""

from __future__ import annotations

import json

import pytest

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import EncodingError
from escrow.crypto.seal import (
    Envelope,
    IdentitySeal,
    SealKey,
    reseal,
    seal,
    seal_identity,
)
from escrow.crypto.transcript import canonical_json
from tests.crypto.support import run_dkg

KEY, SHARES = run_dkg(2, 3)
SEAL_KEY = SealKey(b"\x05" * 64)
CONTEXT = {"platform": "forum.example", "pseudonym": "k7d2", "envelope_id": "e1"}
REQUEST = b"\x42" * 32


# --- strict parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [True, 1.0, 2.0, "2", None, 1])
def test_a_seal_or_envelope_of_version_true_or_2_0_or_1_is_refused(version: object) -> None:
    identity_seal = seal_identity(SEAL_KEY, b"Ada", {"kind": "identity"})
    envelope = reseal(KEY, SEAL_KEY, identity_seal, CONTEXT)
    with pytest.raises(EncodingError, match="version"):
        IdentitySeal.from_dict(identity_seal.to_dict() | {"v": version})
    with pytest.raises(EncodingError, match="version"):
        Envelope.from_dict(envelope.to_dict() | {"v": version})
    # and the JSON text `1.0` is refused too, not only the Python float
    text = envelope.to_bytes().replace(b'"v":2', b'"v":2.0')
    with pytest.raises(EncodingError, match="version"):
        Envelope.from_bytes(text)


@pytest.mark.parametrize("index", ["\u0661", "01", " 1", "+1", "1_0", "2.0", "1e0", "٢"])
def test_a_threshold_key_indexed_by_a_numeral_other_than_ascii_digits_is_refused(index: str) -> None:
    data = KEY.to_dict()
    vks = data["verification_keys"]
    data["verification_keys"] = {index: vks["1"], "2": vks["2"], "3": vks["3"]}
    with pytest.raises(EncodingError):
        ThresholdPublicKey.from_dict(data)


@pytest.mark.parametrize("threshold", [True, 2.9, 2.0, "2", "\u0662"])
def test_a_threshold_of_true_or_2_9_is_refused(threshold: object) -> None:
    with pytest.raises(EncodingError):
        ThresholdPublicKey.from_dict(KEY.to_dict() | {"threshold": threshold})
    assert ThresholdPublicKey.from_dict(json.loads(json.dumps(KEY.to_dict()))) == KEY


def test_a_lone_surrogate_in_a_context_is_an_encoding_error_not_a_unicode_error() -> None:
    with pytest.raises(EncodingError, match="lone surrogate"):
        seal(KEY, b"Ada", {"platform": "forum\ud800"})
    with pytest.raises(EncodingError):
        canonical_json({"key\udfff": 1})
    envelope = seal(KEY, b"Ada", CONTEXT)
    with pytest.raises(EncodingError):
        Envelope.from_dict(envelope.to_dict() | {"context": {"platform": "\ud800"}})
    with pytest.raises(EncodingError):
        Envelope.from_bytes(envelope.to_bytes().replace(b'"forum.example"', b'"\\ud800"'))
