"""The GraphQL endpoint, /graphql, after the GraphQL-over-HTTP spec.

- ``POST`` with ``application/json``: one operation, or a JSON array of up to
  ``CRM_GATEWAY_MAX_BATCH_OPERATIONS`` (a longer one is refused whole with 400 before anything runs).
- ``GET ?query=&variables=&operationName=&extensions=`` (or ``documentId=``): queries only; a
  mutation over GET is 405 with ``Allow: POST``. In dev, a GET with ``Accept: text/html`` and no
  operation is GraphiQL, without a token.
- Either method with ``Accept: text/event-stream``: the operation (a subscription, typically) as a
  graphql-sse stream in "distinct connections" mode: ``event: next`` per result, ``event: complete``.
- A WebSocket with the ``graphql-transport-ws`` subprotocol: the token in ``connection_init``'s
  payload (``{"Authorization": "Bearer ..."}``); missing or invalid closes the socket with 4403.
- Every HTTP request needs a bearer token (401 problem otherwise), GraphiQL in dev excepted.

Answers are ``application/graphql-response+json`` when the client accepts it (preferred over
``application/json`` at equal weight), else ``application/json``. With the former, a request that
fails before execution (a document that does not parse or validate, variables that do not fit, an
unknown persisted query) is HTTP 400 with ``{"errors": [...]}`` and no ``data``; with the latter it
is 200, as legacy clients expect. An execution, even a partly failed one, is always 200.
Persisted queries and the allow-list mode: see :mod:`gateway.persisted`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

import jwt
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import MissingQueryError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from crm_common.auth import current_principal
from crm_common.errors import NotFound, Unauthorized, problem_responses
from gateway.context import GatewayContext, graphql_context, websocket_context
from gateway.persisted import PersistedQueries, PersistedQueryError
from gateway.schema import build_schema
from gateway.settings import GatewaySettings

PATH = "/graphql"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LEGACY_JSON = "application/json"
WS_FORBIDDEN = 4403

_bearer = HTTPBearer(auto_error=False, description="A platform JWT: `crm token --role admin` in dev.")

# The media type the current HTTP request's answer is written in (set per request by ``run``).
_response_media_type: ContextVar[str] = ContextVar("graphql_response_media_type", default=LEGACY_JSON)


def response_media_type(accept: str | None) -> str:
    """``application/graphql-response+json`` when ``accept`` takes it at least as readily as
    ``application/json``; ``application/json`` otherwise, including without an Accept header."""
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = part.split(";")
        weight = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        key = media.strip().lower()
        weights[key] = max(weights.get(key, 0.0), weight)
    preferred = weights.get(GRAPHQL_RESPONSE_JSON, 0.0)
    return (
        GRAPHQL_RESPONSE_JSON if preferred > 0 and preferred >= weights.get(LEGACY_JSON, 0.0) else LEGACY_JSON
    )


class GraphQLRequestError(Exception):
    """The request is refused before any operation runs; answered as ``{"errors": [...]}``.

    ``status`` None applies the spec's rule for request errors: 400 under
    ``application/graphql-response+json``, 200 under ``application/json``.
    """

    def __init__(
        self, code: str, message: str, status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})


def _is_request_error(response: GraphQLHTTPResponse) -> bool:
    """No data and only errors about the request itself (none at a field, none of ours)."""
    errors = cast(list[dict[str, Any]], response.get("errors") or [])
    return (
        response.get("data") is None
        and bool(errors)
        and all(
            not error.get("path") and (error.get("extensions") or {}).get("code") != "INTERNAL"
            for error in errors
        )
    )


def _persisted_error(exc: PersistedQueryError) -> GraphQLRequestError:
    return GraphQLRequestError(exc.code.value, exc.message, exc.status)


class GatewayTransportWSHandler(BaseGraphQLTransportWSHandler[GatewayContext, None]):
    """graphql-transport-ws with the token in ``connection_init`` and persisted queries.

    The context is made when ``connection_init`` brings a valid token (until then the protocol
    refuses every subscribe with 4401); the socket is closed with 4403 when the token is missing,
    invalid, or expires while the connection is open.
    """

    view: GatewayGraphQLRouter
    _expiry: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if isinstance(payload, dict) and not self.connection_init_received and not self.connection_timed_out:
            websocket = cast(ASGIWebSocketAdapter, self.websocket).ws
            try:
                self.context = websocket_context(websocket, payload)
            except Unauthorized as exc:
                self.connection_init_received = True
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=WS_FORBIDDEN, reason=f"Forbidden: {exc.detail}"[:120])
                return
            self._close_when_token_expires(self.context.principal.token)
            message = {**message, "payload": payload}
        await super().handle_connection_init(message)

    def _close_when_token_expires(self, token: str) -> None:
        # Verified already; only its expiry is read here.
        expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if not isinstance(expires, int | float):
            return

        async def close_at_expiry() -> None:
            await asyncio.sleep(max(0.0, expires - datetime.now(UTC).timestamp()))
            with contextlib.suppress(Exception):  # the client may have gone in the meantime
                await self.websocket.close(code=WS_FORBIDDEN, reason="Forbidden: the token has expired.")

        self._expiry = asyncio.create_task(close_at_expiry())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:  # before that, the protocol's own 4401
            payload: dict[str, Any] = dict(message.get("payload") or {})
            try:
                query = self.view.persisted.resolve(
                    payload.get("query"), payload.get("extensions"), payload.get("documentId")
                )
            except PersistedQueryError as exc:
                await self.send_message(
                    {
                        "id": message["id"],
                        "type": "error",
                        "payload": [{"message": exc.message, "extensions": {"code": exc.code.value}}],
                    }
                )
                return
            payload["query"] = query
            message = cast(SubscribeMessage, {**message, "payload": payload})
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await super().shutdown()


class GatewayGraphQLRouter(GraphQLRouter[GatewayContext, None]):
    """Strawberry's FastAPI router with the gateway's HTTP rules (see the module docstring)."""

    graphql_transport_ws_handler_class = GatewayTransportWSHandler

    def __init__(self, schema: BaseSchema, *, settings: GatewaySettings, persisted: PersistedQueries) -> None:
        super().__init__(
            schema,
            path=PATH,
            context_getter=graphql_context,
            graphql_ide=None,  # served by handle_get, before any token check
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
            responses=problem_responses(401),
        )
        self.persisted = persisted
        self.max_batch_operations = settings.max_batch_operations
        self.serves_graphiql = settings.is_dev
        # Strawberry's GET resolves the token before it could serve GraphiQL, and its WebSocket
        # route would run the HTTP context (which reads an Authorization header) on the handshake.
        self.routes[:] = [
            route
            for route in self.routes
            if not isinstance(route, APIWebSocketRoute)
            and not (isinstance(route, APIRoute) and "GET" in (route.methods or ()))
        ]
        self.add_api_route(
            PATH,
            self.handle_get,
            methods=["GET"],
            summary="Run a query (or a persisted one) from the URL",
            responses=problem_responses(401),
        )
        self.add_api_websocket_route(PATH, self.handle_websocket)

    def should_render_graphql_ide(self, request: Any) -> bool:
        return False  # handle_get decides

    @staticmethod
    def _asks_for_graphiql(request: Request) -> bool:
        params = request.query_params
        return "text/html" in request.headers.get("accept", "") and not any(
            name in params for name in ("query", "extensions", "documentId")
        )

    async def handle_get(
        self,
        request: Request,
        response: Response,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Response:
        if self._asks_for_graphiql(request):
            if self.serves_graphiql:
                # The page needs no token (a browser cannot send one); set it in GraphiQL's headers tab.
                return HTMLResponse(get_graphql_ide_html("graphiql"))
            await current_principal(request, credentials)
            raise NotFound("GraphiQL is served in dev only.")
        context = await graphql_context(request, await current_principal(request, credentials))
        context.request = request
        context.response = response
        self.temporal_response = response
        return await self.run(request, context=context, root_value=None)

    async def handle_websocket(self, websocket: WebSocket) -> None:
        # No context yet: GatewayTransportWSHandler makes it from connection_init's token.
        await self.run(websocket, context=cast(GatewayContext, None), root_value=None)

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        if self.is_websocket_request(request):
            return await super().run(request, context=context, root_value=root_value)
        token = _response_media_type.set(response_media_type(request.headers.get("accept")))
        try:
            return await super().run(request, context=context, root_value=root_value)
        except GraphQLRequestError as exc:
            return self._error_response(exc)
        except HTTPException as exc:  # strawberry's own refusals (unparsable JSON, unknown content type)
            return self._error_response(GraphQLRequestError("BAD_REQUEST", exc.reason, exc.status_code))
        finally:
            _response_media_type.reset(token)

    def _error_response(self, exc: GraphQLRequestError) -> Response:
        media_type = _response_media_type.get()
        status = exc.status or (400 if media_type == GRAPHQL_RESPONSE_JSON else 200)
        body = {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}
        return Response(
            self.encode_json(body), status_code=status, media_type=media_type, headers=exc.headers
        )

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        media_type = _response_media_type.get()
        status = sub_response.status_code or 200
        if (
            media_type == GRAPHQL_RESPONSE_JSON
            and isinstance(response_data, dict)
            and _is_request_error(response_data)
        ):
            response_data = cast(GraphQLHTTPResponse, {k: v for k, v in response_data.items() if k != "data"})
            status = 400
        response = Response(self.encode_json(response_data), media_type=media_type, status_code=status)
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        operations = parsed if isinstance(parsed, list) else [parsed]
        for index, operation in enumerate(operations):
            document_id = None
            if operation.query is None and "persistedQuery" not in (operation.extensions or {}):
                document_id = await self._document_id(request, index, batch=isinstance(parsed, list))
            try:
                operation.query = self.persisted.resolve(operation.query, operation.extensions, document_id)
            except PersistedQueryError as exc:
                raise _persisted_error(exc) from exc
        return parsed

    async def _document_id(self, request: AsyncHTTPRequestAdapter, index: int, *, batch: bool) -> Any:
        """The ``documentId`` of an operation (strawberry's parsed request does not keep it)."""
        if request.method == "GET":
            return request.query_params.get("documentId")
        body = self.parse_json(await request.get_body())
        operation = body[index] if batch else body
        return operation.get("documentId") if isinstance(operation, dict) else None

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise GraphQLRequestError("BAD_REQUEST", "The body must be a JSON object or array.", 400)
        return parsed

    def _validate_batch_request(
        self, request_data: list[GraphQLRequestData], protocol: GraphQLRequestProtocol
    ) -> None:
        if protocol != "http":
            raise GraphQLRequestError("BAD_REQUEST", "A stream carries one operation, not a batch.", 400)
        if not request_data or len(request_data) > self.max_batch_operations:
            raise GraphQLRequestError(
                "BATCH_LIMIT_EXCEEDED",
                f"A batch carries 1 to {self.max_batch_operations} operations; this one has "
                f"{len(request_data)}. Nothing was run.",
                400,
            )
        if not all(isinstance(operation, dict) for operation in request_data):
            raise GraphQLRequestError("BAD_REQUEST", "Each operation of a batch is a JSON object.", 400)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GatewayContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # GET runs queries only (it must be safe to repeat and to cache); POST queries and mutations.
        # Subscriptions need a stream: a WebSocket, or Accept: text/event-stream.
        method = request_adapter.method
        allowed = {OperationType.QUERY} if method == "GET" else {OperationType.QUERY, OperationType.MUTATION}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.MUTATION:
                raise GraphQLRequestError(
                    "METHOD_NOT_ALLOWED", "Mutations are sent with POST.", 405, headers={"Allow": "POST"}
                ) from exc
            raise GraphQLRequestError(
                "BAD_REQUEST",
                "Subscriptions run over a WebSocket (graphql-transport-ws) or with "
                "Accept: text/event-stream.",
                400,
            ) from exc
        except CannotGetOperationTypeError as exc:
            raise GraphQLRequestError("BAD_REQUEST", exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise GraphQLRequestError("BAD_REQUEST", "No GraphQL query found in the request.", 400) from exc


def graphql_router(settings: GatewaySettings) -> APIRouter:
    """The /graphql routes; reads the persisted-query map (once, at start-up)."""
    persisted = PersistedQueries.load(settings.persisted_queries_path, only=settings.persisted_queries_only)
    schema = build_schema(introspection=settings.is_dev, max_batch_operations=settings.max_batch_operations)
    router = APIRouter(tags=["graphql"])
    router.include_router(GatewayGraphQLRouter(schema, settings=settings, persisted=persisted))
    return router


__all__: Sequence[str] = ["PATH", "GatewayGraphQLRouter", "graphql_router", "response_media_type"]
