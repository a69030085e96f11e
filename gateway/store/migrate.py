"""Run Alembic migrations on the gateway's own async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest)."""
    async with engine.connect() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))
        await conn.commit()


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the database back to ``revision`` (``base`` drops everything)."""
    async with engine.connect() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_config(sync), revision))
        await conn.commit()
