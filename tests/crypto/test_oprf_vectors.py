"""RFC 9497 Appendix A.1 (ristretto255-SHA512), OPRF and VOPRF modes, reproduced byte for byte.

The vectors live in tests/vectors/rfc9497-ristretto255-sha512.json, copied from the RFC's text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escrow.crypto.group import Scalar
from escrow.crypto.oprf import (
    Mode,
    Proof,
    blind_evaluate,
    blind_evaluate_batch,
    blind_with,
    derive_key_pair,
    evaluate,
    finalize,
    finalize_verified,
    generate_proof,
    verify_proof,
)
from escrow.crypto.ristretto import Element

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rfc9497-ristretto255-sha512.json").read_text())
h = bytes.fromhex


def _cases(mode: str) -> list[Any]:
    return [pytest.param(VECTORS[mode], v, id=f"{mode}-{v['name']}") for v in VECTORS[mode]["vectors"]]


ALL = _cases("oprf") + _cases("voprf")
VOPRF = _cases("voprf")


def _key(section: dict[str, Any]) -> tuple[Scalar, Element]:
    return derive_key_pair(h(section["key"]["Seed"]), h(section["key"]["KeyInfo"]), Mode(section["mode"]))


def test_the_file_names_its_source() -> None:
    assert VECTORS["source"] == "https://www.rfc-editor.org/rfc/rfc9497.html#appendix-A.1"
    assert VECTORS["suite"] == "ristretto255-SHA512"
    assert (VECTORS["oprf"]["mode"], VECTORS["voprf"]["mode"]) == (0, 1)
    assert [v["batch_size"] for v in VECTORS["voprf"]["vectors"]] == [1, 1, 2]


@pytest.mark.parametrize("mode", ["oprf", "voprf"])
def test_derive_key_pair_gives_sksm_and_pksm(mode: str) -> None:
    sk, pk = _key(VECTORS[mode])
    assert bytes(sk).hex() == VECTORS[mode]["key"]["skSm"]
    if "pkSm" in VECTORS[mode]["key"]:
        assert bytes(pk).hex() == VECTORS[mode]["key"]["pkSm"]
        assert Element.decode(h(VECTORS[mode]["key"]["pkSm"])) == pk
    assert Element.base_times(sk) == pk


@pytest.mark.parametrize(("section", "vector"), ALL)
def test_blind_with_the_vector_blind_gives_the_blinded_element(section: Any, vector: Any) -> None:
    mode = Mode(section["mode"])
    for input_hex, blind_hex, blinded_hex in zip(
        vector["Input"], vector["Blind"], vector["BlindedElement"], strict=True
    ):
        blinded = blind_with(h(input_hex), Scalar.decode(h(blind_hex)), mode=mode)
        assert bytes(blinded).hex() == blinded_hex


@pytest.mark.parametrize(("section", "vector"), ALL)
def test_blind_evaluate_gives_the_evaluation_element(section: Any, vector: Any) -> None:
    sk, _ = _key(section)
    for blinded_hex, evaluated_hex in zip(vector["BlindedElement"], vector["EvaluationElement"], strict=True):
        assert bytes(blind_evaluate(sk, Element.decode(h(blinded_hex)))).hex() == evaluated_hex


@pytest.mark.parametrize(("section", "vector"), ALL)
def test_finalize_and_evaluate_give_the_output(section: Any, vector: Any) -> None:
    sk, _ = _key(section)
    mode = Mode(section["mode"])
    for input_hex, blind_hex, evaluated_hex, output_hex in zip(
        vector["Input"], vector["Blind"], vector["EvaluationElement"], vector["Output"], strict=True
    ):
        output = finalize(h(input_hex), Scalar.decode(h(blind_hex)), Element.decode(h(evaluated_hex)))
        assert output.hex() == output_hex
        assert evaluate(sk, h(input_hex), mode=mode).hex() == output_hex


@pytest.mark.parametrize(("section", "vector"), VOPRF)
def test_generate_proof_with_the_vector_randomness_gives_the_proof(section: Any, vector: Any) -> None:
    sk, pk = _key(section)
    blinded = [Element.decode(h(x)) for x in vector["BlindedElement"]]
    evaluated = [Element.decode(h(x)) for x in vector["EvaluationElement"]]
    proof = generate_proof(sk, pk, blinded, evaluated, r=Scalar.decode(h(vector["ProofRandomScalar"])))
    assert proof.to_bytes().hex() == vector["Proof"]


@pytest.mark.parametrize(("section", "vector"), VOPRF)
def test_blind_evaluate_batch_hedges_r_and_its_proof_verifies(section: Any, vector: Any) -> None:
    # Issue 16: r is no longer the random source's bytes (RandomScalar), but H(domain, sk, the batch,
    # those bytes): fed the vector's ProofRandomScalar, the proof is another one, and it verifies.
    sk, pk = _key(section)
    blinded = [Element.decode(h(x)) for x in vector["BlindedElement"]]
    evaluated, proof = blind_evaluate_batch(
        sk, pk, blinded, rand=lambda n: h(vector["ProofRandomScalar"]) + bytes(n - 32)
    )
    assert [bytes(e).hex() for e in evaluated] == vector["EvaluationElement"]
    assert proof.to_bytes().hex() != vector["Proof"]
    verify_proof(pk, blinded, evaluated, proof)


@pytest.mark.parametrize(("section", "vector"), VOPRF)
def test_the_vector_proof_verifies_and_finalizes_to_the_outputs(section: Any, vector: Any) -> None:
    _, pk = _key(section)
    blinded = [Element.decode(h(x)) for x in vector["BlindedElement"]]
    evaluated = [Element.decode(h(x)) for x in vector["EvaluationElement"]]
    proof = Proof.from_bytes(h(vector["Proof"]))
    verify_proof(pk, blinded, evaluated, proof)
    outputs = finalize_verified(
        pk,
        [h(x) for x in vector["Input"]],
        [Scalar.decode(h(x)) for x in vector["Blind"]],
        blinded,
        evaluated,
        proof,
    )
    assert [o.hex() for o in outputs] == vector["Output"]
