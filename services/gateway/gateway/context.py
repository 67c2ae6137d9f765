"""Per-request GraphQL context: who is calling, and the services acting as them."""

from collections.abc import Mapping
from typing import Any, TypeAlias

from fastapi import Request
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from crm_common.auth import CurrentPrincipal, Principal, TokenSigner
from crm_common.errors import Unauthorized
from gateway.clients import ServiceClients
from gateway.live import LiveEvents
from gateway.loaders import Loaders


class GatewayContext(BaseContext):
    def __init__(
        self, principal: Principal, services: ServiceClients, live: LiveEvents | None = None
    ) -> None:
        super().__init__()
        self.principal = principal
        self.services = services
        # One set per request: a loader's cache holds what this caller may see.
        self.loaders = Loaders(principal)
        # The process's NATS fan-out for subscriptions; None when the app runs without one.
        self.live = live


GatewayInfo: TypeAlias = Info[GatewayContext, None]


def _context_for(connection: HTTPConnection, principal: Principal) -> GatewayContext:
    state = connection.app.state
    services = ServiceClients.acting_as(state.service_pools, principal.token)
    return GatewayContext(principal, services, live=getattr(state, "live_events", None))


async def graphql_context(request: Request, principal: CurrentPrincipal) -> GatewayContext:
    """FastAPI dependency of the GraphQL endpoint (POST, GET and SSE streams).

    ``CurrentPrincipal`` verifies the bearer token before anything is parsed or executed, so a request
    without a valid one ends here as a 401 problem, not as a GraphQL answer. The token is forwarded to
    the services, which authorize the caller themselves.
    """
    return _context_for(request, principal)


# Keys of the connection_init payload that may carry the token, as GraphQL clients send it.
TOKEN_KEYS = ("Authorization", "authorization", "token")


def token_from_connection_params(params: Mapping[str, Any]) -> str:
    """The bearer token of a graphql-transport-ws ``connection_init`` payload.

    ``{"Authorization": "Bearer <jwt>"}`` (any case of the key), or ``{"token": "<jwt>"}``.
    """
    for key in TOKEN_KEYS:
        value = params.get(key)
        if not isinstance(value, str):
            continue
        scheme, _, credentials = value.strip().partition(" ")
        if key == "token" and not credentials:
            return scheme
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    raise Unauthorized('Send the bearer token in connection_init: {"Authorization": "Bearer ..."}.')


def websocket_context(websocket: WebSocket, connection_params: Mapping[str, Any]) -> GatewayContext:
    """The context of one WebSocket connection, once its ``connection_init`` arrived.

    A browser cannot set headers on a WebSocket, so the token comes in the payload, verified like a
    header's. Raises :class:`Unauthorized` when it is missing or not valid. The context (and its
    loaders) lives as long as the connection.
    """
    signer: TokenSigner = websocket.app.state.token_signer
    principal = signer.verify(token_from_connection_params(connection_params))
    context = _context_for(websocket, principal)
    context.request = websocket
    context.connection_params = dict(connection_params)
    return context
