"""The ledger's Merkle tree (RFC 6962 / RFC 9162 section 2.1): hashes, proofs and their checks.

Written here rather than taken from a library: the checks are short, they are the part of the
gateway an IG officer's evidence rests on, and no kept Python package implements RFC 9162's
inclusion *and* consistency verification with the leaf/node domain separation the C2SP
transparency-log vectors (``../shared/corpus/merkle/testdata``) use. The code follows the
structure of transparency-dev/merkle (Go), whose vectors the tests run, and RFC 9162
sections 2.1.3.2 and 2.1.4.2.

Leaves are ``SHA-256(0x00 || entry)``; interior nodes ``SHA-256(0x01 || left || right)``; the tree
of ``n`` leaves splits at the largest power of two below ``n``. A *node* here is a perfect
subtree, named by ``(level, index)``: it covers leaves ``[index << level, (index + 1) << level)``.
Storage keeps every such node as it completes (``append``), so any range, root or proof is a few
stored nodes combined (``range_hash``), never a walk over the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # the root of the empty tree (RFC 9162 2.1.1)

NodeKey = tuple[int, int]  # (level, index)
NodeSource = Callable[[int, int], bytes]  # the stored hash of a perfect subtree


class ProofError(ValueError):
    """A proof does not verify; the message says why (never any entry content)."""


def leaf_hash(entry: bytes) -> bytes:
    """The hash of one ledger entry as a leaf."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- building: perfect subtrees, the frontier, roots ---------------------------------------------


def frontier_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees that together cover leaves ``[0, size)``, largest (leftmost) first."""
    keys: list[NodeKey] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, start >> level))
            start += 1 << level
    return keys


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """The tree head from its frontier's hashes (``frontier_keys`` order)."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for node in reversed(frontier[:-1]):
        root = node_hash(node, root)
    return root


@dataclass(frozen=True, slots=True)
class Appended:
    """What appending leaves produced: every newly completed node, and the new frontier."""

    nodes: list[tuple[int, int, bytes]]  # (level, index, hash), leaves included
    frontier: list[bytes]
    size: int

    @property
    def root(self) -> bytes:
        return root_from_frontier(self.frontier)


def append(size: int, frontier: Sequence[bytes], leaves: Iterable[bytes]) -> Appended:
    """Append leaf hashes to a tree of ``size`` leaves whose frontier hashes are ``frontier``."""
    if len(frontier) != bin(size).count("1"):
        raise ValueError("the frontier does not match the tree size")
    stack = list(zip((level for level, _ in frontier_keys(size)), frontier, strict=True))
    nodes: list[tuple[int, int, bytes]] = []
    for leaf in leaves:
        level, index, value = 0, size, leaf
        nodes.append((0, index, value))
        # A right child completes its parent: combine with the left sibling on the stack.
        while index & 1:
            sibling_level, sibling = stack.pop()
            if sibling_level != level:
                raise ValueError("the frontier is inconsistent")
            level, index, value = level + 1, index >> 1, node_hash(sibling, value)
            nodes.append((level, index, value))
        stack.append((level, value))
        size += 1
    return Appended(nodes, [value for _, value in stack], size)


def range_nodes(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees whose hashes ``range_hash(start, end)`` combines."""
    keys: list[NodeKey] = []

    def walk(lo: int, hi: int) -> None:
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            keys.append((n.bit_length() - 1, lo // n))
            return
        k = _split(n)
        walk(lo, lo + k)
        walk(lo + k, hi)

    if end > start:
        walk(start, end)
    return keys


def range_hash(start: int, end: int, node: NodeSource) -> bytes:
    """MTH(D[start:end]) for a range that is a subtree of some tree (RFC 9162 2.1.1)."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        return node(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(range_hash(start, start + k, node), range_hash(start + k, end, node))


# -- proofs (RFC 9162 2.1.3.1 and 2.1.4.1) --------------------------------------------------------


def inclusion_proof(index: int, size: int, node: NodeSource) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path from leaf ``index`` to the root of ``size``."""
    if not 0 <= index < size:
        raise ValueError("the leaf is not in the tree")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(range_hash(lo + k, hi, node))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k, node))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, node: NodeSource) -> list[bytes]:
    """PROOF(size1, D[0:size2]): that the tree of ``size1`` is a prefix of the tree of ``size2``."""
    if not 0 <= size1 <= size2:
        raise ValueError("size1 must not exceed size2")
    if size1 in (0, size2):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(range_hash(lo + k, hi, node))
            hi = lo + k
        else:
            proof.append(range_hash(lo, lo + k, node))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(range_hash(lo, hi, node))
    proof.reverse()
    return proof


def needed(build: Callable[[NodeSource], object]) -> list[NodeKey]:
    """Which stored nodes ``build`` reads, so that storage can fetch them in one query."""
    keys: list[NodeKey] = []

    def record(level: int, index: int) -> bytes:
        keys.append((level, index))
        return bytes(HASH_SIZE)

    build(record)
    return list(dict.fromkeys(keys))


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2, as transparency-dev/merkle) --------------------


def _inner_size(index: int, size: int) -> int:
    return (index ^ (size - 1)).bit_length()


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        seed = node_hash(seed, sibling) if (index >> i) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def _check_hashes(what: str, hashes: Iterable[bytes]) -> None:
    for value in hashes:
        if len(value) != HASH_SIZE:
            raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (raises ProofError if it cannot be one)."""
    if index < 0 or size < 0:
        raise ProofError("leaf index and tree size must not be negative")
    if index >= size:
        raise ProofError(f"leaf index {index} is beyond tree size {size}")
    _check_hashes("the leaf hash", [leaf])
    _check_hashes("a proof hash", proof)
    inner = _inner_size(index, size)
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise ProofError(f"the proof has {len(proof)} hashes; this tree needs {inner + border}")
    result = _chain_inner(leaf, proof[:inner], index)
    return _chain_border_right(result, proof[inner:])


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows leaf ``index`` is in the tree of ``size`` at
    ``root``."""
    _check_hashes("the root", [root])
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("the proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows the tree of ``size1`` at ``root1`` is a prefix of
    the tree of ``size2`` at ``root2``."""
    if size1 < 0 or size2 < 0:
        raise ProofError("tree sizes must not be negative")
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        # Every tree extends the empty one: such a "proof" proves nothing, and a checkpoint
        # never has size 0, so it is refused rather than waved through.
        raise ProofError("size1 is 0: consistency with the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("the sizes are equal, so the proof must be empty")
        if root1 != root2:
            raise ProofError("the sizes are equal but the roots differ")
        return
    _check_hashes("a root", [root1, root2])
    _check_hashes("a proof hash", proof)
    if not proof:
        raise ProofError("the proof is empty")
    inner = _inner_size(size1 - 1, size2)
    border = bin((size1 - 1) >> inner).count("1")
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner -= shift
    seed, start = proof[0], 1
    if size1 == 1 << shift:
        seed, start = root1, 0
    if len(proof) != start + inner + border:
        raise ProofError(
            f"the proof has {len(proof)} hashes; these sizes need {start + inner + border}"
        )
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise ProofError("the proof does not lead to root1")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise ProofError("the proof does not lead to root2")
