"""Buffered random ids: well-formed version 4 UUIDs, never repeated, and never shared with a
forked child (which would repeat AES-GCM nonces)."""

from __future__ import annotations

import os
import uuid

from gateway.ids import new_id, random_bytes


def test_ids_are_version_4_uuids_and_distinct() -> None:
    ids = [new_id() for _ in range(10_000)]  # several refills of the buffer
    assert len(set(ids)) == len(ids)
    for value in ids[:50]:
        parsed = uuid.UUID(value)
        assert (4, uuid.RFC_4122, value) == (parsed.version, parsed.variant, str(parsed))


def test_random_bytes_have_the_length_asked_for_even_beyond_the_buffer() -> None:
    assert [1, 12, 5000] == [len(random_bytes(n)) for n in (1, 12, 5000)]
    assert random_bytes(12) != random_bytes(12)


def test_a_forked_child_does_not_reuse_the_parents_buffer() -> None:
    random_bytes(1)  # the parent's buffer is filled, with bytes not yet handed out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next 16 bytes and leave at once
        os.close(read)
        os.write(write, random_bytes(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert 16 == len(child)
    assert child != random_bytes(16)  # the parent's next bytes are its own
