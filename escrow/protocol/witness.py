"""Witnessing wire formats: C2SP tlog-witness ``add-checkpoint`` and the witness policy file.

``add-checkpoint`` (c2sp.org/tlog-witness): the body is ``old <size>\\n``, at most 63 consistency-proof
lines (standard base64 of one 32-byte hash each), an empty line, then the signed checkpoint note. A 409
answer carries the witness's size as ``<decimal>\\n`` (``text/x.tlog.size``); a 200 answer is one or more
cosignature lines (c2sp.org/tlog-cosignature).

The policy file (in the spirit of Sigsum's trust policy) names the witnesses a tool trusts and how many
must have cosigned a checkpoint before the tool accepts it::

    # lines: a keyword and its arguments, separated by single spaces; '#' starts a comment
    witness <name> <cosigner vkey> [<url>]
    group <name> <k | all | any> <member> [<member> ...]   # members: witnesses or earlier groups
    quorum <witness or group name | none>

Exactly one ``quorum`` line. Parsers are strict: a malformed line is refused with its line number.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from escrow.crypto.errors import CryptoError
from escrow.crypto.note import CosignerKey, parse_cosigner_vkey
from escrow.protocol.errors import ProtocolError

MAX_PROOF_LINES: Final = 63  # tlog-witness: "The client MUST NOT send more than 63"
MAX_REQUEST_BYTES: Final = 64 * 1024
SIZE_MIMETYPE: Final = "text/x.tlog.size"
NOTE_MIMETYPE: Final = "text/plain; charset=utf-8"
_HASH_BYTES: Final = 32
_MAX_SIZE: Final = 2**63 - 1
MAX_POLICY_BYTES: Final = 64 * 1024


def _decimal(text: str, what: str) -> int:
    if (
        not text.isascii()
        or not text.isdigit()
        or (text != "0" and text.startswith("0"))
        or len(text) > len(str(_MAX_SIZE))
        or int(text) > _MAX_SIZE
    ):
        raise ProtocolError(f"{what} must be ASCII decimal without leading zeroes")
    return int(text)


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the client believes the witness holds, the RFC 6962
    consistency proof from it, and the signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def to_bytes(self) -> bytes:
        if len(self.proof) > MAX_PROOF_LINES:
            raise ProtocolError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
        lines = [f"old {self.old_size}\n"]
        lines += [base64.b64encode(h).decode("ascii") + "\n" for h in self.proof]
        return ("".join(lines) + "\n" + self.checkpoint).encode()

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """Returns the request in ``body``. Raises ProtocolError naming the fault."""
        if len(body) > MAX_REQUEST_BYTES:
            raise ProtocolError("the request is too large")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError("the request is not UTF-8") from e
        head, blank, checkpoint = text.partition("\n\n")
        if not blank or not checkpoint:
            raise ProtocolError("expected an old size line, proof lines, an empty line and a checkpoint")
        lines = head.split("\n")
        first = lines[0]
        if not first.startswith("old "):
            raise ProtocolError("the first line must be 'old <size>'")
        old_size = _decimal(first[4:], "the old size")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise ProtocolError(f"a consistency proof has at most {MAX_PROOF_LINES} lines")
        proof = []
        for number, line in enumerate(lines[1:], start=2):
            try:
                raw = base64.b64decode(line.encode("ascii"), validate=True)
            except (UnicodeEncodeError, binascii.Error) as e:
                raise ProtocolError(f"proof line {number} is not base64") from e
            if len(raw) != _HASH_BYTES or base64.b64encode(raw).decode("ascii") != line:
                raise ProtocolError(f"proof line {number} is not the canonical base64 of a 32-byte hash")
            proof.append(raw)
        return cls(old_size, tuple(proof), checkpoint)


def format_size(size: int) -> bytes:
    """The body of a 409 answer: the witness's size in decimal and a newline."""
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """Returns the size in a 409 answer's body. Raises ProtocolError if it is not '<decimal>\\n'."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as e:
        raise ProtocolError("the witness's size is not ASCII") from e
    if not text.endswith("\n"):
        raise ProtocolError("the witness's size must end in a newline")
    return _decimal(text[:-1], "the witness's size")


def parse_cosignature_lines(body: bytes) -> tuple[str, ...]:
    """Returns the signature lines of a 200 answer (each '— ...\\n'). Raises ProtocolError otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError("the witness's answer is not UTF-8") from e
    if not text.endswith("\n"):
        raise ProtocolError("the witness's answer must end in a newline")
    lines = tuple(line + "\n" for line in text[:-1].split("\n"))
    if any(not line.startswith("\u2014 ") for line in lines):
        raise ProtocolError("every line of the witness's answer must be a signature line")
    return lines


# --- the witness policy file ---


@dataclass(frozen=True, slots=True)
class PolicyWitness:
    key: CosignerKey
    url: str | None = None


@dataclass(frozen=True, slots=True)
class _Group:
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """Named witnesses, groups of them with thresholds, and the quorum a checkpoint must meet."""

    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, _Group]
    quorum: str | None  # None: "quorum none", no cosignature required (say so when you use it)

    @property
    def keys(self) -> tuple[CosignerKey, ...]:
        return tuple(w.key for w in self.witnesses.values())

    def is_satisfied(self, cosigned: Sequence[str]) -> bool:
        """Whether the witnesses (by policy name) that cosigned meet the quorum."""
        names = {name for name, w in self.witnesses.items() if w.key.name in set(cosigned)}
        return self.quorum is None or self._met(self.quorum, names)

    def _met(self, name: str, cosigned: set[str]) -> bool:
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self._met(member, cosigned) for member in group.members) >= group.threshold

    def describe(self) -> str:
        if self.quorum is None:
            return "no witness required (quorum none)"
        if self.quorum in self.witnesses:
            return f"witness {self.quorum}"
        group = self.groups[self.quorum]
        return f"{group.threshold} of {len(group.members)} ({', '.join(group.members)})"

    @classmethod
    def parse(cls, text: str) -> WitnessPolicy:
        """Returns the policy in ``text``. Raises ProtocolError naming the first bad line."""
        if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
            raise ProtocolError("the witness policy file is too large")
        witnesses: dict[str, PolicyWitness] = {}
        groups: dict[str, _Group] = {}
        quorum: list[str | None] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.partition("#")[0].strip()
            if not line:
                continue
            words = line.split(" ")
            where = f"witness policy line {number}"
            if "" in words:
                raise ProtocolError(f"{where}: separate words with single spaces")
            keyword, args = words[0], words[1:]
            if keyword in ("witness", "group") and args and (args[0] in witnesses or args[0] in groups):
                raise ProtocolError(f"{where}: the name {args[0]!r} is defined twice")
            if keyword == "witness":
                if len(args) not in (2, 3):
                    raise ProtocolError(f"{where}: expected 'witness <name> <vkey> [<url>]'")
                try:
                    key = parse_cosigner_vkey(args[1])
                except CryptoError as e:
                    raise ProtocolError(f"{where}: {e}") from e
                if any(w.key.name == key.name for w in witnesses.values()):
                    raise ProtocolError(f"{where}: two witnesses with the key name {key.name!r}")
                witnesses[args[0]] = PolicyWitness(key, args[2] if len(args) == 3 else None)
            elif keyword == "group":
                if len(args) < 3:
                    raise ProtocolError(f"{where}: expected 'group <name> <k|all|any> <member> ...'")
                members = tuple(args[2:])
                unknown = [m for m in members if m not in witnesses and m not in groups]
                if unknown or len(set(members)) != len(members):
                    raise ProtocolError(f"{where}: members must be distinct, defined earlier ({unknown})")
                if args[1] == "all":
                    threshold = len(members)
                elif args[1] == "any":
                    threshold = 1
                else:
                    threshold = _decimal(args[1], f"{where}: the threshold")
                    if not 1 <= threshold <= len(members):
                        raise ProtocolError(f"{where}: the threshold must be between 1 and {len(members)}")
                groups[args[0]] = _Group(threshold, members)
            elif keyword == "quorum":
                known = args[0] == "none" or args[0] in witnesses or args[0] in groups
                if len(args) != 1 or not known:
                    raise ProtocolError(f"{where}: expected 'quorum <witness or group defined above|none>'")
                quorum.append(None if args[0] == "none" else args[0])
            else:
                raise ProtocolError(f"{where}: unknown keyword {keyword!r}")
        if len(quorum) != 1:
            raise ProtocolError("the witness policy needs exactly one 'quorum' line")
        return cls(witnesses, groups, quorum[0])


@dataclass(frozen=True, slots=True)
class WitnessAnswer:
    """What one witness answered for one checkpoint: a verified cosignature line, or why not.

    `status` is the HTTP status of a refusal, None if the witness could not be reached in time; `held`
    the size a witness answering 409 says it holds.
    """

    witness: str
    size: int
    line: str | None = None
    status: int | None = None
    detail: str = ""
    held: int | None = None

    @property
    def ok(self) -> bool:
        return self.line is not None
