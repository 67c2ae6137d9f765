"""Which GraphQL errors the caller may read, and how the others are hidden and logged."""

from typing import Any

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

from crm_common.logging import current_request_id
from gateway.clients import GraphError, ServiceError

log = structlog.get_logger(__name__)

MASKED_MESSAGE = "Unexpected error. Quote the request id when reporting it."


def is_unexpected(error: GraphQLError) -> bool:
    """True when the error's message may reveal internals (a trace's worth of detail); it is masked."""
    if isinstance(error.original_error, GraphError):
        return False
    if error.path is not None:
        return True  # raised while resolving a field, by something other than a service call
    # Before execution: graphql-core's own messages about the document (no original error) and a scalar
    # rejecting a literal or variable (located in the document) describe the caller's query. An
    # exception with neither came from the operation's machinery.
    return error.original_error is not None and error.locations is None


class MaskUnexpectedErrors(MaskErrors):
    """Masks unexpected errors; the entry keeps a stable code and the request id to quote."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL", "request_id": current_request_id()}
        return masked


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Runs before masking, for errors before execution too. Strawberry's default logs every error
        # with its trace at ERROR, which would page someone for each customer who asked for another.
        for error in errors:
            if error.path is None and error.original_error is None and "code" not in (error.extensions or {}):
                # graphql-core's own complaints about the document, given the codes clients know.
                parse_failed = error.message.startswith("Syntax Error")
                error.extensions = {
                    **(error.extensions or {}),
                    "code": "GRAPHQL_PARSE_FAILED" if parse_failed else "GRAPHQL_VALIDATION_FAILED",
                }
            original: Any = error.original_error
            if isinstance(original, ServiceError):
                log.warning(
                    "service_call_failed",
                    # ``service`` in a log line is the process's own name (the logging setup sets it).
                    upstream=original.service,
                    code=original.code.value,
                    detail=original.message,
                    field_path=error.path,
                    cause=repr(original.__cause__) if original.__cause__ else None,
                )
            elif is_unexpected(error):
                log.error("graphql_unexpected_error", field_path=error.path, exc_info=original or error)
            # Anything else is about the caller's query, and the answer tells them.
