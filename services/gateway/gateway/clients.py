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
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from crm_common.http import service_client

ModelT = TypeVar("ModelT", bound=BaseModel)


class ErrorCode(StrEnum):
    """``extensions.code`` of a GraphQL error caused by a service."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_REQUEST = "BAD_REQUEST"
    UNAVAILABLE = "UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    BAD_RESPONSE = "BAD_RESPONSE"


class ServiceError(Exception):
    """A call to one service failed; the fields that needed it resolve to null with this error."""

    def __init__(self, service: str, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.service = service
        self.code = code
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        # graphql-core copies an original error's ``extensions`` into the error entry it reports.
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


class ServiceLiveness(BaseModel):
    """A service's ``GET /healthz``."""

    status: str
    service: str
    version: str


class IdentifierRecord(BaseModel):
    type: str
    value: str


class CustomerRecord(BaseModel):
    """Identity's ``GET /v1/customers/{id}`` (fields the gateway does not know are ignored)."""

    id: uuid.UUID
    display_name: str | None
    identifiers: list[IdentifierRecord] = []
    created_at: datetime
    updated_at: datetime

    @property
    def email(self) -> str | None:
        return next((i.value for i in self.identifiers if i.type == "email"), None)


class AudienceMemberRecord(BaseModel):
    """Campaign's ``GET /v1/audience/{customer_id}``: its projection of an identity customer."""

    customer_id: uuid.UUID
    display_name: str | None
    email: str | None
    customer_created_at: datetime
    projected_at: datetime
    # Derived by campaign's read model; defaults keep the gateway working against an older campaign.
    lifecycle_stage: str | None = None
    value_tier: str | None = None
    rfm_segment: str | None = None
    order_count: int = 0
    last_order_at: datetime | None = None
    latest_nps: int | None = None
    advocate_score: float | None = None
    advocate_tier: str | None = None


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

    async def _get(
        self, path: str, *, as_caller: bool = True, timeout: float | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}"} if as_caller and self._token else {}
        try:
            return await self._http.get(
                path, headers=headers, timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
            )
        except httpx.TimeoutException as exc:
            raise ServiceError(
                self.service, ErrorCode.TIMEOUT, f"{self.service} did not answer in time."
            ) from exc
        except httpx.RequestError as exc:
            raise ServiceError(
                self.service, ErrorCode.UNAVAILABLE, f"{self.service} is unavailable."
            ) from exc

    async def _read(self, path: str, model: type[ModelT], *, as_caller: bool = True) -> ModelT | None:
        """GET one resource: None when the service answers 404, :class:`ServiceError` on any other failure."""
        response = await self._get(path, as_caller=as_caller)
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise _error_from_response(self.service, response)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ServiceError(
                self.service, ErrorCode.BAD_RESPONSE, f"{self.service} answered with an unexpected body."
            ) from exc

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
            return await self._read("/healthz", ServiceLiveness, as_caller=False)
        except ServiceError:
            return None


class IdentityClient(ServiceClient):
    service = "identity"

    async def get_customer(self, customer_id: uuid.UUID) -> CustomerRecord | None:
        """The customer, or None when identity knows no such id; FORBIDDEN when the caller may not read it."""
        return await self._read(f"/v1/customers/{customer_id}", CustomerRecord)


class CampaignClient(ServiceClient):
    service = "campaign"

    async def get_audience_member(self, customer_id: uuid.UUID) -> AudienceMemberRecord | None:
        """Campaign's projection of the customer, or None when campaign has not projected them (yet)."""
        return await self._read(f"/v1/audience/{customer_id}", AudienceMemberRecord)


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
