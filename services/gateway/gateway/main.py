import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx
from fastapi import FastAPI

from crm_common.auth import TokenSigner
from crm_common.errors import install_error_handlers
from crm_common.logging import configure_logging
from crm_common.observability import RequestMetrics, install_request_context
from gateway import VERSION
from gateway.clients import open_service_pools
from gateway.endpoint import graphql_router
from gateway.live import LIVE_SUBJECTS, LiveEvents
from gateway.operations import SERVICE_NAME, operations_router
from gateway.settings import GatewaySettings


def create_app(
    settings: GatewaySettings | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """The gateway app. ``transports`` routes a service's client elsewhere (tests: an in-process app)."""
    settings = settings or GatewaySettings()
    metrics = RequestMetrics(SERVICE_NAME)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(SERVICE_NAME, settings.log_level, settings.log_json)
        app.state.settings = settings
        app.state.token_signer = TokenSigner(settings.jwt_secret, settings.jwt_issuer)
        async with open_service_pools(
            settings.service_urls(), timeout=settings.service_timeout_seconds, transports=transports
        ) as pools:
            app.state.service_pools = pools
            # Connects in the background: queries are served while NATS is down, subscriptions fail.
            live = LiveEvents(
                settings.nats_url,
                LIVE_SUBJECTS,
                queue_size=settings.live_queue_size,
                reconnect_seconds=settings.nats_reconnect_seconds,
            )
            live.start()
            app.state.live_events = live
            try:
                yield
            finally:
                await live.close()

    app = FastAPI(
        title="CRM GraphQL gateway",
        description="One customer-centric graph over identity, campaign and feedback.",
        version=VERSION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_request_context(app, metrics, settings.max_body_bytes)
    app.include_router(operations_router(version=VERSION, metrics=metrics))
    app.include_router(graphql_router(settings))
    return app
