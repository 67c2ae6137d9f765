import asyncio
from typing import Self

import strawberry

from gateway.clients import ServiceHealth
from gateway.context import GatewayInfo


@strawberry.type(description="One service behind the graph, as it reports itself.")
class ServiceStatus:
    name: str
    version: str | None = strawberry.field(
        description="From the service's /healthz; null when it did not answer."
    )
    ready: bool = strawberry.field(description="The service's /readyz answered 200.")
    status: str = strawberry.field(
        description='"ok" when the service answered /healthz, "unavailable" when not.'
    )

    @classmethod
    def from_health(cls, health: ServiceHealth) -> Self:
        return cls(
            name=health.name,
            version=health.version,
            ready=health.ready,
            status="ok" if health.alive else "unavailable",
        )


async def resolve_platform(info: GatewayInfo) -> list[ServiceStatus]:
    # A service that does not answer is an entry marked unavailable, never an error for the whole field.
    healths = await asyncio.gather(*(client.health() for client in info.context.services.all()))
    return [ServiceStatus.from_health(health) for health in healths]
