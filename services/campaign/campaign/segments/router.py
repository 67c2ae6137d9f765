import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from campaign.segments import rules, service
from campaign.segments.models import Segment
from campaign.segments.schemas import (
    CustomerSegment,
    CustomerSegmentsBatch,
    SampleMember,
    SegmentBatch,
    SegmentCreate,
    SegmentMember,
    SegmentMemberPage,
    SegmentPage,
    SegmentPreview,
    SegmentPreviewRequest,
    SegmentPublic,
    SegmentUpdate,
)
from crm_common.auth import CurrentStaff, Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import FieldError, ValidationFailed, problem_responses
from crm_common.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, BatchIds, decode_cursor, encode_cursor

router = APIRouter(tags=["segments"], responses=problem_responses(401, 403))

Writer = Annotated[Principal, require_roles(Role.MARKETER, Role.ADMIN)]
Reader = Annotated[Principal, require_roles(Role.MARKETER, Role.ADMIN, Role.ANALYST, Role.AGENT)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def _public(segment: Segment) -> SegmentPublic:
    return SegmentPublic.model_validate({**segment.model_dump(), "explanation": rules.explain(segment.rule)})


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not one this API issued.",
        errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
    )


@router.get("/v1/segments:fields", summary="The field catalog rules are checked against")
async def segment_fields(_: Reader) -> list[dict[str, Any]]:
    return rules.catalog()


@router.post(
    "/v1/segments:preview",
    summary="Count, sample and explain a rule without storing anything",
    responses=problem_responses(422),
)
async def preview_segment(body: SegmentPreviewRequest, session: SessionDep, _: Writer) -> SegmentPreview:
    found = await service.preview(session, body.rule)
    return SegmentPreview(
        count=found.count,
        sample=[SampleMember.model_validate(row, from_attributes=True) for row in found.sample],
        explanation=found.explanation,
    )


@router.post(
    "/v1/segments",
    status_code=status.HTTP_201_CREATED,
    summary="Create a segment; its membership is computed at once",
    responses=problem_responses(409, 422),
)
async def create_segment(body: SegmentCreate, session: SessionDep, principal: Writer) -> SegmentPublic:
    segment = await service.create_segment(
        session, name=body.name, description=body.description, rule=body.rule, created_by=principal.subject
    )
    return _public(segment)


@router.get("/v1/segments", summary="Segments by name", responses=problem_responses(422))
async def list_segments(
    session: SessionDep, _: Reader, after: str | None = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> SegmentPage:
    key = decode_cursor(after)
    position = None
    if key is not None:
        try:
            position = (str(key["name"]), uuid.UUID(str(key["id"])))
        except (KeyError, ValueError) as exc:
            raise _bad_cursor() from exc
    found = await service.list_segments(session, after=position, limit=limit + 1)
    page = found[:limit]
    cursor = encode_cursor({"name": page[-1].name, "id": str(page[-1].id)}) if len(found) > limit else None
    return SegmentPage(items=[_public(s) for s in page], next_cursor=cursor)


@router.get(
    "/v1/segments:batch",
    summary="Several segments by id (for the gateway's loaders), one query for the whole batch",
    responses=problem_responses(422),
)
async def get_segments(session: SessionDep, _: Reader, ids: BatchIds) -> SegmentBatch:
    found = await service.get_segments(session, ids)
    return SegmentBatch(
        items={str(segment_id): _public(segment) for segment_id, segment in found.items()},
        missing=[i for i in dict.fromkeys(ids) if i not in found],
    )


@router.get("/v1/segments/{segment_id}", responses=problem_responses(404, 422))
async def get_segment(segment_id: uuid.UUID, session: SessionDep, _: Reader) -> SegmentPublic:
    return _public(await service.get_segment(session, segment_id))


@router.patch(
    "/v1/segments/{segment_id}",
    summary="Change a segment; a rule change recomputes its membership",
    responses=problem_responses(404, 409, 422),
)
async def update_segment(
    segment_id: uuid.UUID, body: SegmentUpdate, session: SessionDep, _: Writer
) -> SegmentPublic:
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "rule"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(
                f"{required} cannot be removed.",
                errors=[FieldError(field=f"body.{required}", message="must not be null", code="null")],
            )
    return _public(await service.update_segment(session, segment_id, changes))


@router.delete(
    "/v1/segments/{segment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a segment (refused while another segment references it)",
    responses=problem_responses(404, 409, 422),
)
async def delete_segment(segment_id: uuid.UUID, session: SessionDep, _: Writer) -> Response:
    await service.delete_segment(session, segment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/segments/{segment_id}/members",
    summary="The segment's members by customer id (stored membership)",
    responses=problem_responses(404, 422),
)
async def list_members(
    segment_id: uuid.UUID,
    session: SessionDep,
    _: Reader,
    after: str | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> SegmentMemberPage:
    key = decode_cursor(after)
    after_id = None
    if key is not None:
        try:
            after_id = uuid.UUID(str(key["id"]))
        except (KeyError, ValueError) as exc:
            raise _bad_cursor() from exc
    found = await service.members(session, segment_id, after=after_id, limit=limit + 1)
    page = found[:limit]
    cursor = encode_cursor({"id": str(page[-1][0])}) if len(found) > limit else None
    return SegmentMemberPage(
        items=[SegmentMember(customer_id=c, entered_at=at) for c, at in page], next_cursor=cursor
    )


@router.get(
    "/v1/customers/{customer_id}/segments",
    summary="The segments a customer is in (staff)",
    responses=problem_responses(422),
)
async def customer_segments(
    customer_id: uuid.UUID, session: SessionDep, _: CurrentStaff
) -> list[CustomerSegment]:
    rows = await service.segments_of_customer(session, customer_id)
    return [CustomerSegment(segment_id=row.id, name=row.name, entered_at=row.entered_at) for row in rows]


@router.get(
    "/v1/customers:segments",
    summary="The segments each of several customers is in (staff; one query for the whole batch)",
    responses=problem_responses(422),
)
async def customers_segments(session: SessionDep, _: CurrentStaff, ids: BatchIds) -> CustomerSegmentsBatch:
    found = await service.segments_of_customers(session, ids)
    return CustomerSegmentsBatch(
        items={
            str(customer_id): [
                CustomerSegment(segment_id=row.id, name=row.name, entered_at=row.entered_at) for row in rows
            ]
            for customer_id, rows in found.items()
        }
    )
