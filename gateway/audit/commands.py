"""The ledger's verifiers and key tool, behind ``joinedup audit verify``, ``verify-receipt``,
``verify-consistency`` and ``keygen`` (registered in ``gateway/cli.py``).

None of them needs a running gateway: ``verify-receipt`` and ``verify-consistency`` need nothing
but the file (and a verifier key, to check a receipt's checkpoint signature); ``verify`` reads the
database and ``checkpoint_dir`` named by the settings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.checkpoints import configured_verifiers, open_checkpoint, parse_text
from gateway.audit.events import LedgerVerified
from gateway.audit.merkle import ProofError
from gateway.audit.proofs import b64, check_consistency, check_inclusion, load
from gateway.audit.signing import (
    NoteError,
    Signer,
    Verifier,
    parse_verifier,
    private_pem,
    split_note,
)
from gateway.audit.verify import Verdict, verify_ledger
from gateway.errors import Unavailable
from gateway.settings import Settings, load_settings
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.tables import checkpoints

KEY_FILE = "ledger-signing-key.pem"
VKEY_FILE = "ledger-signing-key.vkey"


def _settings(args: argparse.Namespace) -> Settings:
    config: Path | None = getattr(args, "config", None)
    return load_settings(config)


# -- joinedup audit verify ------------------------------------------------------------------


def verify(args: argparse.Namespace) -> int:
    """Verify the whole ledger; record the result as a ``ledger.verified`` entry unless
    ``--no-record``. Exit 0 intact, 1 not (naming the first bad entry), 2 unusable settings or
    an unreadable database."""
    settings = _settings(args)
    verifiers = configured_verifiers(settings.ledger)

    async def run() -> int:
        try:
            return await _verify(settings, verifiers, record=not args.no_record)
        except SQLAlchemyError as exc:
            # SECURITY: the class only; a driver's message can quote the connection string.
            print(
                f"cannot read the ledger ({type(exc).__name__}): is the database reachable and "
                "at the newest schema (joinedup db upgrade)?",
                file=sys.stderr,
            )
            return 2

    return asyncio.run(run())


async def _verify(settings: Settings, verifiers: list[Verifier], *, record: bool) -> int:
    """Verify, print the verdict, record it; the exit code."""
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            signed = (
                await conn.execute(select(func.count()).select_from(checkpoints))
            ).scalar_one()
            if signed and not verifiers:
                print(
                    "cannot check checkpoint signatures: no key configured (set "
                    "ledger.signing_key_file or ledger.verifier_keys)",
                    file=sys.stderr,
                )
                return 2
            started = time.perf_counter()
            verdict = await verify_ledger(
                conn,
                verifiers=verifiers,
                checkpoint_dir=settings.ledger.checkpoint_dir,
                origin=settings.ledger.origin,
            )
            elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    rate = f"{verdict.entries / elapsed:,.0f} entries/s" if elapsed > 0 else ""
    if verdict.intact:
        print(
            f"ledger intact: {verdict.entries} entries verified; chain, tree and "
            f"{verdict.checkpoints} checkpoint(s) agree ({elapsed:.2f} s, {rate})"
        )
    else:
        print(
            f"ledger NOT intact: first bad entry is seq {verdict.first_bad_seq}: "
            f"{verdict.reason} ({verdict.entries} entries verified before it)"
        )
    if record:
        await _record(settings, verdict)
    return 0 if verdict.intact else 1


async def _record(settings: Settings, verdict: Verdict) -> None:
    """Append the result to the ledger through the group committer, as imports do."""
    event = LedgerVerified(
        at=datetime.now(UTC),
        intact=verdict.intact,
        entries=verdict.entries,
        tree_size=verdict.tree_size,
        first_bad_seq=verdict.first_bad_seq,
        reason=verdict.reason,
        by="cli",
    )
    writer = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
    committer = GroupCommitter(writer, max_batch=1)
    await committer.start()
    try:
        seqs = await committer.submit(UnitOfWork(events=lambda: [event]))
        print(f"recorded as ledger entry {seqs[0]}")
    except Unavailable:
        print("the result could not be recorded in the ledger", file=sys.stderr)
    finally:
        await committer.stop()
        writer.dispose()


# -- joinedup audit verify-receipt / verify-consistency --------------------------------------


def _keys(args: argparse.Namespace) -> list[Verifier]:
    """Verifier keys from --key (a key string or a file holding one) and --config's settings."""
    keys: list[Verifier] = []
    for given in args.key or ():
        path = Path(given)
        text = path.read_text(encoding="utf-8").strip() if path.is_file() else given
        try:
            keys.append(parse_verifier(text))
        except NoteError as exc:
            raise _UsageError(f"--key {given}: {exc}") from None
    if args.config is not None:
        keys += configured_verifiers(load_settings(args.config).ledger)
    return keys


class _UsageError(Exception):
    pass


def _check_entries(document: dict[str, Any]) -> int:
    """Each of a receipt's ``entries`` proofs, against the receipt's tree size and root."""
    entries = document.get("entries")
    if entries is None:
        return 0
    if not isinstance(entries, list):
        raise ProofError("entries: must be a list")
    for number, item in enumerate(entries):
        if not isinstance(item, dict):
            raise ProofError(f"entries[{number}]: must be an object")
        try:
            check_inclusion({**item, "treeSize": document["treeSize"], "root": document["root"]})
        except ProofError as exc:
            raise ProofError(f"entries[{number}]: {exc}") from None
    return len(entries)


def _check_checkpoint(document: dict[str, Any], keys: list[Verifier]) -> bool:
    """The receipt's signed checkpoint states its tree size and root (and, with keys, a known
    key signed it). Returns whether the signature was checked."""
    note = document["checkpoint"]
    if not isinstance(note, str):
        raise ProofError("checkpoint: must be the signed note's text")
    try:
        if keys:
            checkpoint = open_checkpoint(note, keys)
            size, root = checkpoint.tree_size, checkpoint.root
        else:
            _origin, size, root = parse_text(split_note(note)[0])
    except NoteError as exc:
        raise ProofError(f"checkpoint: {exc}") from None
    if size != document["treeSize"]:
        raise ProofError(f"checkpoint: states tree size {size}; the proof is for another size")
    if b64(root) != document["root"]:
        raise ProofError("checkpoint: its root is not the proof's root")
    return bool(keys)


def _check_receipt(document: dict[str, Any], keys: list[Verifier]) -> str:
    """Raise ProofError unless the receipt verifies; say what was checked."""
    check_inclusion(document)
    checked = "inclusion proof valid"
    entries = _check_entries(document)
    if entries:
        checked += f", and the proofs of its {entries} entries"
    if document.get("checkpoint") is None:
        return checked
    if _check_checkpoint(document, keys):
        return checked + "; checkpoint signature valid, stating this tree size and root"
    return checked + (
        "; the checkpoint states this tree size and root, but its signature was NOT checked "
        "(give --key)"
    )


def verify_proof_file(args: argparse.Namespace, kind: str) -> int:
    """verify-receipt (kind "inclusion") or verify-consistency: exit 0 valid, 1 invalid."""

    try:
        document = load(Path(args.file).read_bytes())
        if kind == "inclusion":
            message = _check_receipt(document, _keys(args))
        else:
            check_consistency(document)
            message = "consistency proof valid"
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except ProofError as exc:
        print(f"{args.file}: {kind} proof INVALID: {exc}")
        return 1
    print(f"{args.file}: {message}")
    return 0


# -- joinedup audit keygen --------------------------------------------------------------------


def keygen(args: argparse.Namespace) -> int:
    """Write a new Ed25519 signing key (mode 0600) and its verifier key string to DIR."""

    out = Path(args.out)
    key = Ed25519PrivateKey.generate()
    try:
        signer = Signer(args.origin, key)
        vkey = signer.verifier.encode()
    except NoteError as exc:
        print(f"--origin: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    key_path, vkey_path = out / KEY_FILE, out / VKEY_FILE
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{key_path} exists: refusing to overwrite a signing key", file=sys.stderr)
        return 2
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem(key))
        handle.flush()
        os.fsync(handle.fileno())
    vkey_path.write_text(vkey + "\n", encoding="utf-8")
    print(f"signing key (keep secret; ledger.signing_key_file): {key_path}")
    print(f"verifier key (publish; ledger.verifier_keys, --key): {vkey_path}")
    print(vkey)
    return 0


def add_keygen(audit: Any) -> None:
    """Add ``keygen`` and the options of ``verify`` and ``verify-receipt`` (cli.py adds those
    two parsers; this adds what they take)."""
    keys = audit.add_parser(
        "keygen", help="write a new checkpoint signing key and its verifier key string"
    )
    keys.add_argument("--origin", required=True, help="the ledger's origin (its key name)")
    keys.add_argument("--out", required=True, type=Path, help="directory to write the key files")
    keys.set_defaults(run=keygen)
