"""The witness's HTTP service (c2sp.org/tlog-witness).

    POST /add-checkpoint  old size, consistency proof, signed checkpoint -> cosignature line(s)
    GET  /key             the witness's name and cosigner vkey (pin it in a witness policy)
    GET  /logs            the latest size and root cosigned per log origin
    GET  /healthz         200 while the state answers

Status codes as the spec gives them: 400 for a malformed request or an old size above the checkpoint's;
404 for an unknown origin; 403 when no signature by a trusted log key verifies; 409 with the witness's
size (``text/x.tlog.size``) when the old size is not the one it holds, or when a checkpoint of the size
it holds has another root (a fork); 422 when the consistency proof does not verify. Nothing is cosigned
and the state does not move on any of them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from typing import Final

import nacl.signing
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import verify_consistency
from escrow.crypto.note import (
    Checkpoint,
    CosignerKey,
    NoteError,
    NoteVerifier,
    cosign,
    open_note,
    parse_checkpoint,
    split_note,
)
from escrow.protocol.errors import ProtocolError
from escrow.protocol.witness import MAX_REQUEST_BYTES, SIZE_MIMETYPE, AddCheckpoint, format_size
from escrow.witness.settings import STATE_FILE, WitnessSettings
from escrow.witness.state import LogHead, WitnessState

log = logging.getLogger("escrow.witness")
PROBLEM_MIMETYPE: Final = "application/problem+json"
EXTENSION_KEY: Final = "escrow_witness"


class Refusal(Exception):
    """An add-checkpoint request the witness does not cosign: the HTTP status and why."""

    def __init__(self, status: int, detail: str, *, size: int | None = None, evidence: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.size = size
        self.evidence = evidence


def _problem(status: int, detail: str) -> Response:
    body = {"type": "about:blank", "title": "Checkpoint refused", "status": status, "detail": detail}
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)


class Witness:
    """The witness's decision on one add-checkpoint request, and its state."""

    def __init__(self, settings: WitnessSettings, signing_key: nacl.signing.SigningKey) -> None:
        self.settings = settings
        self.key = CosignerKey.from_verify_key(settings.name, signing_key.verify_key)
        self._signing_key = signing_key
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state = WitnessState(settings.data_dir / STATE_FILE)
        self._logs: dict[str, list[NoteVerifier]] = {}
        for verifier in settings.logs:
            self._logs.setdefault(verifier.name, []).append(verifier)

    def _verified(self, note: str) -> Checkpoint:
        try:
            body, _ = split_note(note)
            checkpoint = parse_checkpoint(body)
        except NoteError as e:
            raise Refusal(400, f"the checkpoint is malformed: {e}") from e
        verifiers = self._logs.get(checkpoint.origin)
        if not verifiers:
            raise Refusal(404, f"this witness does not witness the log {checkpoint.origin!r}")
        for verifier in verifiers:  # signatures by unknown keys are ignored
            try:
                open_note(note, verifier)
                return checkpoint
            except NoteError:
                continue
        raise Refusal(
            403, f"no signature on the checkpoint verifies with a key trusted for {checkpoint.origin!r}"
        )

    def add_checkpoint(self, body: bytes, *, now: float) -> str:
        """Returns the cosignature line on the request's checkpoint, or raises Refusal."""
        try:
            asked = AddCheckpoint.parse(body)
        except ProtocolError as e:
            raise Refusal(400, str(e)) from e
        checkpoint = self._verified(asked.checkpoint)
        if asked.old_size > checkpoint.size:
            raise Refusal(
                400, f"the old size {asked.old_size} exceeds the checkpoint's size {checkpoint.size}"
            )
        note_body = split_note(asked.checkpoint)[0]

        def decide(current: LogHead) -> tuple[LogHead, str, str]:
            if asked.old_size != current.size:
                raise Refusal(409, f"this witness holds size {current.size}", size=current.size)
            if asked.old_size == checkpoint.size:
                if current.root_hash != checkpoint.root_hash:
                    raise Refusal(
                        409,
                        f"another root was cosigned for size {checkpoint.size}: the log forked",
                        size=current.size,
                        evidence=True,
                    )
            else:
                try:
                    verify_consistency(
                        current.size,
                        checkpoint.size,
                        current.root_hash,
                        checkpoint.root_hash,
                        list(asked.proof),
                    )
                except CryptoError as e:
                    raise Refusal(
                        422,
                        f"the consistency proof from size {current.size} does not verify: {e}",
                        evidence=current.size > 0,
                    ) from e
            line = cosign(note_body, self.key.name, self._signing_key, int(now))
            return LogHead(checkpoint.size, checkpoint.root_hash), asked.checkpoint, line

        try:
            return self.state.advance(checkpoint.origin, decide, now_ms=int(now * 1000))
        except Refusal as refusal:
            if refusal.evidence:
                self.state.keep_evidence(checkpoint.origin, str(refusal), body, now_ms=int(now * 1000))
            raise


def create_witness_app(settings: WitnessSettings, signing_key: nacl.signing.SigningKey) -> Flask:
    """Returns the witness's WSGI application (escrow.witness.settings.load_or_create_key opens the key)."""
    app = Flask("escrow.witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    witness = Witness(settings, signing_key)
    app.extensions[EXTENSION_KEY] = witness

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        return _problem(e.code or 500, e.description or e.name)

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Response:
        log.exception("witness: unexpected error")
        return _problem(500, "the witness could not answer; see its log")

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        body = request.get_data(cache=False)
        try:
            line = witness.add_checkpoint(body, now=time.time())
        except Refusal as refusal:
            level = logging.WARNING if refusal.evidence else logging.INFO
            log.log(
                level, "witness %s: refused a checkpoint (%d): %s", settings.name, refusal.status, refusal
            )
            if refusal.size is not None:
                response = Response(format_size(refusal.size), status=409)
                response.headers["Content-Type"] = SIZE_MIMETYPE
                return response
            return _problem(refusal.status, str(refusal))
        log.info("witness %s: cosigned a checkpoint", settings.name)
        return Response(line.encode(), status=200, content_type="text/plain; charset=utf-8")

    @app.get("/key")
    def key() -> Response:
        body = {"name": witness.key.name, "vkey": witness.key.vkey}
        return Response(json.dumps(body), mimetype="application/json")

    @app.get("/logs")
    def logs() -> Response:
        heads = {
            origin: {"size": size, "root_hash": base64.b64encode(root).decode()}
            for origin, (size, root) in witness.state.heads().items()
        }
        return Response(json.dumps({"logs": heads}), mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        witness.state.heads()
        return Response(json.dumps({"status": "ok", "pid": os.getpid()}), mimetype="application/json")

    return app
