"""/healthz, /readyz and /metrics for the gateway.

The gateway has no database: it is ready when it can serve, i.e. while its lifespan holds the pools to
the services. Whether each service is ready is reported in the body for information only: one service
down degrades some fields, it must not take the whole graph out of a load balancer.
"""

import asyncio

import httpx
from fastapi import APIRouter, Request, Response
from pydantic import Field

from crm_common.observability import Readiness, RequestMetrics, health_router
from gateway.clients import ServiceClients

SERVICE_NAME = "gateway"

# Probes of the services must stay well inside a load balancer's own readiness timeout (often 1 s).
SERVICE_PROBE_TIMEOUT_SECONDS = 0.5


class GatewayReadiness(Readiness):
    services: dict[str, bool] = Field(
        default_factory=dict,
        description="Each service's own /readyz, for information; it does not gate this one.",
    )


def _pools_open(request: Request) -> bool:
    pools: dict[str, httpx.AsyncClient] | None = getattr(request.app.state, "service_pools", None)
    return pools is not None and all(not pool.is_closed for pool in pools.values())


async def readyz(request: Request, response: Response) -> GatewayReadiness:
    if not _pools_open(request):
        response.status_code = 503
        return GatewayReadiness(status="unavailable", service=SERVICE_NAME, checks={"service_pools": False})
    clients = ServiceClients.acting_as(request.app.state.service_pools, token=None).all()
    ready = await asyncio.gather(
        *(client.is_ready(timeout=SERVICE_PROBE_TIMEOUT_SECONDS) for client in clients)
    )
    return GatewayReadiness(
        status="ready",
        service=SERVICE_NAME,
        checks={"service_pools": True},
        services={client.service: is_ready for client, is_ready in zip(clients, ready, strict=True)},
    )


def operations_router(*, version: str, metrics: RequestMetrics) -> APIRouter:
    # The common /readyz turns 503 when any check fails; the gateway's own reports the services
    # without gating on them (see the module docstring).
    router = health_router(
        service=SERVICE_NAME, version=version, checks={}, metrics=metrics, with_readyz=False
    )
    router.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        summary="Ready to serve; the services' readiness is reported, not required",
        responses={503: {"model": GatewayReadiness, "description": "The gateway is starting or stopping"}},
    )
    return router
