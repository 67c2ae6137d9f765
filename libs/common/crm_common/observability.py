"""Request ids, request metrics, body-size limit, and the /healthz, /readyz and /metrics endpoints."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_common.errors import internal_error_response, problem_response
from crm_common.logging import REQUEST_ID_HEADER, bind_request_id, reset_request_id

log = structlog.get_logger(__name__)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RequestMetrics:
    """Per-app Prometheus registry (several apps can share one process in tests)."""

    def __init__(self, service: str):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crm_http_requests_total",
            "HTTP requests by route template, method and status",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crm_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.service = service


def _route_template(app: ASGIApp, scope: Scope) -> str:
    for route in getattr(app, "routes", []):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return "unmatched"


class RequestContextMiddleware:
    """Pure-ASGI middleware: request id in and out, body-size limit, metrics and one access-log line."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get(REQUEST_ID_HEADER.lower()) or uuid.uuid4().hex
        if len(request_id) > 128 or not request_id.isprintable():
            request_id = uuid.uuid4().hex
        token = bind_request_id(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = 1
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited(receive), send_with_id)
        except _BodyTooLarge:
            await self._too_large(scope, receive, send_with_id)
        except Exception as exc:
            # Rendered here rather than by Starlette's outer error middleware so the answer carries
            # the request id. The trace goes to the log only.
            log.exception("unhandled_error", path=scope["path"], error_type=type(exc).__name__)
            if status_holder["started"]:
                raise
            status_holder["status"] = 500
            await internal_error_response(scope["path"])(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            root_app = scope.get("app")
            route = _route_template(root_app, scope) if root_app is not None else "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(
                self.metrics.service, method, route, str(status_holder["status"])
            ).inc()
            self.metrics.latency.labels(self.metrics.service, method, route).observe(elapsed)
            if route not in ("/healthz", "/metrics"):
                log.info(
                    "request",
                    method=method,
                    route=route,
                    status=status_holder["status"],
                    duration_ms=round(elapsed * 1000, 2),
                )
            reset_request_id(token)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        return limited_receive

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "payload-too-large",
            "Payload too large",
            f"The request body is larger than {self.max_body_bytes} bytes.",
            instance=scope["path"],
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class CallbackCollector(Collector):
    """Gauges computed at scrape time (pool usage, outbox lag) from values the app refreshes."""

    def __init__(self, service: str, read: Callable[[], dict[str, float]]):
        self._service = service
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, value in self._read().items():
            gauge = GaugeMetricFamily(f"crm_{name}", name.replace("_", " "), labels=["service"])
            gauge.add_metric([self._service], value)
            yield gauge


class Liveness(BaseModel):
    status: str
    service: str
    version: str


class Readiness(BaseModel):
    status: str
    service: str
    checks: dict[str, bool]


ReadinessCheck = Callable[[], Awaitable[bool]]


def health_router(
    *,
    service: str,
    version: str,
    checks: dict[str, ReadinessCheck],
    metrics: RequestMetrics,
    refresh_gauges: Callable[[], Awaitable[None]] | None = None,
    with_readyz: bool = True,
) -> APIRouter:
    """/healthz, /metrics and, unless ``with_readyz=False`` (an app with its own), /readyz."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> Liveness:
        return Liveness(status="ok", service=service, version=version)

    async def readyz(response: Response) -> Readiness:
        results = {name: await check() for name, check in checks.items()}
        ready = all(results.values())
        if not ready:
            response.status_code = 503
        return Readiness(status="ready" if ready else "unavailable", service=service, checks=results)

    if with_readyz:
        router.add_api_route(
            "/readyz",
            readyz,
            methods=["GET"],
            summary="Ready to serve: 200 only when every dependency is reachable",
            responses={
                503: {"model": Readiness, "description": "A dependency (named in checks) is unreachable"}
            },
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus_metrics(request: Request) -> Response:
        if refresh_gauges is not None:
            await refresh_gauges()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def install_request_context(app: FastAPI, metrics: RequestMetrics, max_body_bytes: int) -> None:
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=max_body_bytes)
