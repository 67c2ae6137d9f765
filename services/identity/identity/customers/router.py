import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import CurrentPrincipal, CurrentStaff, Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import Forbidden, problem_responses
from crm_common.pagination import BatchIds, decode_cursor, encode_cursor
from crm_common.validation import NO_CONTROL_CHARACTERS
from identity.consents import service as consents
from identity.consents.schemas import ConsentPublic, ConsentsBatch
from identity.customers import service
from identity.customers.errors import CustomerNotFound
from identity.customers.models import Customer
from identity.customers.profile import GoldenValue
from identity.customers.schemas import (
    CustomerBatch,
    CustomerPage,
    CustomerPublic,
    CustomerPublicBatch,
    CustomerSummary,
    IdentifierPublic,
    ProfileField,
)
from identity.erasure import service as erasure
from identity.identifiers.models import Identifier
from identity.identifiers.normalize import IdentifierRejected, normalize_identifier
from identity.merges import service as merges
from identity.merges.schemas import MergeHistoryBatch, MergePublic
from identity.settings import IdentitySettings
from identity.timeline import service as timeline
from identity.timeline.models import Channel, Touchpoint
from identity.timeline.schemas import TimelineBatch, TimelinePage, TouchpointPublic

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=problem_responses(401, 403))

MAX_BATCH_IDS = 500
# The gateway's DataLoaders batch per field; 200 keeps a batch of full records (or first pages) bounded.
Admin = Annotated[Principal, require_roles(Role.ADMIN)]


def _settings(request: Request) -> IdentitySettings:
    settings: IdentitySettings = request.app.state.settings
    return settings


async def _authorize(
    session: SessionDep, principal: Principal, customer_id: uuid.UUID
) -> service.ResolvedCustomer:
    """Staff read anyone; a customer token reads only its own customer (also under a merged-away id)."""
    resolved = await service.get_customer(session, customer_id)
    if principal.is_staff:
        return resolved
    own = principal.customer_id
    if own is None:
        raise Forbidden("This needs a staff or customer token.")
    try:
        mine = await service.get_customer(session, own)
    except CustomerNotFound as exc:
        raise Forbidden("A customer token can only access its own customer.") from exc
    if mine.customer.id != resolved.customer.id:
        raise Forbidden("A customer token can only access its own customer.")
    return resolved


async def customer_public(
    session: SessionDep, resolved: service.ResolvedCustomer, settings: IdentitySettings
) -> CustomerPublic:
    customer = resolved.customer
    profile = (await service.golden_profiles(session, [customer.id], settings))[customer.id]
    return _customer_public(
        customer, resolved.requested_id, profile, await service.identifiers_of(session, customer.id)
    )


def _customer_public(
    customer: Customer,
    requested_id: uuid.UUID,
    profile: dict[str, GoldenValue],
    identifiers: list[Identifier],
) -> CustomerPublic:
    return CustomerPublic(
        id=customer.id,
        display_name=customer.display_name,
        status=customer.status,
        resolved_from=requested_id if customer.id != requested_id else None,
        profile={field: ProfileField.of(value) for field, value in sorted(profile.items())},
        identifiers=[IdentifierPublic.model_validate(i, from_attributes=True) for i in identifiers],
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


def _timeline_page(rows: list[Touchpoint], limit: int) -> TimelinePage:
    """A page out of up to ``limit + 1`` rows; the extra row only says that there is a next page."""
    page = rows[:limit]
    next_cursor = (
        encode_cursor({"at": page[-1].occurred_at.isoformat(), "id": str(page[-1].id)})
        if len(rows) > limit
        else None
    )
    return TimelinePage(
        items=[TouchpointPublic.model_validate(t, from_attributes=True) for t in page],
        next_cursor=next_cursor,
    )


@router.get("", summary="Batch get by ids (for DataLoaders): two queries for the whole batch")
async def get_customers(
    session: SessionDep,
    _: CurrentStaff,
    ids: Annotated[list[uuid.UUID], Query(min_length=1, max_length=MAX_BATCH_IDS)],
) -> CustomerBatch:
    found = await service.get_customers(session, ids)
    return CustomerBatch(
        items={
            str(requested): CustomerSummary.model_validate(c, from_attributes=True)
            for requested, c in found.items()
        },
        missing=[i for i in dict.fromkeys(ids) if i not in found],
    )


# Batch reads for the gateway's per-request DataLoaders. Each answers for the whole batch in a fixed
# number of queries, keyed by the id as requested (a merged-away id maps to its survivor's data).
# The ':' keeps these paths apart from /{customer_id} (no '/' to match a path segment on).


@router.get(
    ":batch",
    summary="Full customers by ids (for DataLoaders): four queries for the whole batch",
    responses=problem_responses(422),
)
async def get_customers_batch(
    request: Request, session: SessionDep, _: CurrentStaff, ids: BatchIds
) -> CustomerPublicBatch:
    found = await service.get_customers(session, ids)
    survivor_ids = list(dict.fromkeys(c.id for c in found.values()))
    settings = _settings(request)
    profiles = await service.golden_profiles(session, survivor_ids, settings)
    identifiers = await service.identifiers_of_customers(session, survivor_ids)
    return CustomerPublicBatch(
        items={
            str(requested): _customer_public(c, requested, profiles[c.id], identifiers[c.id])
            for requested, c in found.items()
        },
        missing=[i for i in dict.fromkeys(ids) if i not in found],
    )


@router.get(
    ":timelines",
    summary="First timeline page of each customer (for DataLoaders): one query for the touchpoints",
    responses=problem_responses(422),
)
async def get_timelines_batch(
    session: SessionDep,
    _: CurrentStaff,
    ids: BatchIds,
    channel: Annotated[list[Channel] | None, Query()] = None,
    type: Annotated[list[str] | None, Query(max_length=20)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Touchpoints per customer.")] = 20,
) -> TimelineBatch:
    found = await service.get_customers(session, ids)
    pages = await timeline.first_pages(
        session,
        [c.id for c in found.values()],
        channels=[c.value for c in channel] if channel else None,
        types=type,
        since=since,
        until=until,
        limit=limit + 1,
    )
    return TimelineBatch(
        items={str(requested): _timeline_page(pages[c.id], limit) for requested, c in found.items()}
    )


@router.get(
    ":merges",
    summary="Merge history of each id (for DataLoaders): one query for the whole batch",
    responses=problem_responses(422),
)
async def get_merge_histories_batch(session: SessionDep, _: CurrentStaff, ids: BatchIds) -> MergeHistoryBatch:
    histories = await merges.histories(session, ids)
    return MergeHistoryBatch(
        items={
            str(requested): [MergePublic.model_validate(m, from_attributes=True) for m in history]
            for requested, history in histories.items()
        }
    )


@router.get(
    ":consents",
    summary="Current consents of each customer (for DataLoaders): one query for the consents",
    responses=problem_responses(422),
)
async def get_consents_batch(session: SessionDep, _: CurrentStaff, ids: BatchIds) -> ConsentsBatch:
    found = await service.get_customers(session, ids)
    current = await consents.current_of_customers(session, [c.id for c in found.values()])
    return ConsentsBatch(
        items={
            str(requested): [ConsentPublic.model_validate(row, from_attributes=True) for row in current[c.id]]
            for requested, c in found.items()
        }
    )


@router.get("/search", summary="Search by name, email or phone prefix")
async def search_customers(
    session: SessionDep,
    _: CurrentStaff,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)],
    after: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomerPage:
    cursor = decode_cursor(after)
    position = (
        (str(cursor["k"]), uuid.UUID(str(cursor["id"])))
        if cursor and "k" in cursor and "id" in cursor
        else None
    )
    found = await service.search_customers(session, q, after=position, limit=limit + 1)
    page = found[:limit]
    next_cursor = (
        encode_cursor({"k": page[-1].name_key or "", "id": str(page[-1].id)}) if len(found) > limit else None
    )
    return CustomerPage(
        items=[CustomerSummary.model_validate(c, from_attributes=True) for c in page], next_cursor=next_cursor
    )


@router.get("/lookup", summary="The customer that owns an identifier", responses=problem_responses(404, 422))
async def lookup_customer(
    request: Request,
    session: SessionDep,
    _: CurrentStaff,
    type: Annotated[str, Query(min_length=1, max_length=64, pattern=NO_CONTROL_CHARACTERS)],
    value: Annotated[str, Query(min_length=1, max_length=320, pattern=NO_CONTROL_CHARACTERS)],
) -> CustomerPublic:
    settings = _settings(request)
    try:
        normalized = normalize_identifier(type, value, settings)
    except IdentifierRejected as exc:
        raise CustomerNotFound(f"No customer has this identifier ({exc.message}).") from exc
    found = await service.find_by_identifier(session, normalized.type, normalized.value)
    return await customer_public(session, found, settings)


@router.get("/{customer_id}", responses=problem_responses(404))
async def get_customer(
    request: Request, customer_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> CustomerPublic:
    resolved = await _authorize(session, principal, customer_id)
    return await customer_public(session, resolved, _settings(request))


@router.get("/{customer_id}/timeline", responses=problem_responses(404))
async def get_timeline(
    customer_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    channel: Annotated[list[Channel] | None, Query()] = None,
    type: Annotated[list[str] | None, Query(max_length=20)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TimelinePage:
    resolved = await _authorize(session, principal, customer_id)
    cursor = decode_cursor(after)
    position = None
    if cursor is not None:
        try:
            position = (datetime.fromisoformat(str(cursor["at"])), uuid.UUID(str(cursor["id"])))
        except (KeyError, ValueError):
            decode_cursor("!")  # raises the standard invalid-cursor problem
    rows = await timeline.timeline(
        session,
        resolved.customer.id,
        channels=[c.value for c in channel] if channel else None,
        types=type,
        since=since,
        until=until,
        after=position,
        limit=limit + 1,
    )
    return _timeline_page(rows, limit)


@router.get(
    "/{customer_id}/consents",
    summary="Current consents per channel and purpose (staff, or the customer itself)",
    responses=problem_responses(404),
)
async def get_customer_consents(
    customer_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> list[ConsentPublic]:
    resolved = await _authorize(session, principal, customer_id)
    rows = await consents.current(session, resolved.customer.id)
    return [ConsentPublic.model_validate(row, from_attributes=True) for row in rows]


@router.get("/{customer_id}/merges", summary="Merge history (as survivor or as merged)")
async def get_merge_history(
    customer_id: uuid.UUID, session: SessionDep, _: CurrentStaff
) -> list[MergePublic]:
    return [
        MergePublic.model_validate(m, from_attributes=True)
        for m in await merges.history(session, customer_id)
    ]


@router.delete(
    "/{customer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a customer's personal data (admin)",
    responses=problem_responses(404),
)
async def erase_customer(request: Request, customer_id: uuid.UUID, session: SessionDep, _: Admin) -> Response:
    await erasure.erase(session, customer_id, _settings(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
