"""Alembic migrations: they create exactly the tables the code declares, and go down cleanly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from gateway.store.engine import create_engine
from gateway.store.migrate import downgrade, upgrade
from gateway.store.tables import metadata
from tests.conftest import Database


def _diff(sync: Connection) -> list[Any]:
    context = MigrationContext.configure(sync, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_match_the_declared_tables(database: Database) -> None:
    """After upgrade to head, autogenerate finds no difference from gateway.store.tables."""
    engine = create_engine(database.url, schema=database.schema)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert [] == await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_downgrade_to_base_removes_every_table(database: Database) -> None:
    """Downgrading to base leaves only Alembic's own version table."""
    engine = create_engine(database.url, schema=database.schema)
    try:
        await upgrade(engine)
        await downgrade(engine, "base")
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert ["alembic_version"] == sorted(names)
    finally:
        await engine.dispose()
