"""Per-request GraphQL context: who is calling, and the services acting as them."""

from typing import TypeAlias

from fastapi import Request
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from crm_common.auth import CurrentPrincipal, Principal
from gateway.clients import ServiceClients


class GatewayContext(BaseContext):
    def __init__(self, principal: Principal, services: ServiceClients) -> None:
        super().__init__()
        self.principal = principal
        self.services = services


GatewayInfo: TypeAlias = Info[GatewayContext, None]


async def graphql_context(request: Request, principal: CurrentPrincipal) -> GatewayContext:
    """FastAPI dependency of the GraphQL endpoint.

    ``CurrentPrincipal`` verifies the bearer token before anything is parsed or executed, so a request
    without a valid one ends here as a 401 problem, not as a GraphQL answer. The token is forwarded to
    the services, which authorize the caller themselves.
    """
    services = ServiceClients.acting_as(request.app.state.service_pools, principal.token)
    return GatewayContext(principal, services)
