"""Tests for escrow.crypto.merkle: RFC 9162 vectors, reference cross-checks and negative cases."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto import merkle
from escrow.crypto.merkle import (
    EMPTY_ROOT,
    InvalidConsistencyProofError,
    InvalidHashLengthError,
    InvalidInclusionProofError,
    InvalidTreeRangeError,
    MemoryNodeStore,
    MerkleError,
    MissingNodeError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_to_store_after_append,
    root_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# The 8-leaf test tree of RFC 6962 implementations (certificate-transparency, trillian,
# transparency-dev/merkle). Every value below was recomputed with merkle._reference_root /
# _reference_path / _reference_proof (direct RFC transcriptions) before being pinned here.
KAT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
KAT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
KAT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (0, 1): [],
}
KAT_CONSISTENCY = {
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (8, 8): [],
}

MAX_SIZE = 300
ENTRIES = [f"escrow test entry {i}".encode() for i in range(MAX_SIZE)]


def _build_store(entries: list[bytes]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    for entry in entries:
        store.append(leaf_hash(entry))
    return store


# A store of MAX_SIZE leaves holds every complete node of each of its prefixes, so it serves every
# smaller tree size too.
STORE = _build_store(ENTRIES)
KAT_STORE = _build_store(KAT_LEAVES)


class CountingReader:
    """A NodeReader that counts reads, to check the O(log n) bounds."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.reads = 0

    def node(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.inner.node(level, index)


def _hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _flip(value: bytes, position: int) -> bytes:
    return value[:position] + bytes([value[position] ^ 0x01]) + value[position + 1 :]


index_and_size = st.integers(1, MAX_SIZE).flatmap(
    lambda size: st.tuples(st.integers(0, size - 1), st.just(size))
)
old_and_new_size = st.integers(0, MAX_SIZE).flatmap(lambda new: st.tuples(st.integers(0, new), st.just(new)))


# --- known answers -------------------------------------------------------------------------------


def test_hash_constructions_match_rfc_9162_prefixes() -> None:
    left, right = hashlib.sha256(b"l").digest(), hashlib.sha256(b"r").digest()
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


def test_reference_root_matches_published_root_of_8_leaf_tree() -> None:
    assert _hexes([merkle._reference_root(KAT_LEAVES)]) == [
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    ]


@pytest.mark.parametrize("size", range(len(KAT_ROOTS)))
def test_root_of_every_prefix_of_8_leaf_tree_matches_vector(size: int) -> None:
    assert merkle._reference_root(KAT_LEAVES[:size]).hex() == KAT_ROOTS[size]
    assert root_hash(KAT_STORE, size).hex() == KAT_ROOTS[size]


@pytest.mark.parametrize(("index", "size"), sorted(KAT_INCLUSION))
def test_inclusion_proof_matches_vector(index: int, size: int) -> None:
    expected = KAT_INCLUSION[(index, size)]
    assert _hexes(merkle._reference_path(index, KAT_LEAVES[:size])) == expected
    proof = inclusion_proof(KAT_STORE, index, size)
    assert _hexes(proof) == expected
    root = bytes.fromhex(KAT_ROOTS[size])
    verify_inclusion(leaf_hash(KAT_LEAVES[index]), index, size, proof, root)


@pytest.mark.parametrize(("old_size", "new_size"), sorted(KAT_CONSISTENCY))
def test_consistency_proof_matches_vector(old_size: int, new_size: int) -> None:
    expected = KAT_CONSISTENCY[(old_size, new_size)]
    assert _hexes(merkle._reference_proof(old_size, KAT_LEAVES[:new_size])) == expected
    proof = consistency_proof(KAT_STORE, old_size, new_size)
    assert _hexes(proof) == expected
    old_root, new_root = bytes.fromhex(KAT_ROOTS[old_size]), bytes.fromhex(KAT_ROOTS[new_size])
    verify_consistency(old_size, new_size, old_root, new_root, proof)


# --- incremental vs reference --------------------------------------------------------------------


@settings(deadline=None)
@given(st.integers(1, MAX_SIZE))
def test_incremental_root_equals_reference_root(size: int) -> None:
    assert root_hash(STORE, size) == merkle._reference_root(ENTRIES[:size])


def test_memory_store_root_tracks_every_append() -> None:
    store = MemoryNodeStore()
    assert store.size == 0
    assert store.root_hash() == EMPTY_ROOT
    for size, entry in enumerate(ENTRIES[:70], start=1):
        store.append(leaf_hash(entry))
        assert store.size == size
        assert store.root_hash() == merkle._reference_root(ENTRIES[:size])


@settings(deadline=None)
@given(index_and_size)
def test_inclusion_proof_equals_reference_path_and_verifies(pair: tuple[int, int]) -> None:
    index, size = pair
    proof = inclusion_proof(STORE, index, size)
    assert proof == merkle._reference_path(index, ENTRIES[:size])
    verify_inclusion(leaf_hash(ENTRIES[index]), index, size, proof, root_hash(STORE, size))


@settings(deadline=None)
@given(old_and_new_size)
def test_consistency_proof_equals_reference_proof_and_verifies(pair: tuple[int, int]) -> None:
    old_size, new_size = pair
    proof = consistency_proof(STORE, old_size, new_size)
    assert proof == merkle._reference_proof(old_size, ENTRIES[:new_size])
    verify_consistency(old_size, new_size, root_hash(STORE, old_size), root_hash(STORE, new_size), proof)


def test_every_pair_up_to_40_leaves_round_trips() -> None:
    for new_size in range(1, 41):
        new_root = root_hash(STORE, new_size)
        for index in range(new_size):
            proof = inclusion_proof(STORE, index, new_size)
            verify_inclusion(leaf_hash(ENTRIES[index]), index, new_size, proof, new_root)
        for old_size in range(new_size + 1):
            proof = consistency_proof(STORE, old_size, new_size)
            verify_consistency(old_size, new_size, root_hash(STORE, old_size), new_root, proof)


# --- cost bounds ---------------------------------------------------------------------------------


def test_append_writes_at_most_log2_n_plus_one_nodes() -> None:
    store = MemoryNodeStore()
    for size_before, entry in enumerate(ENTRIES):
        reader = CountingReader(store)
        created = nodes_to_store_after_append(size_before, leaf_hash(entry), reader)
        n = size_before + 1
        assert len(created) <= n.bit_length()  # floor(log2 n) + 1
        assert reader.reads == len(created) - 1
        assert created[0] == (0, size_before, leaf_hash(entry))
        store.append(leaf_hash(entry))
        for level, index, value in created:
            assert store.node(level, index) == value


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 100, 255, 256, 257, MAX_SIZE])
def test_proofs_read_o_log_n_nodes(size: int) -> None:
    bound = 2 * size.bit_length() + 2
    reader = CountingReader(STORE)
    root_hash(reader, size)
    assert reader.reads <= size.bit_length()
    for index in range(size):
        reader = CountingReader(STORE)
        inclusion_proof(reader, index, size)
        assert reader.reads <= bound
    for old_size in range(size + 1):
        reader = CountingReader(STORE)
        consistency_proof(reader, old_size, size)
        assert reader.reads <= bound


# --- inclusion: tampering ------------------------------------------------------------------------


@settings(deadline=None)
@given(index_and_size, st.data())
def test_inclusion_rejects_any_flipped_proof_byte(pair: tuple[int, int], data: st.DataObject) -> None:
    index, size = pair
    proof = inclusion_proof(STORE, index, size)
    if not proof:
        return
    element = data.draw(st.integers(0, len(proof) - 1))
    position = data.draw(st.integers(0, merkle.HASH_SIZE - 1))
    proof[element] = _flip(proof[element], position)
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf_hash(ENTRIES[index]), index, size, proof, root_hash(STORE, size))


@settings(deadline=None)
@given(index_and_size, st.data())
def test_inclusion_rejects_dropped_or_added_element(pair: tuple[int, int], data: st.DataObject) -> None:
    index, size = pair
    proof = inclusion_proof(STORE, index, size)
    root = root_hash(STORE, size)
    extra = data.draw(st.binary(min_size=32, max_size=32))
    at = data.draw(st.integers(0, len(proof)))
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf_hash(ENTRIES[index]), index, size, [*proof[:at], extra, *proof[at:]], root)
    if proof:
        drop = data.draw(st.integers(0, len(proof) - 1))
        shorter = proof[:drop] + proof[drop + 1 :]
        with pytest.raises(InvalidInclusionProofError):
            verify_inclusion(leaf_hash(ENTRIES[index]), index, size, shorter, root)


@settings(deadline=None)
@given(index_and_size, st.data())
def test_inclusion_rejects_wrong_index(pair: tuple[int, int], data: st.DataObject) -> None:
    index, size = pair
    other = data.draw(st.integers(0, size + 2).filter(lambda i: i != index))
    proof = inclusion_proof(STORE, index, size)
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf_hash(ENTRIES[index]), other, size, proof, root_hash(STORE, size))


@settings(deadline=None)
@given(index_and_size, st.data())
def test_inclusion_rejects_wrong_size_with_its_root(pair: tuple[int, int], data: st.DataObject) -> None:
    # A checkpoint carries (size, root) together; a proof for one tree must not pass for another.
    index, size = pair
    other = data.draw(st.integers(1, MAX_SIZE).filter(lambda s: s != size))
    proof = inclusion_proof(STORE, index, size)
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf_hash(ENTRIES[index]), index, other, proof, root_hash(STORE, other))


def test_inclusion_rejects_wrong_size_that_changes_the_path_shape() -> None:
    proof = inclusion_proof(STORE, 5, 8)
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf_hash(ENTRIES[5]), 5, 6, proof, root_hash(STORE, 8))


@settings(deadline=None)
@given(index_and_size, st.integers(0, merkle.HASH_SIZE - 1))
def test_inclusion_rejects_wrong_root_and_wrong_leaf(pair: tuple[int, int], position: int) -> None:
    index, size = pair
    proof = inclusion_proof(STORE, index, size)
    root = root_hash(STORE, size)
    leaf = leaf_hash(ENTRIES[index])
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf, index, size, proof, _flip(root, position))
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(_flip(leaf, position), index, size, proof, root)


@pytest.mark.parametrize(
    ("leaf", "proof", "root"),
    [
        (b"\x00" * 31, [], None),
        ("not bytes", [], None),
        (None, b"\x00" * 32, None),
        (None, "abc", None),
        (None, 5, None),
        (None, [b"\x00" * 33], None),
        (None, ["x" * 32], None),
        (None, [], b"\x00" * 31),
        (None, [], "root"),
    ],
)
def test_inclusion_rejects_malformed_arguments(leaf: object, proof: object, root: object) -> None:
    good_leaf = leaf_hash(ENTRIES[0])
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(
            good_leaf if leaf is None else leaf,  # type: ignore[arg-type]
            0,
            1,
            proof,  # type: ignore[arg-type]
            good_leaf if root is None else root,  # type: ignore[arg-type]
        )


def test_inclusion_accepts_tuple_proof() -> None:
    proof = tuple(inclusion_proof(STORE, 3, 10))
    verify_inclusion(leaf_hash(ENTRIES[3]), 3, 10, proof, root_hash(STORE, 10))


@pytest.mark.parametrize(("index", "size"), [(-1, 5), (0, -1), (True, 5), (0, 2.0), ("0", 5)])
def test_verify_inclusion_rejects_non_count_arguments(index: object, size: object) -> None:
    with pytest.raises(InvalidTreeRangeError):
        verify_inclusion(b"\x00" * 32, index, size, [], b"\x00" * 32)  # type: ignore[arg-type]


def test_verify_inclusion_rejects_index_not_below_size() -> None:
    leaf = leaf_hash(ENTRIES[0])
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf, 1, 1, [], leaf)
    with pytest.raises(InvalidInclusionProofError):
        verify_inclusion(leaf, 0, 0, [], leaf)


# --- consistency: tampering ----------------------------------------------------------------------


def _roots(old_size: int, new_size: int) -> tuple[bytes, bytes]:
    return root_hash(STORE, old_size), root_hash(STORE, new_size)


@settings(deadline=None)
@given(old_and_new_size, st.data())
def test_consistency_rejects_any_flipped_proof_byte(pair: tuple[int, int], data: st.DataObject) -> None:
    old_size, new_size = pair
    proof = consistency_proof(STORE, old_size, new_size)
    if not proof:
        return
    element = data.draw(st.integers(0, len(proof) - 1))
    position = data.draw(st.integers(0, merkle.HASH_SIZE - 1))
    proof[element] = _flip(proof[element], position)
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(old_size, new_size, *_roots(old_size, new_size), proof)


@settings(deadline=None)
@given(old_and_new_size, st.data())
def test_consistency_rejects_dropped_or_added_element(pair: tuple[int, int], data: st.DataObject) -> None:
    old_size, new_size = pair
    proof = consistency_proof(STORE, old_size, new_size)
    old_root, new_root = _roots(old_size, new_size)
    extra = data.draw(st.binary(min_size=32, max_size=32))
    at = data.draw(st.integers(0, len(proof)))
    longer = [*proof[:at], extra, *proof[at:]]
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(old_size, new_size, old_root, new_root, longer)
    if proof:
        drop = data.draw(st.integers(0, len(proof) - 1))
        shorter = proof[:drop] + proof[drop + 1 :]
        with pytest.raises(InvalidConsistencyProofError):
            verify_consistency(old_size, new_size, old_root, new_root, shorter)


@settings(deadline=None)
@given(old_and_new_size, st.data())
def test_consistency_rejects_wrong_sizes_with_their_roots(pair: tuple[int, int], data: st.DataObject) -> None:
    old_size, new_size = pair
    proof = consistency_proof(STORE, old_size, new_size)
    if not proof:  # old_size 0 or new_size: an empty proof is right for other such pairs too
        return
    other_old = data.draw(st.integers(0, new_size).filter(lambda s: s != old_size))
    other_new = data.draw(st.integers(old_size, MAX_SIZE).filter(lambda s: s != new_size))
    new_root = root_hash(STORE, new_size)
    old_root = root_hash(STORE, old_size)
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(other_old, new_size, root_hash(STORE, other_old), new_root, proof)
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(old_size, other_new, old_root, root_hash(STORE, other_new), proof)


@settings(deadline=None)
@given(old_and_new_size, st.integers(0, merkle.HASH_SIZE - 1))
def test_consistency_rejects_wrong_roots(pair: tuple[int, int], position: int) -> None:
    old_size, new_size = pair
    proof = consistency_proof(STORE, old_size, new_size)
    old_root, new_root = _roots(old_size, new_size)
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(old_size, new_size, _flip(old_root, position), new_root, proof)
    if old_size != 0:  # every tree extends the empty tree, whatever its root
        with pytest.raises(InvalidConsistencyProofError):
            verify_consistency(old_size, new_size, old_root, _flip(new_root, position), proof)


def test_consistency_rejects_old_size_above_new_size() -> None:
    old_root, new_root = _roots(5, 4)
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(5, 4, old_root, new_root, [])


def test_consistency_rejects_empty_proof_between_different_sizes() -> None:
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(3, 7, *_roots(3, 7), [])


def test_consistency_of_equal_sizes_needs_equal_roots() -> None:
    root = root_hash(STORE, 9)
    verify_consistency(9, 9, root, root, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(9, 9, root, root_hash(STORE, 8), [])
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(0, 0, EMPTY_ROOT, root, [])


@pytest.mark.parametrize(
    ("old_root", "proof"),
    [
        (b"\x00" * 31, None),
        ("root", None),
        (None, b"\x00" * 64),
        (None, [b"\x00" * 31]),
        (None, [None]),
    ],
)
def test_consistency_rejects_malformed_arguments(old_root: object, proof: object) -> None:
    good_old, new_root = _roots(4, 9)
    with pytest.raises(InvalidConsistencyProofError):
        verify_consistency(
            4,
            9,
            good_old if old_root is None else old_root,  # type: ignore[arg-type]
            new_root,
            consistency_proof(STORE, 4, 9) if proof is None else proof,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(("old_size", "new_size"), [(-1, 5), (0, -3), (False, 5), (1, 5.0)])
def test_verify_consistency_rejects_non_count_arguments(old_size: object, new_size: object) -> None:
    with pytest.raises(InvalidTreeRangeError):
        verify_consistency(old_size, new_size, EMPTY_ROOT, EMPTY_ROOT, [])  # type: ignore[arg-type]


# --- generation: bad arguments and storage faults ------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: inclusion_proof(STORE, 5, 5),
        lambda: inclusion_proof(STORE, -1, 5),
        lambda: inclusion_proof(STORE, 0, 0),
        lambda: consistency_proof(STORE, 6, 5),
        lambda: consistency_proof(STORE, -1, 5),
        lambda: root_hash(STORE, -1),
        lambda: subtree_hash(STORE, 4, 4),
        lambda: subtree_hash(STORE, 1, 3),
        lambda: subtree_hash(STORE, 4, 9),
        lambda: subtree_hash(STORE, 6, 4),
        lambda: nodes_to_store_after_append(-1, b"\x00" * 32, STORE),
        lambda: nodes_to_store_after_append(True, b"\x00" * 32, STORE),
        lambda: merkle._reference_path(3, ENTRIES[:3]),
        lambda: merkle._reference_proof(4, ENTRIES[:3]),
    ],
)
def test_generation_rejects_invalid_ranges(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidTreeRangeError) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, MerkleError)


def test_subtree_hash_accepts_every_range_rfc_recursion_produces() -> None:
    # D[4:7] is the right half of the 7-leaf tree; D[6:7] its last leaf.
    assert subtree_hash(STORE, 4, 7) == merkle._reference_root(ENTRIES[4:7])
    assert subtree_hash(STORE, 6, 7) == leaf_hash(ENTRIES[6])
    assert subtree_hash(STORE, 256, 300) == merkle._reference_root(ENTRIES[256:300])


def test_proofs_beyond_stored_tree_raise_missing_node() -> None:
    with pytest.raises(MissingNodeError) as info:
        root_hash(STORE, MAX_SIZE + 1)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(MissingNodeError):
        inclusion_proof(STORE, 0, MAX_SIZE + 1)
    with pytest.raises(MissingNodeError):
        consistency_proof(STORE, 1, MAX_SIZE + 1)
    with pytest.raises(MissingNodeError):
        nodes_to_store_after_append(MAX_SIZE + 1, b"\x00" * 32, STORE)


def test_malformed_stored_node_is_rejected() -> None:
    class ShortNodes:
        def node(self, level: int, index: int) -> bytes:
            return b"\x00" * 31

    with pytest.raises(InvalidHashLengthError):
        root_hash(ShortNodes(), 3)


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33, "a" * 32, None])
def test_hash_length_is_checked(bad: object) -> None:
    good = b"\x00" * 32
    with pytest.raises(InvalidHashLengthError):
        MemoryNodeStore().append(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidHashLengthError):
        node_hash(bad, good)  # type: ignore[arg-type]
    with pytest.raises(InvalidHashLengthError):
        node_hash(good, bad)  # type: ignore[arg-type]


def test_memory_store_missing_node_raises_key_error() -> None:
    with pytest.raises(KeyError):
        MemoryNodeStore().node(0, 0)


# --- range proofs (issue 6: the holder tool proves a run of entries has no hidden event) ----------


def _store_of(size: int) -> tuple[MemoryNodeStore, list[bytes]]:
    store, leaves = MemoryNodeStore(), [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    for h in leaves:
        store.append(h)
    return store, leaves


def test_every_range_up_to_20_leaves_round_trips_in_o_log_n_hashes() -> None:
    for size in range(1, 21):
        store, leaves = _store_of(size)
        root = root_hash(store, size)
        for start in range(size):
            for end in range(start + 1, size + 1):
                proof = merkle.range_proof(store, start, end, size)
                assert len(proof) <= 2 * max(1, size.bit_length())
                merkle.verify_range(start, leaves[start:end], size, proof, root)


def test_range_rejects_a_changed_dropped_or_added_leaf_and_a_bad_proof() -> None:
    # Given a proven run of leaves [5, 11) of a 23-leaf tree
    store, leaves = _store_of(23)
    root, proof = root_hash(store, 23), merkle.range_proof(store, 5, 11, 23)
    run = leaves[5:11]
    merkle.verify_range(5, run, 23, proof, root)
    # Then every change of the run, its position, the proof or the root is refused
    changed = [*run[:2], leaf_hash(b"hidden"), *run[3:]]
    for start, items, path, top in (
        (5, changed, proof, root),
        (5, run[:-1], proof, root),
        (5, [*run, leaves[11]], proof, root),
        (5, [*run[:2], *run[3:]], proof, root),
        (6, run, proof, root),
        (5, run, proof[:-1], root),
        (5, run, [*proof, proof[0]], root),
        (5, run, [bytes(32), *proof[1:]], root),
        (5, run, proof, bytes(32)),
        (5, [b"short"], proof, root),
    ):
        with pytest.raises(InvalidInclusionProofError):
            merkle.verify_range(start, items, 23, path, top)


@pytest.mark.parametrize(("start", "count", "size"), [(0, 0, 4), (3, 2, 4), (-1, 1, 4), (True, 1, 4)])
def test_range_rejects_ranges_outside_the_tree(start: int, count: int, size: int) -> None:
    store, leaves = _store_of(4)
    with pytest.raises(InvalidTreeRangeError):
        merkle.verify_range(start, leaves[:count], size, [], root_hash(store, 4))
    with pytest.raises(InvalidTreeRangeError):
        merkle.range_proof(store, start, start + count, size)
