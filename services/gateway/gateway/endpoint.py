"""The GraphQL endpoint: POST /graphql with a bearer token, and GraphiQL on GET in dev."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.routing import APIWebSocketRoute
from strawberry.fastapi import GraphQLRouter
from strawberry.http.ides import get_graphql_ide_html

from crm_common.errors import problem_responses
from gateway.context import graphql_context
from gateway.schema import build_schema
from gateway.settings import GatewaySettings

PATH = "/graphql"


async def graphiql() -> HTMLResponse:
    # The page itself needs no token (a browser cannot send one); set it in GraphiQL's headers tab.
    return HTMLResponse(get_graphql_ide_html("graphiql"))


def graphql_router(settings: GatewaySettings) -> APIRouter:
    router = APIRouter(tags=["graphql"])
    if settings.is_dev:
        # Registered before strawberry's routes so it answers GET: strawberry's own IDE route would
        # run the context (and its token check) first.
        router.add_api_route(PATH, graphiql, methods=["GET"], include_in_schema=False)
    strawberry_router: GraphQLRouter = GraphQLRouter(
        build_schema(introspection=settings.is_dev),
        path=PATH,
        context_getter=graphql_context,
        graphql_ide=None,
        # Queries over POST only: GET would put them (and their ids) in URLs and access logs.
        allow_queries_via_get=False,
        subscription_protocols=(),
        responses=problem_responses(401),
    )
    # No subscriptions in the graph, so no WebSocket endpoint: strawberry's would run the context's
    # token check, which reads an HTTP request, and fail with a trace on every handshake.
    strawberry_router.routes[:] = [
        route for route in strawberry_router.routes if not isinstance(route, APIWebSocketRoute)
    ]
    router.include_router(strawberry_router)
    return router
