"""Sealed outbox bodies: AES-256-GCM at rest, opened only by the worker, failing closed.

The raw column never holds the plaintext; a body moved to another row, a row re-pointed at
another partner, an unknown key or a plaintext row slipped into the outbox is dead-lettered as
``unsealable`` and never sent; keys rotate (the first seals, all open).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.appkeys import DELIVERY, METRICS, SERVICES
from gateway.delivery import DeliveryWorker, replay
from gateway.errors import ConfigurationError
from gateway.settings import DeliverySettings
from gateway.store.sealing import (
    Keyring,
    SealingSettings,
    Unsealable,
    key_id,
    load_keyring,
    new_key_line,
    write_new_key_file,
)
from tests.conftest import Database
from tests.delivery_helpers import Family, change, introduce, rows, send_crisis
from tests.gateway_harness import Harness, start_harness

OFF = DeliverySettings(enabled=False, backoff_base=0.01, backoff_cap=0.02)
MOTHER = Family(0)


def _key_file(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture
async def sealed(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> AsyncIterator[tuple[Harness, Path]]:
    """A gateway whose worker only runs when the test says (``run_once``), with its own key."""
    key_file = _key_file(tmp_path / "sealing.key", new_key_line())
    async for h in start_harness(
        aiohttp_client, database, delivery=OFF, sealing=SealingSettings(key_file=key_file)
    ):
        yield h, key_file


async def _worker_with(h: Harness, sealing: SealingSettings) -> AsyncIterator[DeliveryWorker]:
    """A second worker on the same database, with other sealing settings."""
    services = h.client.app[SERVICES]
    other = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"sealing": sealing})
    )
    async with aiohttp.ClientSession() as session:
        yield DeliveryWorker(other, session, h.client.app[METRICS])


# -- the sealing module --------------------------------------------------------------------------


def test_a_sealed_body_opens_only_as_its_own_row() -> None:
    """Round trip; fresh nonce each time; another row, partner, key or a flipped bit: refused."""
    ring = Keyring([os.urandom(32)])
    body = b'{"parent": {"name": "Jane"}}'
    sealed, kid = ring.seal(body, outbox_id="row-1", partner="council-demo")
    again, _ = ring.seal(body, outbox_id="row-1", partner="council-demo")
    assert body not in sealed
    assert sealed[:12] != again[:12]  # a 96-bit random nonce per body
    assert len(sealed) == 12 + len(body) + 16
    assert body == ring.open(sealed, kid, outbox_id="row-1", partner="council-demo")
    flipped = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
    cases = {
        "another row": (sealed, kid, "row-2", "council-demo", "authentication-failed"),
        "another partner": (sealed, kid, "row-1", "council-other", "authentication-failed"),
        "a flipped bit": (flipped, kid, "row-1", "council-demo", "authentication-failed"),
        "an unknown key": (sealed, "0" * 16, "row-1", "council-demo", "unknown-key"),
        "too short": (sealed[:27], kid, "row-1", "council-demo", "malformed"),
    }
    for case, (data, key, row, partner, reason) in cases.items():
        with pytest.raises(Unsealable) as caught:
            ring.open(data, key, outbox_id=row, partner=partner)
        assert reason == caught.value.reason, case


def test_the_first_key_seals_and_every_key_opens(tmp_path: Path) -> None:
    """Rotation: a new key put first seals new bodies; bodies sealed with the old one still open."""
    old, new = os.urandom(32), os.urandom(32)
    sealed_before, old_id = Keyring([old]).seal(b"before", outbox_id="a", partner="p")
    path = _key_file(
        tmp_path / "keys",
        b"# newest first\n",
        base64.urlsafe_b64encode(new) + b"\n",
        b"\n",
        base64.urlsafe_b64encode(old) + b"\n",
    )
    ring = load_keyring(path)
    assert (key_id(new), key_id(old)) == ring.key_ids
    sealed_after, new_id = ring.seal(b"after", outbox_id="b", partner="p")
    assert (new_id, old_id) == (key_id(new), key_id(old))
    assert b"before" == ring.open(sealed_before, old_id, outbox_id="a", partner="p")
    assert b"after" == ring.open(sealed_after, new_id, outbox_id="b", partner="p")
    assert 16 == len(new_id)
    assert new_id != old_id


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "holds no key"),
        (b"# only a comment\n\n", "holds no key"),
        (b"not base64 at all!\n", "line 1: not a base64 key of 32 bytes"),
        (b"\n" + base64.urlsafe_b64encode(os.urandom(16)) + b"\n", "line 2: not a base64 key"),
        (b"\xff\xfe\n", "cannot read"),
    ],
)
def test_a_bad_key_file_is_named_without_its_content(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    """A bad key file stops start-up with the file and line, never the key material."""
    path = _key_file(tmp_path / "keys", content)
    with pytest.raises(ConfigurationError) as caught:
        load_keyring(path)
    assert expected in caught.value.detail
    assert "sealing.key_file" in caught.value.detail


def test_an_unwritable_demo_key_stops_start_up_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a key file, where ./var cannot hold the demo key (here a file is in its way): a
    configuration error naming the setting, not a traceback."""
    (tmp_path / "var").write_bytes(b"not a directory")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        _ = SealingSettings().keyring
    assert "configure sealing.key_file" in caught.value.detail


def test_the_demo_key_is_generated_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    """Without a key file, one is made (mode 0600) and kept: the same key on the next start."""
    path = tmp_path / "var" / "outbox-sealing.key"
    assert write_new_key_file(path)
    first = path.read_bytes()
    assert not write_new_key_file(path)
    assert first == path.read_bytes()
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert 1 == len(load_keyring(path).key_ids)


# -- through the gateway ---------------------------------------------------------------------------


async def test_the_raw_column_never_holds_the_plaintext(
    sealed: tuple[Harness, Path], database: Database
) -> None:
    """The stored body is sealed with the configured key; the recipient gets the plaintext; the
    sealed body is purged once delivered."""
    h, key_file = sealed
    await introduce(h, MOTHER)
    await send_crisis(h, MOTHER)
    (row,) = await rows(h.engine)
    ring = load_keyring(key_file)
    assert (ring.current, "pending") == (row["body_key_id"], row["status"])
    plaintext = ring.open(
        row["body"], row["body_key_id"], outbox_id=row["id"], partner=row["partner"]
    )
    assert hashlib.sha256(plaintext).hexdigest() == row["body_sha256"]
    # Markers from the crisis notice: the message type, the parent section, the exchange id.
    markers = [b'"crisis-notice"', b'"parent"', row["exchange_id"].encode()]
    assert all(m in plaintext for m in markers)
    assert not any(m in row["body"] for m in markers)
    if database.backend == "sqlite":
        # Nowhere in the database's files either (the exchange id is in other tables, so look
        # for a run of the notice itself).
        start = plaintext.index(b'"parent"')
        chunk = plaintext[start : start + 48]
        files = Path(database.url.split("///", 1)[1])
        for path in (files, Path(f"{files}-wal")):
            if path.exists():
                assert chunk not in path.read_bytes()

    assert 1 == await h.client.app[DELIVERY].run_once()
    (received,) = h.council.received
    assert plaintext == received.body
    (row,) = await rows(h.engine)
    assert ("delivered", None) == (row["status"], row["body"])


async def test_a_body_moved_to_another_row_is_dead_lettered_unsent(
    sealed: tuple[Harness, Path],
) -> None:
    """Two bodies swapped between rows: each fails to open as its row's and is never sent; the
    dead letter holds back the later delivery about the same person."""
    h, _ = sealed
    await introduce(h, MOTHER)
    await send_crisis(h, MOTHER)
    await send_crisis(h, MOTHER)
    first, second = await rows(h.engine)
    await change(h.engine, first["id"], body=second["body"])
    await change(h.engine, second["id"], body=first["body"])

    worker = h.client.app[DELIVERY]
    assert 1 == await worker.run_once()  # only the older: the newer waits behind it
    assert 0 == await worker.run_once()
    first, second = await rows(h.engine)
    assert ("dead", "unsealable", 1) == (first["status"], first["last_error"], first["attempts"])
    assert ("pending", 0) == (second["status"], second["attempts"])
    assert [] == h.council.received
    attempts = [e for e in await h.entries() if e["event"] == "delivery.attempted"]
    assert [("dead", "unsealable", None)] == [
        (e["outcome"], e["error"], e["status_code"]) for e in attempts
    ]


async def test_a_row_re_pointed_at_another_partner_is_not_sent_there(
    sealed: tuple[Harness, Path],
) -> None:
    """The recipient is bound into the seal: a row changed to name another partner does not open,
    so the other council's endpoint receives nothing."""
    h, _ = sealed
    await introduce(h, MOTHER)
    await send_crisis(h, MOTHER)
    (row,) = await rows(h.engine)
    await change(h.engine, row["id"], partner="council-other")
    assert 1 == await h.client.app[DELIVERY].run_once()
    (row,) = await rows(h.engine)
    assert ("dead", "unsealable") == (row["status"], row["last_error"])
    assert [] == h.other.received
    assert [] == h.council.received


async def test_a_plaintext_row_is_refused_unless_draining_an_upgrade(
    sealed: tuple[Harness, Path], tmp_path: Path
) -> None:
    """A row with no key id (written before sealing, or slipped in by someone who can write the
    database) is not sent, unless ``open_plaintext`` is on."""
    h, key_file = sealed
    await introduce(h, MOTHER)
    await send_crisis(h, MOTHER)
    await send_crisis(h, MOTHER)
    ring = load_keyring(key_file)
    first, second = await rows(h.engine)
    for row in (first, second):
        plain = ring.open(
            row["body"], row["body_key_id"], outbox_id=row["id"], partner="council-demo"
        )
        await change(h.engine, row["id"], body=plain, body_key_id=None)
    assert 1 == await h.client.app[DELIVERY].run_once()
    first, second = await rows(h.engine)
    assert ("dead", "unsealable") == (first["status"], first["last_error"])
    assert [] == h.council.received

    async for worker in _worker_with(h, SealingSettings(key_file=key_file, open_plaintext=True)):
        assert await replay(
            h.client.app[SERVICES], first["id"], operator="ops.engineer", request_id=None
        )
        assert 2 == await worker.run_once()  # the replayed one, then the one behind it
    assert 2 == len(h.council.received)


async def test_without_its_key_a_body_is_unsealable_until_the_key_is_back(
    sealed: tuple[Harness, Path], tmp_path: Path
) -> None:
    """A worker whose key file lacks the sealing key dead-letters the row, sending nothing; with
    the key restored (behind a new one, as in a rotation) and the row replayed, it is delivered."""
    h, key_file = sealed
    await introduce(h, MOTHER)
    await send_crisis(h, MOTHER)
    (row,) = await rows(h.engine)
    other_key = new_key_line()
    wrong = _key_file(tmp_path / "wrong.key", other_key)
    async for worker in _worker_with(h, SealingSettings(key_file=wrong)):
        assert 1 == await worker.run_once()
    (row,) = await rows(h.engine)
    assert ("dead", "unsealable") == (row["status"], row["last_error"])
    assert [] == h.council.received

    rotated = _key_file(tmp_path / "rotated.key", other_key, key_file.read_bytes())
    async for worker in _worker_with(h, SealingSettings(key_file=rotated)):
        done = await replay(
            h.client.app[SERVICES], row["id"], operator="ops.engineer", request_id=None
        )
        assert done is not None
        assert 1 == done.attempts_before
        assert 1 == await worker.run_once()
    (row,) = await rows(h.engine)
    assert ("delivered", 2, None) == (row["status"], row["attempts"], row["body"])
    assert 1 == len(h.council.received)
