"""Typed clients for the services behind the graph.

One pooled ``httpx.AsyncClient`` per service lives as long as the app (opened in the lifespan); the
small clients here wrap it for one request with the caller's bearer token, so every call is made as
the caller and the service itself decides what the caller may see. A refused connection, a timeout, an
answer of the wrong shape and every problem+json error become a :class:`ServiceError` naming the
service, which the graph reports on the affected field only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, cast

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from crm_common.http import service_client

T = TypeVar("T")
QueryParams = Mapping[str, str | int | float | bool | Sequence[str]]


@functools.cache
def _adapter(into: Any) -> TypeAdapter[Any]:
    # One adapter per type for the process: building one compiles a validator.
    return TypeAdapter(into)


class ErrorCode(StrEnum):
    """``extensions.code`` of a GraphQL error caused by a service."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_REQUEST = "BAD_REQUEST"
    UNAVAILABLE = "UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    BAD_RESPONSE = "BAD_RESPONSE"


class GraphError(Exception):
    """An expected error of a field: its message is safe to show, ``extensions.code`` says which."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        # graphql-core copies an original error's ``extensions`` into the error entry it reports.
        return {"code": self.code.value}


class ServiceError(GraphError):
    """A call to one service failed; the fields that needed it resolve to null with this error."""

    def __init__(self, service: str, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.service = service

    @property
    def extensions(self) -> dict[str, str]:
        return {"code": self.code.value, "service": self.service}


_CODE_BY_STATUS = {401: ErrorCode.UNAUTHENTICATED, 403: ErrorCode.FORBIDDEN, 404: ErrorCode.NOT_FOUND}


def _error_from_response(service: str, response: httpx.Response) -> ServiceError:
    status = response.status_code
    if status in _CODE_BY_STATUS:
        code = _CODE_BY_STATUS[status]
    elif status >= 500:
        code = ErrorCode.UNAVAILABLE
    elif status >= 400:
        code = ErrorCode.BAD_REQUEST
    else:  # a redirect or an informational answer: not something a service of ours sends
        code = ErrorCode.BAD_RESPONSE
    return ServiceError(service, code, _problem_message(response) or f"{service} answered HTTP {status}.")


def _problem_message(response: httpx.Response) -> str | None:
    """The ``detail`` (or ``title``) of an RFC 9457 problem body, if the answer is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    message = body.get("detail") or body.get("title")
    return message if isinstance(message, str) else None


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A service refused a write for a reason the caller can fix or must know (4xx other than 401/403)."""

    service: str
    status: int
    type: str = field(metadata={"doc": "The problem type's last path segment, e.g. 'conflict'."})
    message: str
    fields: tuple[FieldProblem, ...] = ()

    @classmethod
    def from_response(cls, service: str, response: httpx.Response) -> Rejection:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        listed = body.get("errors")
        errors: list[Any] = listed if isinstance(listed, list) else []
        return cls(
            service=service,
            status=response.status_code,
            type=str(body.get("type") or "about:blank").rsplit("/", 1)[-1],
            message=_problem_message(response) or f"{service} answered HTTP {response.status_code}.",
            fields=tuple(
                FieldProblem(field=str(e.get("field", "")), message=str(e.get("message", "")))
                for e in errors
                if isinstance(e, dict)
            ),
        )


class ServiceLiveness(BaseModel):
    """A service's ``GET /healthz``."""

    status: str
    service: str
    version: str


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    name: str
    version: str | None
    alive: bool
    ready: bool


class ServiceClient:
    """Calls one service on behalf of one caller."""

    service: ClassVar[str]

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self._http = http
        self._token = token

    def _headers(self, as_caller: bool) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if as_caller and self._token else {}

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        body: object = None,
        as_caller: bool = True,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        # httpx bounds each connect and read; a service that drips its answer could still take longer.
        # The whole call gets the same budget, so "slower than its timeout" means exactly that.
        deadline = timeout if timeout is not None else self._http.timeout.read
        try:
            async with asyncio.timeout(deadline):
                return await self._http.request(
                    method,
                    path,
                    params=params,
                    json=body,
                    headers={**self._headers(as_caller), **(headers or {})},
                    timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                )
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise ServiceError(
                self.service, ErrorCode.TIMEOUT, f"{self.service} did not answer in time."
            ) from exc
        except httpx.RequestError as exc:
            raise ServiceError(
                self.service, ErrorCode.UNAVAILABLE, f"{self.service} is unavailable."
            ) from exc

    async def _get(
        self, path: str, *, as_caller: bool = True, timeout: float | None = None
    ) -> httpx.Response:
        return await self._send("GET", path, as_caller=as_caller, timeout=timeout)

    def _parse(self, response: httpx.Response, into: type[T]) -> T:
        try:
            validated: T = _adapter(cast(Any, into)).validate_json(response.content)
            return validated
        except ValidationError as exc:
            raise ServiceError(
                self.service, ErrorCode.BAD_RESPONSE, f"{self.service} answered with an unexpected body."
            ) from exc

    async def fetch(self, path: str, into: type[T], params: QueryParams | None = None) -> T | None:
        """GET a resource as the caller: None when the service answers 404, ServiceError otherwise."""
        response = await self._send("GET", path, params=params)
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise _error_from_response(self.service, response)
        return self._parse(response, into)

    async def fetch_required(self, path: str, into: type[T], params: QueryParams | None = None) -> T:
        """GET something that always exists (a list, a batch): a 404 is an error like any other."""
        response = await self._send("GET", path, params=params)
        if not response.is_success:
            raise _error_from_response(self.service, response)
        return self._parse(response, into)

    async def submit(
        self, method: str, path: str, body: object, into: type[T], *, idempotency_key: str | None = None
    ) -> T | Rejection:
        """A write as the caller. A 4xx the caller can act on comes back as a :class:`Rejection`.

        ``idempotency_key`` goes to the service as ``Idempotency-Key``: a retried mutation with the same
        key creates nothing twice and gets the first answer.
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = await self._send(method, path, body=body, headers=headers)
        if response.is_success:
            return self._parse(response, into)
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403):
            return Rejection.from_response(self.service, response)
        raise _error_from_response(self.service, response)

    async def is_ready(self, *, timeout: float | None = None) -> bool:
        """The service's ``/readyz`` answered 200 (an unreachable service is simply not ready)."""
        try:
            response = await self._get("/readyz", as_caller=False, timeout=timeout)
        except ServiceError:
            return False
        return response.status_code == 200

    async def health(self) -> ServiceHealth:
        """Liveness (with the version) and readiness, asked concurrently; never raises."""
        liveness, ready = await asyncio.gather(self._liveness(), self.is_ready())
        return ServiceHealth(
            name=self.service,
            version=liveness.version if liveness else None,
            alive=liveness is not None,
            ready=ready,
        )

    async def _liveness(self) -> ServiceLiveness | None:
        try:
            response = await self._get("/healthz", as_caller=False)
            return self._parse(response, ServiceLiveness) if response.is_success else None
        except ServiceError:
            return None


class IdentityClient(ServiceClient):
    service = "identity"


class CampaignClient(ServiceClient):
    service = "campaign"


class FeedbackClient(ServiceClient):
    service = "feedback"


@dataclass(frozen=True, slots=True)
class ServiceClients:
    """Every service, called as one caller."""

    identity: IdentityClient
    campaign: CampaignClient
    feedback: FeedbackClient

    @classmethod
    def acting_as(cls, pools: Mapping[str, httpx.AsyncClient], token: str | None) -> ServiceClients:
        """Clients over the app's pools that forward ``token`` (None: unauthenticated probes only)."""
        return cls(
            identity=IdentityClient(pools["identity"], token),
            campaign=CampaignClient(pools["campaign"], token),
            feedback=FeedbackClient(pools["feedback"], token),
        )

    def all(self) -> tuple[ServiceClient, ...]:
        return (self.identity, self.campaign, self.feedback)


@contextlib.asynccontextmanager
async def open_service_pools(
    urls: Mapping[str, str],
    *,
    timeout: float,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One pooled client per service, closed on exit.

    ``transports`` routes a service's client elsewhere, e.g. to an in-process app through
    ``httpx.ASGITransport`` in tests.
    """
    transports = transports or {}
    unknown = set(transports) - set(urls)
    if unknown:
        raise ValueError(f"transports given for unknown services: {', '.join(sorted(unknown))}")
    async with contextlib.AsyncExitStack() as stack:
        pools: dict[str, httpx.AsyncClient] = {}
        for name, url in urls.items():
            pools[name] = await stack.enter_async_context(
                service_client(url, timeout=timeout, transport=transports.get(name))
            )
        yield pools
