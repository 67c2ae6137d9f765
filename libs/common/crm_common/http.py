"""httpx clients for service-to-service calls: timeouts, pooled connections, request id propagated."""

from __future__ import annotations

import httpx

from crm_common.logging import REQUEST_ID_HEADER, current_request_id


async def _propagate_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id


def service_client(
    base_url: str,
    *,
    timeout: float = 2.0,
    max_connections: int = 100,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A pooled client for one downstream service. Create it in the lifespan, close it on shutdown.

    ``transport`` routes the client elsewhere, e.g. to an in-process app in tests.
    """
    return httpx.AsyncClient(
        transport=transport,
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        event_hooks={"request": [_propagate_request_id]},
    )
