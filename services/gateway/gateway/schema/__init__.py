"""The graph. For now: the platform's services, and a customer joined across identity and campaign."""

from collections.abc import Callable
from functools import partial

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from gateway.schema.customers import AudienceMember, Customer, resolve_customer
from gateway.schema.errors import GatewaySchema, MaskUnexpectedErrors
from gateway.schema.platform import ServiceStatus, resolve_platform

# Every aliased field can become a call to a service: bound what one request may fan out to.
MAX_ALIASES = 20
MAX_DEPTH = 10
MAX_TOKENS = 2_000


@strawberry.type
class Query:
    platform: list[ServiceStatus] = strawberry.field(
        resolver=resolve_platform,
        description="The services behind the graph; one that does not answer is listed.",
    )
    customer: Customer | None = strawberry.field(
        resolver=resolve_customer,
        description="Null when identity knows no such customer; an error when the caller may not read it.",
    )


def build_schema(*, introspection: bool) -> strawberry.Schema:
    # Factories, not instances: strawberry gives each request its own extension objects, which hold
    # that request's execution context.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
        partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
        MaskUnexpectedErrors,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return GatewaySchema(query=Query, extensions=extensions)


__all__ = ["AudienceMember", "Customer", "Query", "ServiceStatus", "build_schema"]
