import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from crm_common.auth import CurrentStaff, Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import FieldError, ValidationFailed, problem_responses
from crm_common.idempotency import IdempotencyDep
from crm_common.pagination import decode_cursor, encode_cursor
from crm_common.validation import NO_CONTROL_CHARACTERS
from feedback.experience.cursors import decode_time_cursor, encode_time_cursor
from feedback.experience.models import Channel
from feedback.experience.schemas import TOUCHPOINT_PATTERN, Instant
from feedback.touchpoints import service
from feedback.touchpoints.schemas import (
    AcknowledgementCreate,
    AlertPage,
    AlertPublic,
    HealthReport,
    HealthWindowName,
)

router = APIRouter(prefix="/v1/touchpoints", tags=["touchpoints"], responses=problem_responses(401, 403))

Responder = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT)]
After = Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)]
TouchpointQuery = Annotated[str | None, Query(max_length=60, pattern=TOUCHPOINT_PATTERN)]


@router.get(
    "/health",
    summary="NPS, CSAT, volume, negative share and trend per touchpoint and window (staff)",
    response_model=HealthReport,
    response_model_by_alias=True,
)
async def touchpoint_health(
    request: Request,
    session: SessionDep,
    _: CurrentStaff,
    window: HealthWindowName = "day",
    since: Annotated[
        Instant | None,
        Query(
            alias="from",
            description="Rounded down to its window; default: 7 days, 24 hours or 12 weeks before `to`.",
        ),
    ] = None,
    until: Annotated[Instant | None, Query(alias="to", description="Exclusive; default: now.")] = None,
    tz: Annotated[
        str,
        Query(max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$", description="IANA time zone of the windows."),
    ] = "UTC",
    touchpoint: TouchpointQuery = None,
    channel: Channel | None = None,
    after: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Touchpoints per page.")] = 20,
) -> HealthReport:
    cursor = decode_cursor(after)
    if cursor is not None and not isinstance(cursor.get("t"), str):
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        )
    listing = await service.touchpoint_health(
        session,
        request.app.state.settings,
        window=window,
        tz_name=tz,
        since=since,
        until=until,
        touchpoint=touchpoint,
        channel=channel.value if channel else None,
        after=str(cursor["t"]) if cursor else None,
        limit=limit,
    )
    return HealthReport(
        window=window,
        tz=tz,
        since=listing.since,
        until=listing.until,
        items=listing.touchpoints,
        next_cursor=encode_cursor({"t": listing.last_touchpoint}) if listing.last_touchpoint else None,
    )


@router.get("/alerts", summary="Crisis alerts, newest first (staff)")
async def list_alerts(
    session: SessionDep,
    _: CurrentStaff,
    touchpoint: TouchpointQuery = None,
    state: Literal["open", "acknowledged"] | None = None,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AlertPage:
    alerts = await service.list_alerts(
        session,
        touchpoint=touchpoint,
        acknowledged=None if state is None else state == "acknowledged",
        after=decode_time_cursor(after),
        limit=limit + 1,
    )
    page = alerts[:limit]
    next_cursor = encode_time_cursor(page[-1].raised_at, page[-1].id) if len(alerts) > limit else None
    return AlertPage(items=[AlertPublic.model_validate(a) for a in page], next_cursor=next_cursor)


@router.get("/alerts/{alert_id}", responses=problem_responses(404))
async def get_alert(alert_id: uuid.UUID, session: SessionDep, _: CurrentStaff) -> AlertPublic:
    return AlertPublic.model_validate(await service.get_alert(session, alert_id))


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertPublic,
    summary="Say the alert is seen and handled (agent, admin)",
    responses=problem_responses(404, 409, 422),
)
async def acknowledge_alert(
    alert_id: uuid.UUID,
    body: AcknowledgementCreate,
    session: SessionDep,
    principal: Responder,
    idempotency: IdempotencyDep,
) -> Response:
    async def acknowledge() -> AlertPublic:
        alert = await service.acknowledge_alert(
            session, alert_id, actor=f"{principal.role.value}:{principal.subject}", note=body.note
        )
        return AlertPublic.model_validate(alert)

    return await idempotency.run(acknowledge, status_code=status.HTTP_200_OK)
