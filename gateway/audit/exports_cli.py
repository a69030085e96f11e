"""``joinedup audit export``, ``joinedup audit archive`` and ``joinedup audit verify-archive``.

    joinedup audit export --format fhir|csv [--from DATE] [--to DATE] [--person PERSON_ID]
                          [--out FILE] [--config FILE]
    joinedup audit archive --day YYYY-MM-DD --out DIR [--config FILE]
    joinedup audit verify-archive FILE... [--key VKEY_STRING_OR_FILE]...

An export reads the ledger (``ledger_search`` finds the dates, ``ledger_persons`` a person's
entries), checks each row against its own hash, and is itself recorded as a ``record.viewed``
entry (viewer ``cli``, view ``export``, the people whose entries were exported) through the group
committer before the file is written: if that record cannot be made, nothing is exported.

The machinery is imported when a command runs (``noqa: PLC0415``), as in ``gateway/cli.py``, so
that building the parser, which every ``joinedup`` command does, stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date
from pathlib import Path

from gateway.settings import load_settings

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PERSON_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _date(value: str) -> date:
    # SECURITY: messages never echo the value given.
    if not _DATE.match(value):
        raise argparse.ArgumentTypeError("not a date: use YYYY-MM-DD (UTC)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a calendar date: use YYYY-MM-DD (UTC)") from None


def _person_id(value: str) -> str:
    # A person id is the index's surrogate id (a UUID), never an NHS number or other identifier.
    if not _PERSON_ID.match(value):
        raise argparse.ArgumentTypeError(
            "not a person id: use the index's surrogate id (a lower-case UUID), never an NHS number"
        )
    return value


def _export(args: argparse.Namespace) -> int:
    from gateway.audit.export_query import RowBroken, export  # noqa: PLC0415
    from gateway.errors import Unavailable  # noqa: PLC0415

    if args.start and args.end and args.start > args.end:
        print("error: --from is after --to", file=sys.stderr)
        return 2
    out: Path | None = args.out
    if out is not None and out.exists():
        print(f"error: {out} already exists: choose another --out", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    try:
        body, count, recorded = asyncio.run(
            export(settings, args.format, start=args.start, end=args.end, person=args.person)
        )
    except RowBroken as exc:
        print(f"export refused: {exc}", file=sys.stderr)
        return 1
    except Unavailable:
        print(
            "export refused: the export could not be recorded in the ledger; nothing exported",
            file=sys.stderr,
        )
        return 2
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    else:
        try:
            with out.open("xb") as file:
                file.write(body)
        except OSError as exc:
            print(f"error: cannot write {out}: {exc.strerror}", file=sys.stderr)
            return 2
    where = "standard output" if out is None else str(out)
    print(
        f"exported {count} ledger entries as {args.format} to {where}; recorded as ledger "
        f"entry {', '.join(map(str, recorded))} (record.viewed)",
        file=sys.stderr,
    )
    return 0


# --- joinedup audit archive / verify-archive -----------------------------------------------------


def _archive(args: argparse.Namespace) -> int:
    from gateway.audit.archive import (  # noqa: PLC0415
        ArchiveRefused,
        LedgerBroken,
        Written,
        write_archive,
    )
    from gateway.audit.export_query import gc_paused, migrated_engine  # noqa: PLC0415
    from gateway.store.engine import create_sync_engine_for  # noqa: PLC0415

    settings = load_settings(args.config)

    async def migrate() -> None:
        engine = await migrated_engine(settings)
        await engine.dispose()

    def run() -> Written:
        asyncio.run(migrate())
        engine = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
        try:
            with engine.connect() as conn, gc_paused():
                return write_archive(conn, args.day, args.out)
        finally:
            engine.dispose()

    try:
        written = run()
    except ArchiveRefused as exc:
        print(f"archive refused: {exc}", file=sys.stderr)
        return 2
    except LedgerBroken as exc:
        print(f"archive refused: {exc}; nothing written", file=sys.stderr)
        return 1
    manifest = written.manifest
    span = (
        f"seqs {manifest['first_seq']} to {manifest['last_seq']}"
        if manifest["count"]
        else "no entries"
    )
    print(
        f"wrote {written.path}: {manifest['day']}, {manifest['count']} entries ({span}); "
        f"sha256 {written.sha256}"
    )
    return 0


def _verify_archive(args: argparse.Namespace) -> int:
    from gateway.audit.archive import verify_archives  # noqa: PLC0415
    from gateway.audit.export_query import gc_paused  # noqa: PLC0415
    from gateway.audit.signing import NoteError, parse_verifier  # noqa: PLC0415

    keys = []
    for given in args.key or ():
        path = Path(given)
        try:
            text = path.read_text(encoding="utf-8") if path.is_file() else given
            keys.append(parse_verifier(text))
        except (OSError, NoteError) as exc:
            print(f"error: --key {given}: {exc}", file=sys.stderr)
            return 2
    with gc_paused():
        code, findings = verify_archives(args.files, keys)
    for finding in findings:
        print(
            f"{finding.path}: {finding.message}", file=sys.stdout if finding.intact else sys.stderr
        )
    if code == 0:
        signatures = (
            f"checkpoint signatures checked against {len(keys)} key(s)"
            if keys
            else "checkpoint signatures NOT checked (give --key)"
        )
        print(f"{len(findings)} archive(s) intact and chained; {signatures}")
    return code


def register(audit: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export``, ``archive`` and ``verify-archive`` to ``joinedup audit``."""
    export_ = audit.add_parser(
        "export",
        help="export ledger entries as a FHIR AuditEvent Bundle (IHE BALP) or CSV; the export "
        "is itself recorded in the ledger",
    )
    export_.add_argument("--format", required=True, choices=["fhir", "csv"])
    export_.add_argument(
        "--from", dest="start", type=_date, metavar="DATE", help="first UTC day (YYYY-MM-DD)"
    )
    export_.add_argument(
        "--to", dest="end", type=_date, metavar="DATE", help="last UTC day, inclusive"
    )
    export_.add_argument(
        "--person", type=_person_id, metavar="PERSON_ID", help="the index's surrogate person id"
    )
    export_.add_argument("--out", type=Path, metavar="FILE", help="default: standard output")
    export_.add_argument("--config", type=Path, help="YAML settings file")
    export_.set_defaults(run=_export)

    archive = audit.add_parser(
        "archive",
        help="write one UTC day's ledger entries to DIR as a gzip'd JSON-lines archive chained "
        "to the previous day's; never overwrites (exit 0 written, 1 ledger not intact, 2 refused)",
    )
    archive.add_argument("--day", required=True, type=_date, metavar="YYYY-MM-DD")
    archive.add_argument("--out", required=True, type=Path, metavar="DIR")
    archive.add_argument("--config", type=Path, help="YAML settings file")
    archive.set_defaults(run=_archive)

    verify = audit.add_parser(
        "verify-archive",
        help="verify archives given in day order, each on its own and chained to the one before: "
        "exit 0 intact, 1 the first bad file and seq, 2 unreadable; no server or database needed",
    )
    verify.add_argument("files", nargs="+", type=Path, metavar="FILE")
    verify.add_argument(
        "--key",
        action="append",
        metavar="VKEY_STRING_OR_FILE",
        help="a verifier key (<name>+<id>+<key>) or a file holding one: every checkpoint the "
        "archives record must be signed by one of them (repeatable)",
    )
    verify.set_defaults(run=_verify_archive)
