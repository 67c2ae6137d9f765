"""Building blocks every part of the graph uses: types read from a service, connections, write results.

``@from_service`` lets a strawberry type be validated straight from a service's JSON: the gateway
checks every answer against the type it exposes (a service answering with the wrong shape becomes a
``BAD_RESPONSE`` error on that field), without a second, hand-copied model per type.
"""

import dataclasses
import inspect
import typing
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from pydantic import ConfigDict, Field, GetCoreSchemaHandler, create_model
from pydantic_core import CoreSchema, core_schema
from strawberry.scalars import JSON

from gateway.clients import Rejection

T = TypeVar("T")
NodeT = TypeVar("NodeT")

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def from_service(cls: type[T]) -> type[T]:
    """Make a (strawberry) dataclass validatable by pydantic from a service's JSON.

    Apply below ``@strawberry.type``: it records the annotations as written, before strawberry
    rewrites them. Nested types decorated the same way validate recursively; keys the type does not
    declare are ignored, so a service may add fields without breaking the gateway.
    """
    written = dict(inspect.get_annotations(cls))

    def schema(_cls: type[T], _source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        namespace = type("_Written", (), {"__annotations__": written, "__module__": cls.__module__})
        hints = {
            name: (Any if hint is JSON else hint)
            for name, hint in typing.get_type_hints(namespace, include_extras=True).items()
        }
        defaults: dict[str, Any] = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.default is not dataclasses.MISSING:
                defaults[field.name] = Field(default=field.default)
            elif field.default_factory is not dataclasses.MISSING:
                defaults[field.name] = Field(default_factory=field.default_factory)
        model = create_model(  # type: ignore[call-overload]
            f"{cls.__name__}Record",
            __config__=ConfigDict(extra="ignore"),
            **{name: (hint, defaults.get(name, ...)) for name, hint in hints.items()},
        )

        def build(record: Any) -> T:
            return cls(**{name: getattr(record, name) for name in hints})

        return core_schema.no_info_after_validator_function(build, handler.generate_schema(model))

    cls.__get_pydantic_core_schema__ = classmethod(schema)  # type: ignore[attr-defined]
    return cls


@strawberry.type(description="Where a page ends and whether there is more (forward pagination).")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; null on the last page."
    )


@strawberry.type(description="One item of a connection.")
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str | None = strawberry.field(
        description=(
            "Resume after this item. The services page by keyset, so only the last edge of a page "
            "carries a cursor (the same as pageInfo.endCursor)."
        )
    )


@strawberry.type(description="A page of a list that can grow, newest first unless said otherwise.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @classmethod
    def of(cls, nodes: list[NodeT], next_cursor: str | None) -> "Connection[NodeT]":
        last = len(nodes) - 1
        return cls(
            edges=[
                Edge(node=node, cursor=next_cursor if i == last else None) for i, node in enumerate(nodes)
            ],
            page_info=PageInfo(has_next_page=next_cursor is not None, end_cursor=next_cursor),
        )


@strawberry.type(description="A problem with one input field.")
class FieldProblem:
    field: str = strawberry.field(description="The service's path to the field, e.g. 'body.title'.")
    message: str


@strawberry.enum(description="Why a write was refused.")
class RejectionCode(Enum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    REJECTED = "REJECTED"


_CODE_BY_STATUS = {
    400: RejectionCode.INVALID_INPUT,
    404: RejectionCode.NOT_FOUND,
    409: RejectionCode.CONFLICT,
    422: RejectionCode.INVALID_INPUT,
    429: RejectionCode.RATE_LIMITED,
}


@strawberry.type(
    description=(
        "An expected failure of a mutation: the input was invalid, the target is gone, or the change "
        "conflicts with the current state. Nothing was written."
    )
)
class MutationRejected:
    code: RejectionCode
    message: str
    service: str = strawberry.field(description="The service that refused the change.")
    problem_type: str = strawberry.field(description="The service's problem type, e.g. 'conflict'.")
    fields: list[FieldProblem]

    @classmethod
    def of(cls, rejection: Rejection) -> "MutationRejected":
        return cls(
            code=_CODE_BY_STATUS.get(rejection.status, RejectionCode.REJECTED),
            message=rejection.message,
            service=rejection.service,
            problem_type=rejection.type,
            fields=[FieldProblem(field=f.field, message=f.message) for f in rejection.fields],
        )

    @classmethod
    def not_found(cls, service: str, message: str) -> "MutationRejected":
        return cls(
            code=RejectionCode.NOT_FOUND,
            message=message,
            service=service,
            problem_type="not-found",
            fields=[],
        )


def page_size(first: int | None) -> int:
    """``first`` bounded to what one page may hold (the cost limit counts the same bound)."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(first, MAX_PAGE_SIZE))
