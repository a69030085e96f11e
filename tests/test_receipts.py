"""Receipts: GET /api/v1/exchanges/{id}/receipt through a real server and database, checked by
`joinedup audit verify-receipt` with the gateway's verifier key; forged receipts refused."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from gateway.audit import merkle
from gateway.audit.checkpoints import checkpoint_text
from gateway.audit.proofs import b64
from gateway.audit.settings import LedgerSettings
from gateway.audit.signing import Signer, write_new_key
from gateway.cli import main
from gateway.openapi import build_openapi
from gateway.routes.receipts import CHECKPOINTER
from gateway.store.tables import ledger_nodes
from tests.conftest import COUNCIL_KEY, OTHER_COUNCIL_KEY, TRUST_KEY, Database
from tests.gateway_harness import Harness, child_status, crisis_bundle, start_harness

ORIGIN = "receipts.test/ledger"


def ledger_settings(tmp_path: Path, **overrides: Any) -> LedgerSettings:
    """Ledger settings with a fresh signing key and checkpoint directory under ``tmp_path``."""
    key = tmp_path / "signing-key.pem"
    write_new_key(key)
    values: dict[str, Any] = {
        "origin": ORIGIN,
        "signing_key_file": key,
        "checkpoint_dir": tmp_path / "checkpoints",
    }
    values.update(overrides)
    return LedgerSettings(**values)


@pytest.fixture
async def hr(aiohttp_client: Any, database: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness whose checkpoints are signed only on demand (huge count and interval)."""
    ledger = ledger_settings(tmp_path, checkpoint_entries=1_000_000, checkpoint_seconds=3600)
    async for h in start_harness(aiohttp_client, database, ledger=ledger):
        yield h


def _vkey(h: Harness) -> str:
    vkey: str = h.client.app[CHECKPOINTER].signer.verifier.encode()
    return vkey


async def _crisis(h: Harness) -> str:
    """The crisis story; returns once the delivery attempt is in the ledger too."""
    assert 202 == (await h.post_csc(child_status())).status
    response = await h.post_fhir(crisis_bundle())
    assert 202 == response.status
    exchange_id: str = (await response.json())["exchange_id"]
    for _ in range(200):
        ours = [e for e in await h.entries() if e.get("exchange_id") == exchange_id]
        if any(e["event"] == "delivery.attempted" for e in ours):
            return exchange_id
        await asyncio.sleep(0.02)
    raise AssertionError("the delivery attempt was never recorded")


async def _receipt(h: Harness, exchange_id: str, key: str = TRUST_KEY) -> Any:
    return await h.client.get(
        f"/api/v1/exchanges/{exchange_id}/receipt", headers={"Authorization": f"Bearer {key}"}
    )


async def _verify_file(document: dict[str, Any], tmp_path: Path, *args: str) -> int:
    path = tmp_path / "receipt.json"
    path.write_bytes(orjson.dumps(document))
    return await asyncio.to_thread(main, ["audit", "verify-receipt", str(path), *args])


async def test_the_sender_fetches_a_receipt_that_verifies_offline(
    hr: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trust fetches its exchange's receipt; verify-receipt with the gateway's key accepts it:
    every entry of the exchange is proved under the signed checkpoint it carries."""
    exchange_id = await _crisis(hr)
    response = await _receipt(hr, exchange_id)
    assert 200 == response.status
    receipt = await response.json()
    assert {
        "exchangeId",
        "seq",
        "leafIdx",
        "treeSize",
        "root",
        "leafHash",
        "proof",
        "checkpoint",
        "entries",
    } == set(receipt)
    assert exchange_id == receipt["exchangeId"]
    jsonschema.validate(receipt, build_openapi()["components"]["schemas"]["Receipt"])
    ours = [e for e in await hr.entries() if e.get("exchange_id") == exchange_id]
    assert [(e["seq"], e["event"]) for e in ours] == [
        (e["seq"], e["event"]) for e in receipt["entries"]
    ]
    assert ("exchange.received", receipt["seq"] - 1) == (
        receipt["entries"][0]["event"],
        receipt["leafIdx"],
    )
    assert receipt["checkpoint"].startswith(f"{ORIGIN}\n{receipt['treeSize']}\n{receipt['root']}\n")
    vkey = _vkey(hr)
    assert 0 == await _verify_file(receipt, tmp_path, "--key", vkey)
    out = capsys.readouterr().out
    assert "checkpoint signature valid" in out
    assert f"the proofs of its {len(ours)} entries" in out
    # The key may be given as a file, as `joinedup audit keygen` writes it.
    (tmp_path / "gateway.vkey").write_text(vkey + "\n")
    assert 0 == await _verify_file(receipt, tmp_path, "--key", str(tmp_path / "gateway.vkey"))
    # Without a key the proofs still verify, and the output says the signature was not checked.
    assert 0 == await _verify_file(receipt, tmp_path)
    assert "signature was NOT checked" in capsys.readouterr().out


async def test_another_partner_gets_the_same_404_as_an_unknown_id(hr: Harness) -> None:
    """Only the sender may fetch a receipt: the council (a recipient) and a stranger get exactly
    the answer an unknown id gets."""
    exchange_id = await _crisis(hr)
    unknown = await _receipt(hr, "6f1b4c1e-0000-4000-8000-000000000000")
    assert 404 == unknown.status
    expected = await unknown.json()
    for key in (COUNCIL_KEY, OTHER_COUNCIL_KEY):
        response = await _receipt(hr, exchange_id, key)
        assert 404 == response.status
        assert "application/problem+json" == response.content_type
        body = await response.json()
        assert {k: v for k, v in expected.items() if k != "request_id"} == {
            k: v for k, v in body.items() if k != "request_id"
        }


async def test_bad_requests_are_refused_with_the_element_named(hr: Harness) -> None:
    """A malformed id is 400 naming exchange_id; no key is 401; neither reveals anything."""
    response = await _receipt(hr, "not-a-uuid")
    assert 400 == response.status
    problem = await response.json()
    assert [{"element": "exchange_id", "reason": "must be a UUID", "code": "value"}] == problem[
        "errors"
    ]
    response = await hr.client.get("/api/v1/exchanges/6f1b4c1e-0000-4000-8000-000000000000/receipt")
    assert 401 == response.status


async def test_on_demand_signing_is_limited_to_one_a_second(hr: Harness) -> None:
    """With no checkpoint due, the first receipt signs one on demand; a second exchange asked for
    within the second gets 503 with Retry-After, and a receipt once the second has passed."""
    first = await _crisis(hr)
    assert 200 == (await _receipt(hr, first)).status
    second = await _crisis(hr)
    response = await _receipt(hr, second)
    assert 503 == response.status
    assert "1" == response.headers["Retry-After"]
    assert "application/problem+json" == response.content_type
    await asyncio.sleep(1.05)
    response = await _receipt(hr, second)
    assert 200 == response.status
    receipt = await response.json()
    assert receipt["treeSize"] >= receipt["entries"][-1]["seq"]


async def test_a_damaged_tree_is_503_not_a_wrong_receipt(hr: Harness, database: Database) -> None:
    """If a stored node the proofs read (here the one over seqs 1-4, on every path of a tree of
    7) no longer matches the signed checkpoint, no receipt is handed out."""
    exchange_id = await _crisis(hr)
    assert 200 == (await _receipt(hr, exchange_id)).status
    async with hr.engine.begin() as conn:
        await conn.execute(
            update(ledger_nodes)
            .where(ledger_nodes.c.level == 2, ledger_nodes.c.idx == 0)
            .values(hash=bytes(32))
        )
    response = await _receipt(hr, exchange_id)
    assert 503 == response.status
    assert "operators have been alerted" in (await response.json())["detail"]


def _forge(receipt: dict[str, Any], how: str, signer: Signer) -> dict[str, Any]:
    forged = dict(receipt)
    if how == "leaf":
        forged["leafHash"] = b64(bytes(32))
    elif how == "entry-proof":
        forged["entries"] = [dict(e) for e in receipt["entries"]]
        forged["entries"][-1]["leafHash"] = b64(bytes(32))
    elif how == "wrong-key":
        # The real tree head, signed by a key that is not the gateway's.
        impostor = Signer(signer.name, Ed25519PrivateKey.generate())
        text = checkpoint_text(ORIGIN, receipt["treeSize"], base64.b64decode(receipt["root"]))
        forged["checkpoint"] = impostor.sign(text)
    elif how == "forged-tree":
        # A whole invented one-entry tree whose proofs hold, under an impostor's checkpoint.
        impostor = Signer(signer.name, Ed25519PrivateKey.generate())
        leaf = merkle.leaf_hash(b'{"event":"exchange.received","seq":1}')
        forged = {"leafIdx": 0, "treeSize": 1, "root": b64(leaf), "leafHash": b64(leaf)}
        forged["proof"] = []
        forged["checkpoint"] = impostor.sign(checkpoint_text(ORIGIN, 1, leaf))
    elif how == "checkpoint-edited":
        forged["checkpoint"] = receipt["checkpoint"].replace(
            f"\n{receipt['treeSize']}\n", f"\n{receipt['treeSize'] + 1}\n", 1
        )
    elif how == "checkpoint-of-another-size":
        text = checkpoint_text(ORIGIN, receipt["treeSize"] + 1, base64.b64decode(receipt["root"]))
        forged["checkpoint"] = signer.sign(text)
    return forged


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("leaf", "the proof does not lead to the root"),
        ("entry-proof", "entries["),
        ("wrong-key", "no signature by a known key"),
        ("forged-tree", "no signature by a known key"),
        ("checkpoint-edited", "does not verify"),
        ("checkpoint-of-another-size", "states tree size"),
    ],
)
async def test_forged_receipts_are_refused_with_the_reason(
    hr: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, reason: str
) -> None:
    """verify-receipt exits 1 naming why: a changed leaf, a changed entry proof, the tree head
    signed by another key, an invented tree under another key, an edited checkpoint, a
    checkpoint of another size."""
    exchange_id = await _crisis(hr)
    receipt = await (await _receipt(hr, exchange_id)).json()
    signer = hr.client.app[CHECKPOINTER].signer
    forged = _forge(receipt, how, signer)
    assert 1 == await _verify_file(forged, tmp_path, "--key", _vkey(hr))
    out = capsys.readouterr().out
    assert "inclusion proof INVALID" in out
    assert reason in out


async def test_a_bad_key_argument_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed --key is a usage error naming the problem, not a verdict."""
    path = tmp_path / "receipt.json"
    path.write_text(
        '{"leafIdx": 0, "treeSize": 1, "root": "AA==", "leafHash": "AA==", "proof": []}'
    )
    assert 2 == main(["audit", "verify-receipt", str(path), "--key", "name+zz+AAAA"])
    assert "--key name+zz+AAAA: a verifier key's id must be 8 lower-case hex digits" in (
        capsys.readouterr().err
    )


async def test_keys_from_the_configuration(
    hr: Harness, tmp_path: Path, database: Database, clean_env: None
) -> None:
    """--config supplies the signing key's public key and verifier_keys."""
    exchange_id = await _crisis(hr)
    receipt = await (await _receipt(hr, exchange_id)).json()
    settings = hr.client.app[CHECKPOINTER]
    config = tmp_path / "config.yaml"
    config.write_text(
        f"ledger:\n  origin: {ORIGIN}\n  signing_key_file: {tmp_path / 'signing-key.pem'}\n"
    )
    assert 0 == await _verify_file(receipt, tmp_path, "--config", str(config))
    other = tmp_path / "other.yaml"
    other.write_text(
        f"ledger:\n  origin: {ORIGIN}\n  verifier_keys: ['{settings.signer.verifier.encode()}']\n"
    )
    assert 0 == await _verify_file(receipt, tmp_path, "--config", str(other))
