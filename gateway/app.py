"""``create_app``: the one wiring function.

Registers typed app keys, ``cleanup_ctx`` resources (database engine and migrations, the group
committer, the seed, the HTTP client and the delivery worker), routes and middlewares — in that
order. Composition only: the application is a plain ``web.Application``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from adapters.base import Adapter
from adapters.registry import default_adapters
from gateway.appkeys import DELIVERY, METRICS, SERVICES, SETTINGS
from gateway.audit.checkpoints import Checkpointer, signer_for, verifiers_for
from gateway.delivery import DeliveryWorker
from gateway.directory import routes as directory_routes
from gateway.directory.startup import load_directory_at_startup
from gateway.metrics import Metrics
from gateway.middlewares import conventions, error_rendering, request_context
from gateway.policy.agreements import load_agreements
from gateway.review import routes as review
from gateway.routes import lookup, messages, oauth, ops, receipts
from gateway.seed import load_seed
from gateway.services import Services
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.committer import GroupCommitter
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.reader import Reader
from gateway.workcal import Clock, system_clock
from gateway.workflows import access, escalation

log = structlog.get_logger(__name__)


async def _checkpointer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Signs checkpoints of the ledger's tree: every ``checkpoint_entries`` entries or
    ``checkpoint_seconds``, on demand for receipts, and once more at shutdown."""
    settings, services = app[SETTINGS], app[SERVICES]
    signer = signer_for(settings.ledger)
    checkpointer = Checkpointer(
        services.engine,
        settings.ledger,
        signer,
        verifiers_for(settings.ledger, signer),
        services.committer,
    )
    app[receipts.CHECKPOINTER] = checkpointer
    services.committer.on_commit(checkpointer.committed)
    await checkpointer.start()
    try:
        yield
    finally:
        await checkpointer.stop()


def create_app(  # noqa: PLR0915 - the one wiring function: every resource and route
    settings: Settings,
    *,
    adapters: dict[str, Adapter] | None = None,
    clock: Clock = system_clock,
) -> web.Application:
    """Build the gateway application for ``settings``."""
    # Agreements and adapters are checked now, so a bad agreement stops start-up, not a request.
    agreements = load_agreements(settings.agreements_dir)
    chosen = (
        adapters
        if adapters is not None
        else default_adapters(validate_fhir_models=settings.validate_fhir_models)
    )

    app = web.Application(
        middlewares=[request_context, error_rendering, *conventions(settings)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        if settings.auto_migrate:
            await migrate.upgrade(engine)
        writer = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
        committer = GroupCommitter(writer, max_batch=settings.commit_max_batch)
        await committer.start()
        reader = Reader(
            create_sync_engine_for(
                settings.database_url,
                schema=settings.database_schema,
                pool_size=settings.reader_threads,
            ),
            settings.reader_threads,
        )
        app[SERVICES] = Services(
            settings, engine, committer, reader, agreements, chosen, clock=clock
        )
        log.info("gateway_started", agreements=len(agreements), partners=len(settings.partners))
        try:
            if settings.seed_file is not None:
                await load_seed(settings.seed_file, app[SERVICES])
            await load_directory_at_startup(settings.directory_file, app[SERVICES])
            # Everything allocated so far (modules, models, schemas) lives as long as the process:
            # move it out of the collector's reach so full collections stay short (they were
            # 60-80 ms pauses under load, the whole of the p99; see benchmarks/).
            gc.collect()
            gc.freeze()
            yield
        finally:
            await committer.stop()
            reader.close()
            writer.dispose()
            await engine.dispose()

    async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            worker = DeliveryWorker(app[SERVICES], session, app[METRICS])
            app[DELIVERY] = worker
            if settings.delivery.enabled:
                await worker.start()
            try:
                yield
            finally:
                await worker.stop()

    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(_checkpointer_ctx)
    app.cleanup_ctx.append(delivery_ctx)
    app.cleanup_ctx.append(escalation.escalation_ctx)  # unacknowledged referrals (issue 7)
    oauth.add_routes(app)  # the token endpoint; loads the keys that authenticate every API call
    messages.add_routes(app)
    lookup.add_routes(app)
    access.add_routes(app)  # a child's protection status, and who looked (issue 7)
    directory_routes.add_routes(app)  # the directory door (issue 7)
    ops.add_routes(app)
    review.add_routes(app)  # the IG review pages, under /review/
    receipts.add_routes(app)
    return app
