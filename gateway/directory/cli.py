"""``joinedup directory load FILE [--config FILE]``: check a directory file, then load it.

Exit codes: 0 loaded; 2 the file is missing, unreadable or invalid (every problem printed with its
element path and reason; nothing written) or the ledger could not be written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.directory.file import CheckedDirectory, LoadReport, load_directory, read_directory_file
from gateway.errors import Unavailable
from gateway.settings import Settings, load_settings
from gateway.store import migrate
from gateway.store.committer import GroupCommitter
from gateway.store.engine import create_engine, create_sync_engine_for


async def load_into_database(
    checked: CheckedDirectory, settings: Settings, *, by: str = "cli"
) -> LoadReport:
    """Load a checked file into the database ``settings`` names, through a group committer."""
    if settings.auto_migrate:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
    writer = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
    committer = GroupCommitter(writer, max_batch=settings.commit_max_batch)
    await committer.start()
    try:
        return await load_directory(checked, committer, at=datetime.now(UTC), by=by)
    finally:
        await committer.stop()
        writer.dispose()


def _load(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        checked = read_directory_file(path)
    except OSError as exc:
        print(f"{path}: cannot be read ({type(exc).__name__})", file=sys.stderr)
        return 2
    if not checked.valid:
        # SECURITY: problems name element paths and rules, never a value from the file.
        for problem in checked.problems:
            print(f"{path}: {problem.element}: {problem.reason}", file=sys.stderr)
        print(f"{path}: {len(checked.problems)} problem(s); nothing was loaded", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    try:
        report = asyncio.run(load_into_database(checked, settings))
    except Unavailable as exc:
        print(f"{path}: not loaded: {exc.detail}", file=sys.stderr)
        return 2
    print(
        f"{path}: loaded {report.entries} entries for {len(report.organisations)} "
        f"organisation(s) ({', '.join(report.organisations)}); their earlier entries replaced"
    )
    return 0


def register(commands: Any) -> None:
    """Add ``joinedup directory load`` to the ``joinedup`` command."""
    directory = commands.add_parser(
        "directory", help="the directory of organisations, teams, workers and roles"
    ).add_subparsers(dest="directory", required=True)
    load = directory.add_parser(
        "load",
        help="check a directory file, then replace each named organisation's entries with it "
        "(exit 0 loaded, 2 invalid or not written: nothing loaded)",
    )
    load.add_argument("file", metavar="FILE")
    load.add_argument("--config", type=Path, help="YAML settings file")
    load.set_defaults(run=_load)
