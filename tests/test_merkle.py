"""The Merkle tree: building, proofs, and the verifiers against the transparency-dev vectors."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.audit import merkle
from gateway.audit.merkle import ProofError
from gateway.audit.proofs import b64, check_consistency, check_inclusion, load
from gateway.cli import main
from tests.conftest import FIXTURES

VECTORS = FIXTURES / "merkle" / "testdata"
SHARED = Path(__file__).resolve().parent.parent / ".." / "shared" / "corpus" / "merkle" / "testdata"


def _vectors(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _name(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 2.1.1, recursively: the reference the stored tree must match."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


class Tree:
    """Every node ``append`` produced, as storage keeps them."""

    def __init__(self, entries: list[bytes]) -> None:
        self.leaves = [merkle.leaf_hash(e) for e in entries]
        done = merkle.append(0, [], self.leaves)
        self.nodes = {(level, index): value for level, index, value in done.nodes}
        self.appended = done

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]


def test_vectors_are_the_shared_corpus() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"shared corpus absent: {SHARED.resolve()}")
    ours = {p.relative_to(VECTORS): p.read_bytes() for p in VECTORS.rglob("*.json")}
    theirs = {p.relative_to(SHARED): p.read_bytes() for p in SHARED.rglob("*.json")}
    assert theirs == ours


@pytest.mark.parametrize("path", _vectors("inclusion"), ids=_name)
def test_inclusion_vectors(path: Path) -> None:
    document = load(path.read_bytes())
    if document["wantErr"]:
        with pytest.raises(ProofError):
            check_inclusion(document)
    else:
        check_inclusion(document)


@pytest.mark.parametrize("path", _vectors("consistency"), ids=_name)
def test_consistency_vectors(path: Path) -> None:
    document = load(path.read_bytes())
    if document["wantErr"]:
        with pytest.raises(ProofError):
            check_consistency(document)
    else:
        check_consistency(document)


def test_there_are_vectors_of_both_outcomes() -> None:
    wants = [load(p.read_bytes())["wantErr"] for p in VECTORS.rglob("*.json")]
    assert (196, True, True) == (len(wants), True in wants, False in wants)


def test_cli_agrees_with_every_vector(capsys: pytest.CaptureFixture[str]) -> None:
    """`joinedup audit verify-receipt` / `verify-consistency`: exit 0 valid, 1 invalid."""
    mismatches = []
    for kind, command in (("inclusion", "verify-receipt"), ("consistency", "verify-consistency")):
        for path in _vectors(kind):
            want = 1 if load(path.read_bytes())["wantErr"] else 0
            if main(["audit", command, str(path)]) != want:
                mismatches.append(_name(path))
    assert [] == mismatches
    assert "INVALID" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b"{not json", "not JSON"),
        (b'{"leafIdx": "0", "treeSize": 1, "root": "", "leafHash": "", "proof": null}', "leafIdx"),
        (b'{"leafIdx": 0, "treeSize": 1, "root": "%%%", "leafHash": "AA==", "proof": []}', "root"),
        (
            b'{"leafIdx": 0, "treeSize": 1, "root": "AA==", "leafHash": "AA==", "proof": {}}',
            "proof",
        ),
    ],
)
def test_malformed_documents_are_invalid_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    path = tmp_path / "receipt.json"
    path.write_bytes(content)
    assert 1 == main(["audit", "verify-receipt", str(path)])
    assert reason in capsys.readouterr().out


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    assert 2 == main(["audit", "verify-receipt", str(tmp_path / "absent.json")])


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70))
def test_stored_tree_matches_rfc_and_every_proof_verifies(entries: list[bytes]) -> None:
    tree = Tree(entries)
    n = len(entries)
    assert _mth(tree.leaves) == tree.appended.root
    for size in range(1, n + 1):
        root = merkle.range_hash(0, size, tree.node)
        assert _mth(tree.leaves[:size]) == root
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, tree.node)
            merkle.verify_inclusion(index, size, tree.leaves[index], proof, root)
        for size1 in range(1, size + 1):
            proof = merkle.consistency_proof(size1, size, tree.node)
            merkle.verify_consistency(size1, size, proof, _mth(tree.leaves[:size1]), root)


@given(st.integers(min_value=1, max_value=300), st.data())
def test_appending_in_batches_equals_appending_at_once(n: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    cut = data.draw(st.integers(min_value=0, max_value=n))
    first = merkle.append(0, [], leaves[:cut])
    second = merkle.append(first.size, first.frontier, leaves[cut:])
    whole = merkle.append(0, [], leaves)
    assert (whole.root, whole.frontier) == (second.root, second.frontier)
    assert {(a, b) for a, b, _ in whole.nodes} == {(a, b) for a, b, _ in first.nodes + second.nodes}


@given(st.integers(min_value=2, max_value=64), st.data())
def test_a_changed_proof_or_leaf_fails(n: int, data: st.DataObject) -> None:
    tree = Tree([i.to_bytes(2, "big") for i in range(n)])
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_proof(index, n, tree.node)
    root = tree.appended.root
    flip = data.draw(st.integers(min_value=0, max_value=len(proof) - 1)) if proof else None
    if flip is not None:
        bad = [*proof]
        bad[flip] = bytes([bad[flip][0] ^ 1]) + bad[flip][1:]
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, n, tree.leaves[index], bad, root)
    other = (index + 1) % n
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, n, tree.leaves[other], proof, root)


def test_needed_lists_the_nodes_a_proof_reads() -> None:
    tree = Tree([bytes([i]) for i in range(13)])
    keys = merkle.needed(lambda node: merkle.inclusion_proof(5, 13, node))
    assert set(keys) <= set(tree.nodes)
    fetched = {key: tree.nodes[key] for key in keys}
    proof = merkle.inclusion_proof(5, 13, lambda level, index: fetched[(level, index)])
    assert proof == merkle.inclusion_proof(5, 13, tree.node)


def test_a_proof_document_round_trips_through_the_cli(tmp_path: Path) -> None:
    tree = Tree([b"a", b"b", b"c", b"d", b"e"])
    proof = merkle.inclusion_proof(3, 5, tree.node)
    document = {
        "leafIdx": 3,
        "treeSize": 5,
        "root": b64(tree.appended.root),
        "leafHash": b64(tree.leaves[3]),
        "proof": [b64(p) for p in proof],
    }
    path = tmp_path / "receipt.json"
    path.write_text(str(document).replace("'", '"'))
    assert 0 == main(["audit", "verify-receipt", str(path)])
    document["root"] = base64.b64encode(bytes(32)).decode()
    path.write_text(str(document).replace("'", '"'))
    assert 1 == main(["audit", "verify-receipt", str(path)])
