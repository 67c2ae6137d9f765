"""One error model for every REST service: RFC 9457 problem details.

Domain errors subclass :class:`ProblemError` and set ``status``, ``type`` and ``title``; the handlers
installed by :func:`install_error_handlers` render them, validation errors (with the failing field)
and anything unexpected (a correlation id, never a trace or SQL).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_common.logging import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://crm.example/problems/"

log = structlog.get_logger(__name__)


class FieldError(BaseModel):
    field: str = Field(description="Where the problem is, e.g. 'body.identifiers.0.value' or 'query.limit'.")
    message: str
    code: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response of the platform is shaped."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Base of every expected error. Subclasses set the class attributes; instances carry the detail."""

    status: int = 500
    type: str = "internal"
    title: str = "Internal error"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None, *, errors: list[FieldError] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.extra = extra


class BadRequest(ProblemError):
    status, type, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, type, title = 401, "unauthorized", "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer realm="crm"'}  # RFC 9110 §11.6.1


class Forbidden(ProblemError):
    status, type, title = 403, "forbidden", "Not allowed"


class NotFound(ProblemError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, type, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ProblemError):
    status, type, title = 413, "payload-too-large", "Payload too large"


class ValidationFailed(ProblemError):
    status, type, title = 422, "validation", "Invalid input"


class TooManyRequests(ProblemError):
    """The caller went over a rate limit; ``Retry-After`` says how many seconds until the next allowed try."""

    status, type, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after_seconds: int, **extra: Any):
        super().__init__(detail, **extra)
        self.retry_after_seconds = retry_after_seconds
        self.headers = {"Retry-After": str(retry_after_seconds)}  # RFC 9110 §10.2.3: delay in seconds


class ServiceUnavailable(ProblemError):
    status, type, title = 503, "unavailable", "Service unavailable"


def problem_response(
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type=TYPE_BASE + type_,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        request_id=current_request_id(),
        errors=errors,
    ).model_dump(exclude_none=True)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_field_errors(exc: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(
            field=_field_path(err.get("loc", ())), message=err.get("msg", "invalid"), code=err.get("type", "")
        )
        for err in exc.errors()
    ]


async def _handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.type,
        exc.title,
        exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        extra=exc.extra,
        headers=exc.headers,
    )


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_field_errors(exc)
    if any(err.code == "json_invalid" for err in errors):
        return problem_response(
            400,
            "malformed-json",
            "Malformed JSON",
            "The request body is not valid JSON.",
            instance=request.url.path,
            errors=errors,
        )
    return problem_response(
        422,
        "validation",
        "Invalid input",
        f"{len(errors)} field(s) failed validation.",
        instance=request.url.path,
        errors=errors,
    )


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required", 403: "Not allowed"}
    return problem_response(
        exc.status_code,
        {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http"),
        titles.get(exc.status_code, "HTTP error"),
        str(exc.detail) if exc.detail else None,
        instance=request.url.path,
        headers=getattr(exc, "headers", None),
    )


def internal_error_response(path: str) -> JSONResponse:
    """The answer to an unexpected error: a correlation id to quote, never a trace or SQL."""
    return problem_response(
        500,
        "internal",
        "Internal error",
        "An unexpected error occurred. Quote the request id when reporting it.",
        instance=path,
    )


# PostgreSQL cannot store NUL in text or jsonb (22021 character_not_in_repertoire, 22P05
# untranslatable_character). Request schemas reject control characters where they can; anything that
# still reaches the database with one is the caller's input, not our fault: 422, never a 500.
UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


async def _handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in UNSTORABLE_TEXT_SQLSTATES:
        return problem_response(
            422,
            "unstorable-text",
            "Invalid input",
            "The request contains characters that cannot be stored (such as NUL).",
            instance=request.url.path,
        )
    log.error("database_error", path=request.url.path, sqlstate=code, error_type=type(exc.orig).__name__)
    return internal_error_response(request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(DBAPIError, _handle_database_error)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the problem statuses an endpoint can answer."""
    descriptions = {
        400: "Malformed request",
        401: "Missing or invalid credentials",
        403: "Caller may not do this",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Payload too large",
        422: "Invalid input; `errors` names each failing field",
        429: "Too many requests; `Retry-After` says how many seconds to wait",
        503: "A dependency is unavailable",
    }
    retry_after = {
        "Retry-After": {"description": "Seconds until the next allowed try.", "schema": {"type": "integer"}}
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": retry_after} if status == 429 else {}),
        }
        for status in statuses
    }
