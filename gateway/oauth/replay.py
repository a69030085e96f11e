"""The client-assertion replay register: every ``jti`` a client has used, while it could be valid.

The ``oauth_jtis`` table's primary key (client, jti) makes a second insert fail, in one statement,
so every gateway process sharing the database agrees on which request used a jti first. Rows whose
assertion has expired are purged as new ones arrive: an expired assertion is refused as
``expired`` before its jti is looked at, so forgetting it then is safe.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.oauth.assertion import CLOCK_SKEW_SECONDS
from gateway.store.tables import oauth_jtis


class JtiRegister:
    """``remember(client_id, jti, exp)``: True the first time, False for a replay."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def __call__(self, client_id: str, jti: str, exp: float) -> bool:
        """Record the jti until the assertion's expiry; False if it was already recorded."""
        now = datetime.now(UTC)
        expires_at = datetime.fromtimestamp(exp, UTC)
        try:
            async with self._engine.connect() as raw:
                conn = await raw.execution_options(write=True)
                async with conn.begin():
                    # Kept a clock skew past expiry: an assertion is still refused as expired
                    # until then by every process, whatever its clock.
                    await conn.execute(
                        delete(oauth_jtis).where(
                            oauth_jtis.c.expires_at < now - timedelta(seconds=CLOCK_SKEW_SECONDS)
                        )
                    )
                    await conn.execute(
                        insert(oauth_jtis).values(
                            client_id=client_id, jti=jti, expires_at=expires_at
                        )
                    )
        except IntegrityError:
            return False
        return True
