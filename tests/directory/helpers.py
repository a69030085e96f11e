"""Shared pieces of the directory tests: a clock the test sets, a small valid file, the CLI."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli import main
from gateway.store.tables import directory_entries, ledger
from tests.conftest import REPO, Database

DEMO_DIRECTORY = REPO / "deploy" / "demo" / "directory.yaml"


SMALL: dict[str, Any] = {
    "organisations": [
        {
            "code": "999",
            "kind": "local-authority",
            "name": "Demo Council Children's Social Care",
            "telecom": [{"system": "phone", "value": "01632 960700"}],
            "teams": [
                {
                    "id": "mash",
                    "name": "Northtown MASH",
                    "telecom": [{"system": "phone", "value": "01632 960750"}],
                    "out_of_hours": [{"system": "phone", "value": "01632 960800"}],
                }
            ],
            "workers": [
                {
                    "id": "C-1",
                    "name": {"given": ["Ruth"], "family": "Adeyemi"},
                    "registration": "SW104233",
                    "telecom": [{"system": "email", "value": "ruth.adeyemi@council999.example"}],
                }
            ],
            "roles": [
                {"role": "front-door", "team": "mash"},
                {"role": "team-manager", "worker": "C-1"},
            ],
        }
    ]
}


def small() -> dict[str, Any]:
    """A fresh copy of the small valid file, to vary."""
    return copy.deepcopy(SMALL)


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def config_for(database: Database, directory: Path) -> Path:
    """A settings file pointing the CLI at the test database."""
    values: dict[str, Any] = {"database_url": database.url}
    if database.schema is not None:
        values["database_schema"] = database.schema
    return write_yaml(directory / "config.yaml", values)


async def cli(*argv: str) -> int:
    """Run ``joinedup`` in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(main, list(argv))


async def stored(engine: AsyncEngine) -> list[tuple[str, str, str, str, str]]:
    """Every directory row: organisation, role, key, source, details (ordered)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                directory_entries.c.organisation,
                directory_entries.c.role,
                directory_entries.c.entry_key,
                directory_entries.c.source,
                directory_entries.c.details,
            ).order_by(
                directory_entries.c.organisation,
                directory_entries.c.role,
                directory_entries.c.entry_key,
            )
        )
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


async def ledger_entries(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
        return [orjson.loads(r[0]) for r in rows]
