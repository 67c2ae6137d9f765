"""Builds a REST service's FastAPI app the same way for every service.

A service's ``main.create_app()`` calls :func:`create_service_app` with its settings, metadata and
routers; the lifespan creates the engine, session factory, token signer and NATS connection (for
readiness), and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import structlog
from fastapi import APIRouter, FastAPI
from nats.aio.client import Client as NATS
from sqlalchemy import MetaData

from crm_common.auth import TokenSigner
from crm_common.db import create_engine, database_reachable, pool_status, session_factory
from crm_common.errors import install_error_handlers, problem_responses
from crm_common.events.bus import connect_nats_with_retry
from crm_common.events.relay import outbox_lag
from crm_common.logging import configure_logging
from crm_common.observability import CallbackCollector, RequestMetrics, health_router, install_request_context
from crm_common.settings import ServiceSettings

log = structlog.get_logger(__name__)

ExtraLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    settings: ServiceSettings,
    metadata: MetaData,
    routers: Sequence[APIRouter],
    title: str,
    description: str,
    version: str,
    extra_lifespan: ExtraLifespan | None = None,
) -> FastAPI:
    metrics = RequestMetrics(settings.service_name)
    gauges: dict[str, float] = {}
    metrics.registry.register(CallbackCollector(settings.service_name, lambda: dict(gauges)))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        engine = create_engine(
            settings.async_database_url(),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            application_name=settings.service_name,
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.token_signer = TokenSigner(settings.jwt_secret, settings.jwt_issuer)
        app.state.nats = None
        stop = asyncio.Event()

        async def keep_nats() -> None:
            app.state.nats = await connect_nats_with_retry(settings.nats_url, settings.service_name, stop)

        nats_task = asyncio.create_task(keep_nats())
        try:
            if extra_lifespan is not None:
                async with extra_lifespan(app):
                    yield
            else:
                yield
        finally:
            stop.set()
            nats_task.cancel()
            nc: NATS | None = app.state.nats
            if nc is not None:
                await nc.close()
            await engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        responses=problem_responses(422),
    )
    # Common request helpers (idempotency keys, rate limits) find the service's tables here.
    app.state.metadata = metadata
    install_error_handlers(app)
    install_request_context(app, metrics, settings.max_body_bytes)

    async def db_ready() -> bool:
        return await database_reachable(app.state.engine)

    async def nats_ready() -> bool:
        nc: NATS | None = app.state.nats
        return nc is not None and nc.is_connected

    async def refresh_gauges() -> None:
        engine = app.state.engine
        for key, value in pool_status(engine).items():
            gauges[f"db_pool_{key}"] = value
        try:
            pending, oldest_age = await outbox_lag(engine, metadata)
            gauges["outbox_pending_events"] = pending
            gauges["outbox_oldest_pending_age_seconds"] = oldest_age
        except Exception as exc:  # the database may be the thing that is down
            log.warning("outbox_lag_unavailable", error=str(exc))

    app.include_router(
        health_router(
            service=settings.service_name,
            version=version,
            checks={"database": db_ready, "nats": nats_ready},
            metrics=metrics,
            refresh_gauges=refresh_gauges,
        )
    )
    for router in routers:
        app.include_router(router)
    return app
