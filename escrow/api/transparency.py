"""Public, read-only HTTP interface of the transparency log (docs/transparency.md has the formats)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from escrow.api.params import int_arg
from escrow.httpkit import current_time, get_components, get_session
from escrow.protocol.transparency import ConsistencyProof, EntriesPage, InclusionProof, LogEntry, RangeProof
from escrow.services import transparency, witnessing
from escrow.services.report import build_report

bp = Blueprint("transparency_api", __name__, url_prefix="/api/v1")

NOTE_MIMETYPE = "text/plain; charset=utf-8"
# Checkpoints change with every append and gain cosignatures after it.
_SHORT_CACHE = "public, max-age=5"


def _note(text: str, cache: str) -> Response:
    response = Response(text, content_type=NOTE_MIMETYPE)
    response.headers["Cache-Control"] = cache
    return response


@bp.get("/log/key")
def log_key() -> ResponseReturnValue:
    """The log's origin and its verifier key string (pin it out of band)."""
    log = get_components().log
    return jsonify({"origin": log.origin, "verifier_key": log.verifier_key})


@bp.get("/log/checkpoint")
def latest_checkpoint() -> ResponseReturnValue:
    """The latest signed checkpoint (C2SP tlog-checkpoint signed note) with the witnesses' cosignatures
    (C2SP tlog-cosignature); the witnesses not yet asked about it are asked first (bounded)."""
    components = get_components()
    note = witnessing.witnessed_latest_checkpoint(
        get_session(), components.log, components.witnesses, now=current_time()
    )
    return _note(note, _SHORT_CACHE)


@bp.get("/log/checkpoints")
def checkpoint_sizes() -> ResponseReturnValue:
    """The tree sizes after `after` (default 0) that have a signed checkpoint, ascending, at most 1000:
    the sequencer signs one per batch, not one per entry (docs/transparency.md#sequencing)."""
    after = int_arg("after", default=0)
    sizes = transparency.checkpoint_sizes(get_session(), after=after)
    response = jsonify({"sizes": sizes})
    response.headers["Cache-Control"] = _SHORT_CACHE
    return response


@bp.get("/log/checkpoints/<bigint:size>")
def checkpoint_at(size: int) -> ResponseReturnValue:
    """The checkpoint signed when the log reached `size` entries, with the cosignatures kept for it
    (they may still grow: a short cache)."""
    return _note(witnessing.witnessed_checkpoint_at(get_session(), size), _SHORT_CACHE)


@bp.get("/log/entries")
def entries() -> ResponseReturnValue:
    """Entries [start, end) (at most 1000): exact leaf bytes (base64url) and the decoded event."""
    start = int_arg("start", default=0)
    end = int_arg("end")
    session = get_session()
    rows = transparency.entries(session, start, end)
    page = EntriesPage(transparency.tree_size(session), tuple(LogEntry(e.index, e.body) for e in rows))
    return jsonify(page.to_dict())


@bp.get("/log/proof/inclusion")
def inclusion_proof() -> ResponseReturnValue:
    """RFC 9162 inclusion proof of entry `index` in the tree of `size` entries."""
    index, size = int_arg("index"), int_arg("size", minimum=1)
    proof = transparency.prove_inclusion(get_session(), index, size)
    return jsonify(InclusionProof(index, size, tuple(proof)).to_dict())


@bp.get("/log/proof/range")
def range_proof() -> ResponseReturnValue:
    """The hashes that, with entries [start, end), rebuild the root of the tree of `size` entries."""
    start, end, size = int_arg("start"), int_arg("end"), int_arg("size", minimum=1)
    proof = transparency.prove_range(get_session(), start, end, size)
    return jsonify(RangeProof(start, end, size, tuple(proof)).to_dict())


@bp.get("/log/proof/consistency")
def consistency_proof() -> ResponseReturnValue:
    """RFC 9162 consistency proof between tree sizes `first` and `second`."""
    first, second = int_arg("first"), int_arg("second")
    proof = transparency.prove_consistency(get_session(), first, second)
    return jsonify(ConsistencyProof(first, second, tuple(proof)).to_dict())


@bp.get("/transparency/report")
def report() -> ResponseReturnValue:
    """The public transparency report as JSON (the same numbers as the /transparency page)."""
    return jsonify(build_report(get_session()).to_dict())
