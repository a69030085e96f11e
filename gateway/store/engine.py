"""Engines for SQLite (embedded default) or PostgreSQL, with safe settings.

The hot path uses sync engines (``create_sync_engine_for``) in threads: the group committer's
single writer thread, and a small pool of reader threads for resolving identities. An exchange
then costs one hand-off to a reader and one share of a batch hand-off to the writer, instead of
an event-loop round trip (and thread hop) per statement, which under load is what bounds
throughput (see docs/architecture.md, "Group commit"). The async engine (``create_engine``)
serves everything off the hot path: health checks, the delivery worker, the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


def _prepare(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, full fsync, foreign keys, BEGIN IMMEDIATE.

    ``schema`` (PostgreSQL only) puts every table in that schema, so several areas of a federation,
    or several test runs, can share one database.
    """
    parsed = _prepare(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        _configure_sqlite(engine.sync_engine)
        return engine
    # Plans prepared while the index was small (a new deployment, an import under way) must not
    # outlive its growth: plan every execution for the data as it is (measured: a CIN import fell
    # to a third of its speed by 20,000 children with cached generic plans).
    server_settings = {"plan_cache_mode": "force_custom_plan"}
    if schema is not None:
        server_settings["search_path"] = schema
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    return create_async_engine(
        parsed, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
    )


def create_sync_engine_for(url: str, *, schema: str | None = None, pool_size: int = 1) -> Engine:
    """A sync engine on the same database, for the writer thread or the reader threads.

    Each thread holds one pooled connection, so ``pool_size`` should equal the thread count.
    """
    parsed = _prepare(url)
    backend = parsed.get_backend_name()
    sync_url = parsed.set(drivername=_SYNC_DRIVERS.get(backend, parsed.drivername))
    if backend == "sqlite":
        engine = create_sync_engine(
            sync_url,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    options = "-c plan_cache_mode=force_custom_plan"
    if schema is not None:
        options += f" -c search_path={schema}"
    connect_args: dict[str, Any] = {"options": options}
    return create_sync_engine(
        sync_url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True, connect_args=connect_args
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling cannot do BEGIN IMMEDIATE; take it over, as the
    # SQLAlchemy docs recommend. IMMEDIATE takes the write lock up front, so two processes
    # writing the ledger serialise instead of failing with "database is locked" mid-transaction.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed ledger entry survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")
