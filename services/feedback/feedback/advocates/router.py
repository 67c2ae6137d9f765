"""Advocates for targeting.

score (0-100) = 5 x latest NPS (0-50)
              + 30 x (1 - e^(-upvotes received on published ideas / 10))
              + 20 x (1 - e^(-positive responses / 3))
capped at 39.9 for a customer whose latest NPS is 0-6. Tiers: advocate >= 70, supporter >= 40, neutral.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from crm_common.auth import CurrentPrincipal, CurrentStaff, ensure_staff_or_self
from crm_common.db import SessionDep
from crm_common.errors import FieldError, ValidationFailed, problem_responses
from crm_common.pagination import BatchIds, decode_cursor, encode_cursor
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.advocates import service
from feedback.advocates.schemas import AdvocatePage, AdvocateScoreBatch, AdvocateScorePublic, AdvocateTier

router = APIRouter(tags=["advocates"], responses=problem_responses(401, 403))


def _position(after: str | None) -> tuple[float, uuid.UUID] | None:
    cursor = decode_cursor(after)
    if cursor is None:
        return None
    try:
        return float(cursor["s"]), uuid.UUID(str(cursor["id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        ) from exc


@router.get("/v1/advocates", summary="Customers by advocate score, highest first, for targeting (staff)")
async def list_advocates(
    session: SessionDep,
    _: CurrentStaff,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    tier: AdvocateTier | None = None,
    after: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AdvocatePage:
    rows = await service.ranking(
        session, min_score=min_score, tier=tier, after=_position(after), limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor({"s": page[-1].score, "id": str(page[-1].customer_id)}) if len(rows) > limit else None
    )
    return AdvocatePage(items=[AdvocateScorePublic.model_validate(r) for r in page], next_cursor=next_cursor)


@router.get(
    "/v1/customers/{customer_id}/advocate-score",
    summary="A customer's advocate score (staff, or the customer themself)",
    responses=problem_responses(404),
)
async def get_advocate_score(
    customer_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> AdvocateScorePublic:
    ensure_staff_or_self(principal, customer_id)
    return AdvocateScorePublic.model_validate(await service.get_score(session, customer_id))


@router.get(
    "/v1/customers:advocate-scores",
    summary="Several customers' advocate scores (staff; one query for the batch)",
    responses=problem_responses(422),
)
async def get_advocate_scores(
    session: SessionDep,
    _: CurrentStaff,
    ids: BatchIds,
) -> AdvocateScoreBatch:
    found = await service.get_scores(session, ids)
    return AdvocateScoreBatch(
        items={
            str(customer_id): AdvocateScorePublic.model_validate(score) if score is not None else None
            for customer_id, score in found.items()
        }
    )
