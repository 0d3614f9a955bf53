"""Append-only Merkle tree hashing, proofs and verification: RFC 9162 §2.1 (CT v2), SHA-256."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

from escrow.crypto.errors import CryptoError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "InvalidConsistencyProofError",
    "InvalidHashLengthError",
    "InvalidInclusionProofError",
    "InvalidTreeRangeError",
    "MemoryNodeStore",
    "MerkleError",
    "MissingNodeError",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_to_store_after_append",
    "range_proof",
    "root_hash",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_range",
]

HASH_SIZE = 32  # SHA-256 output; RFC 9162 §2.1.1 with the log's hash algorithm fixed to SHA-256
_LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1: domain separation of leaves from interior nodes
_NODE_PREFIX = b"\x01"  # RFC 9162 §2.1.1 (second-preimage resistance, RFC 9162 §11.5)
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = HASH()


class MerkleError(CryptoError):
    """Base class for every Merkle tree error raised by this module."""


class InvalidInclusionProofError(MerkleError):
    """An inclusion proof does not prove the leaf is in the tree with the given root."""


class InvalidConsistencyProofError(MerkleError):
    """A consistency proof does not prove the new tree extends the old one."""


class InvalidTreeRangeError(MerkleError, ValueError):
    """An index, size or leaf range is not valid for the requested operation."""


class InvalidHashLengthError(MerkleError, ValueError):
    """A hash given to or read by this module is not HASH_SIZE bytes long."""


class MissingNodeError(MerkleError, LookupError):
    """The node store lacks a complete-subtree hash that the requested tree size implies."""


class NodeReader(Protocol):
    """Read access to the stored hashes of complete subtrees.

    Node (level, index) is the Merkle Tree Hash of the 2**level leaves starting at index * 2**level.
    """

    def node(self, level: int, index: int) -> bytes:
        """Return the stored hash of node (level, index); raise KeyError if it is not stored."""
        ...


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || entry)."""
    return hashlib.sha256(_LEAF_PREFIX + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right).

    Raises InvalidHashLengthError if left or right is not HASH_SIZE bytes.
    """
    _check_hash(left)
    _check_hash(right)
    return _hash_children(left, right)


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InvalidHashLengthError(f"expected a {HASH_SIZE}-byte hash")
    return value


def _check_count(value: object, what: str) -> int:
    # bool is an int subclass; True as a tree size is a caller bug, not a size of 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidTreeRangeError(f"{what} must be a non-negative int")
    return value


def _split_point(n: int) -> int:
    """Return k, the largest power of two smaller than n (n >= 2): RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def _read(reader: NodeReader, level: int, index: int) -> bytes:
    try:
        value = reader.node(level, index)
    except KeyError as e:
        raise MissingNodeError(f"node (level={level}, index={index}) is not stored") from e
    return _check_hash(value)


def nodes_to_store_after_append(
    size_before: int, new_leaf_hash: bytes, reader: NodeReader
) -> list[tuple[int, int, bytes]]:
    """Return the complete-subtree nodes created by appending leaf number size_before.

    The result is [(level, index, hash), ...]: the leaf itself at level 0, then each parent that
    the append completes, bottom-up. Its length is 1 + the number of trailing one bits of
    size_before, so at most log2(size_before + 1) + 1, and it reads that many nodes minus one.

    Raises InvalidTreeRangeError if size_before is not a non-negative int, InvalidHashLengthError
    if new_leaf_hash (or a stored node) is not HASH_SIZE bytes, MissingNodeError if a left sibling
    the tree of size_before must contain is not stored.
    """
    _check_count(size_before, "size_before")
    current = _check_hash(new_leaf_hash)
    level, index = 0, size_before
    created = [(level, index, current)]
    # A node at an odd index is a right child; its left sibling is already complete.
    while index & 1:
        current = _hash_children(_read(reader, level, index - 1), current)
        level, index = level + 1, index >> 1
        created.append((level, index, current))
    return created


def subtree_hash(reader: NodeReader, start: int, end: int) -> bytes:
    """Return MTH(D[start:end]) read from O(log n) stored complete-subtree nodes.

    The range must be one that RFC 9162's recursion produces: 0 <= start < end and start a
    multiple of the smallest power of two >= end - start.

    Raises InvalidTreeRangeError for any other range, MissingNodeError if a needed node is not
    stored (end is beyond the stored tree), InvalidHashLengthError if a stored node is malformed.
    """
    _check_count(start, "start")
    _check_count(end, "end")
    if start >= end:
        raise InvalidTreeRangeError("subtree range must be non-empty")
    width = end - start
    if start % (1 << (width - 1).bit_length()):
        raise InvalidTreeRangeError("subtree range is not aligned as RFC 9162 splits a tree")
    # D[start:end] splits into perfect subtrees, one per set bit of width, largest first; MTH folds
    # them right to left because every split point k is the largest power of two below the rest.
    pieces: list[bytes] = []
    position = start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            pieces.append(_read(reader, level, position >> level))
            position += 1 << level
    result = pieces.pop()
    while pieces:
        result = _hash_children(pieces.pop(), result)
    return result


def root_hash(reader: NodeReader, size: int) -> bytes:
    """Return the Merkle Tree Hash of the first size leaves (EMPTY_ROOT when size is 0).

    Raises InvalidTreeRangeError if size is negative, MissingNodeError if the store is shorter.
    """
    _check_count(size, "size")
    if size == 0:
        return EMPTY_ROOT
    return subtree_hash(reader, 0, size)


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """Return PATH(index, D[size]) of RFC 9162 §2.1.3.1, deepest sibling first.

    Raises InvalidTreeRangeError unless 0 <= index < size, MissingNodeError if the store is shorter.
    """
    _check_count(index, "index")
    _check_count(size, "size")
    if index >= size:
        raise InvalidTreeRangeError("index must be smaller than size")
    top_down: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split_point(end - start)
        if index < start + k:
            top_down.append(subtree_hash(reader, start + k, end))
            end = start + k
        else:
            top_down.append(subtree_hash(reader, start, start + k))
            start += k
    top_down.reverse()
    return top_down


def consistency_proof(reader: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """Return PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1.

    The proof is empty when old_size is 0 or equals new_size (nothing to prove).

    Raises InvalidTreeRangeError unless 0 <= old_size <= new_size, MissingNodeError if the store
    is shorter than new_size.
    """
    _check_count(old_size, "old_size")
    _check_count(new_size, "new_size")
    if old_size > new_size:
        raise InvalidTreeRangeError("old_size must not exceed new_size")
    if old_size in (0, new_size):
        return []
    # Iterative SUBPROOF(m, D[start:end], is_whole_old_tree): right siblings are collected on the
    # way down and emitted deepest first, as the recursive definition appends them.
    top_down: list[bytes] = []
    start, end, m, is_old_root = 0, new_size, old_size, True
    while m != end - start:
        k = _split_point(end - start)
        if m <= k:
            top_down.append(subtree_hash(reader, start + k, end))
            end = start + k
        else:
            top_down.append(subtree_hash(reader, start, start + k))
            start, m, is_old_root = start + k, m - k, False
    proof = [] if is_old_root else [subtree_hash(reader, start, end)]
    proof.extend(reversed(top_down))
    return proof


def _check_proof(proof: object, error: type[MerkleError]) -> list[bytes]:
    if not isinstance(proof, Sequence) or isinstance(proof, (bytes, str)):
        raise error("proof must be a sequence of hashes")
    items = list(proof)
    for item in items:
        if not isinstance(item, bytes) or len(item) != HASH_SIZE:
            raise error(f"every proof element must be a {HASH_SIZE}-byte hash")
    return items


def _equal(a: object, b: object) -> bool:
    return isinstance(a, bytes) and isinstance(b, bytes) and hmac.compare_digest(a, b)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that proof shows leaf_hash at index in the tree of size leaves with the given root.

    Implements RFC 9162 §2.1.3.2. Returns None on success.

    Raises InvalidInclusionProofError if the proof does not verify (including index >= size,
    a wrong-length element or a wrong-length root); InvalidTreeRangeError if index or size is
    not a non-negative int.
    """
    _check_count(index, "index")
    _check_count(size, "size")
    path = _check_proof(proof, InvalidInclusionProofError)
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        raise InvalidInclusionProofError(f"leaf hash must be {HASH_SIZE} bytes")
    if index >= size:  # step 1
        raise InvalidInclusionProofError("index is not below size")
    fn, sn = index, size - 1  # step 2
    r = leaf_hash  # step 3
    for p in path:  # step 4
        if sn == 0:
            raise InvalidInclusionProofError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _hash_children(p, r)
            while fn != 0 and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 5
        raise InvalidInclusionProofError("proof is shorter than the tree is deep")
    if not _equal(root, r):
        raise InvalidInclusionProofError("computed root does not match")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that proof shows the tree (new_size, new_root) extends the tree (old_size, old_root).

    Implements RFC 9162 §2.1.4.2 for 0 < old_size < new_size. For old_size == new_size the proof
    must be empty and the roots equal; for old_size == 0 the proof must be empty and old_root must
    be EMPTY_ROOT (every tree extends the empty tree). Returns None on success.

    Raises InvalidConsistencyProofError if the proof does not verify (including old_size >
    new_size or a wrong-length element); InvalidTreeRangeError if a size is not a non-negative int.
    """
    _check_count(old_size, "old_size")
    _check_count(new_size, "new_size")
    path = _check_proof(proof, InvalidConsistencyProofError)
    if old_size > new_size:
        raise InvalidConsistencyProofError("old_size exceeds new_size")
    if old_size == new_size or old_size == 0:
        if path:
            raise InvalidConsistencyProofError("proof must be empty")
        if old_size == 0 and not _equal(old_root, EMPTY_ROOT):
            raise InvalidConsistencyProofError("old root is not the empty tree hash")
        if old_size == new_size and not _equal(old_root, new_root):
            raise InvalidConsistencyProofError("roots of equal-size trees differ")
        return
    if not path:  # step 1
        raise InvalidConsistencyProofError("proof is empty")
    if not isinstance(old_root, bytes) or len(old_root) != HASH_SIZE:
        raise InvalidConsistencyProofError(f"old root must be {HASH_SIZE} bytes")
    if old_size & (old_size - 1) == 0:  # step 2: old tree is a perfect subtree of the new one
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise InvalidConsistencyProofError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = _hash_children(c, fr)
            sr = _hash_children(c, sr)
            while fn != 0 and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # step 7
    if sn != 0:
        raise InvalidConsistencyProofError("proof is shorter than the tree is deep")
    if not _equal(old_root, fr):
        raise InvalidConsistencyProofError("computed old root does not match")
    if not _equal(new_root, sr):
        raise InvalidConsistencyProofError("computed new root does not match")


def _check_range_args(start: int, end: int, size: int) -> None:
    _check_count(start, "start")
    _check_count(end, "end")
    _check_count(size, "size")
    if not start < end <= size:
        raise InvalidTreeRangeError("the range must satisfy start < end <= size")


def range_proof(reader: NodeReader, start: int, end: int, size: int) -> list[bytes]:
    """Return the hashes that, with leaves [start, end), rebuild the root of the tree of `size` leaves.

    Walks RFC 9162's recursion (MTH splits at the largest power of two below the width) left to
    right and emits MTH of every maximal subtree that lies wholly outside [start, end): at most two
    per level, so O(log size). Subtrees inside the range are rebuilt by the verifier from the leaves.
    (The same idea as a Certificate Transparency "compact range".)

    Raises InvalidTreeRangeError unless 0 <= start < end <= size, MissingNodeError if the store is
    shorter than size.
    """
    _check_range_args(start, end, size)
    proof: list[bytes] = []

    def walk(lo: int, hi: int) -> None:
        if hi <= start or lo >= end:
            proof.append(subtree_hash(reader, lo, hi))
        elif not (start <= lo and hi <= end):
            k = _split_point(hi - lo)
            walk(lo, lo + k)
            walk(lo + k, hi)

    walk(0, size)
    return proof


def verify_range(
    start: int, leaf_hashes: Sequence[bytes], size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hashes` are exactly leaves [start, start + len) of the tree (size, root).

    `proof` is what range_proof returns. Returns None on success. This proves a contiguous run of
    entries (none left out, none added) with O(log size) hashes besides the leaves.

    Raises InvalidInclusionProofError if the proof does not verify (wrong or missing hashes, extra
    hashes, wrong-length leaves or root); InvalidTreeRangeError for an empty or out-of-tree range.
    """
    leaves = list(leaf_hashes)
    end = start + len(leaves) if isinstance(start, int) and not isinstance(start, bool) else -1
    _check_range_args(start, end, size)
    path = _check_proof(proof, InvalidInclusionProofError)
    for leaf in leaves:
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise InvalidInclusionProofError(f"every leaf hash must be {HASH_SIZE} bytes")
    position = 0

    def fold(lo: int, hi: int) -> bytes:
        nonlocal position
        if hi <= start or lo >= end:
            if position >= len(path):
                raise InvalidInclusionProofError("range proof is too short")
            position += 1
            return path[position - 1]
        if hi - lo == 1:
            return leaves[lo - start]
        k = _split_point(hi - lo)
        left = fold(lo, lo + k)
        return _hash_children(left, fold(lo + k, hi))

    computed = fold(0, size)
    if position != len(path):
        raise InvalidInclusionProofError("range proof is too long")
    if not _equal(root, computed):
        raise InvalidInclusionProofError("computed root does not match")


class MemoryNodeStore:
    """A dict-backed NodeReader that can append: for tests and offline verifiers."""

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def node(self, level: int, index: int) -> bytes:
        """Return the hash of complete node (level, index); raise KeyError if it does not exist."""
        return self._nodes[(level, index)]

    def append(self, new_leaf_hash: bytes) -> None:
        """Append one leaf hash. Raises InvalidHashLengthError if it is not HASH_SIZE bytes."""
        for level, index, value in nodes_to_store_after_append(self._size, new_leaf_hash, self):
            self._nodes[(level, index)] = value
        self._size += 1

    def root_hash(self) -> bytes:
        """Return the Merkle Tree Hash of all leaves appended so far."""
        return root_hash(self, self._size)


# Reference implementation: direct transcriptions of RFC 9162's recursive definitions over the
# list of entries D[n] (raw entries, not leaf hashes). O(n) per call; used to cross-check the
# incremental functions above in tests.


def _reference_root(leaves: list[bytes]) -> bytes:
    """Return MTH(D[n]) of RFC 9162 §2.1.1, where leaves is D[n] (the raw entries)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = _split_point(n)
    return _hash_children(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def _reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """Return PATH(m, D[n]) of RFC 9162 §2.1.3.1, where leaves is D[n] (the raw entries)."""
    n = len(leaves)
    if not 0 <= m < n:
        raise InvalidTreeRangeError("index must be smaller than size")
    if n == 1:
        return []
    k = _split_point(n)
    if m < k:
        return [*_reference_path(m, leaves[:k]), _reference_root(leaves[k:])]
    return [*_reference_path(m - k, leaves[k:]), _reference_root(leaves[:k])]


def _reference_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """Return PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (empty for m == 0 or m == n)."""
    if not 0 <= m <= len(leaves):
        raise InvalidTreeRangeError("old size must be at most the new size")
    if m == 0:
        return []
    return _reference_subproof(m, leaves, is_old_root=True)


def _reference_subproof(m: int, leaves: list[bytes], *, is_old_root: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if is_old_root else [_reference_root(leaves)]
    k = _split_point(n)
    if m <= k:
        return [
            *_reference_subproof(m, leaves[:k], is_old_root=is_old_root),
            _reference_root(leaves[k:]),
        ]
    return [
        *_reference_subproof(m - k, leaves[k:], is_old_root=False),
        _reference_root(leaves[:k]),
    ]
