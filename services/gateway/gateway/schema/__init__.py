"""The graph: a customer at the centre, with what identity, campaign and feedback know of them."""

from collections.abc import Callable
from functools import partial

from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig

from gateway.schema.budget import MAX_TOKENS, VALIDATION_CACHE_SIZE, DocumentSizeLimit, QueryBudget
from gateway.schema.errors import GatewaySchema, MaskUnexpectedErrors
from gateway.schema.mutation import Mutation
from gateway.schema.query import Query
from gateway.schema.subscriptions import Subscription


def build_schema(*, introspection: bool, max_batch_operations: int = 10) -> GatewaySchema:
    # Factories, not instances: strawberry gives each request its own extension objects, which hold
    # that request's execution context.
    extensions: list[Callable[[], SchemaExtension]] = [
        # Before the parser: a document too long is refused unread.
        DocumentSizeLimit,
        # Parsed documents are kept per query text (after the token limit let them through once).
        partial(ParserCache, maxsize=VALIDATION_CACHE_SIZE),
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    # Last among the validators: depth, aliases and size (fragments expanded, before any rule walks the
    # document), the rules the others added, then the cost limit.
    extensions += [QueryBudget, MaskUnexpectedErrors]
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        # The endpoint refuses a longer batch itself, with a GraphQL error; this switches batching on.
        config=StrawberryConfig(batching_config={"max_operations": max_batch_operations}),
    )


__all__ = ["Mutation", "Query", "Subscription", "build_schema"]
