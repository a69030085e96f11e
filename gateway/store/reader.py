"""Reader threads: run a function of a sync connection off the event loop, in one hand-off."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")


class Reader:
    """A few threads, each with its own pooled connection, for the hot path's reads."""

    def __init__(self, engine: Engine, threads: int) -> None:
        self._engine = engine
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="index-reader")

    def _call(self, fn: Callable[[Connection], T]) -> T:
        with self._engine.connect() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` with a read connection in a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn)

    def close(self) -> None:
        """Stop the threads and close their connections."""
        self._pool.shutdown(wait=True)
        self._engine.dispose()
