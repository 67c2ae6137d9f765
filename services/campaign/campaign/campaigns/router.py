import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from campaign.campaigns import assignment, measurement, service
from campaign.campaigns.models import Campaign
from campaign.campaigns.schemas import (
    AllocationPublic,
    AllocationReport,
    CampaignBatch,
    CampaignCreate,
    CampaignPage,
    CampaignPublic,
    CampaignResults,
    CampaignUpdate,
    CustomerEnrollmentsBatch,
    EnrollmentPublic,
    GroupResult,
    LiftPublic,
    SampleRatioPublic,
    StepVariantStats,
    ValidationReport,
    VariantResult,
)
from crm_common.auth import Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import FieldError, ValidationFailed, problem_responses
from crm_common.pagination import BatchIds, decode_cursor, encode_cursor
from crm_common.validation import NO_CONTROL_CHARACTERS

router = APIRouter(tags=["campaigns"], responses=problem_responses(401, 403))

Writer = Annotated[Principal, require_roles(Role.MARKETER, Role.ADMIN)]
Reader = Annotated[Principal, require_roles(Role.ANALYST, Role.MARKETER, Role.ADMIN)]
EnrollmentReader = Annotated[Principal, require_roles(Role.AGENT, Role.ANALYST, Role.MARKETER, Role.ADMIN)]


def _public(campaign: Campaign) -> CampaignPublic:
    return CampaignPublic.model_validate(
        {**campaign.model_dump(), "enrollment_pending": campaign.enroll_at is not None}
    )


@router.post(
    "/v1/campaigns",
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft campaign (broadcast or journey)",
    responses=problem_responses(422),
)
async def create_campaign(body: CampaignCreate, session: SessionDep, principal: Writer) -> CampaignPublic:
    return _public(await service.create_campaign(session, body, created_by=principal.subject))


@router.get("/v1/campaigns", summary="Campaigns, newest first", responses=problem_responses(422))
async def list_campaigns(
    session: SessionDep,
    principal: Reader,
    status_filter: Annotated[
        Literal["draft", "running", "paused", "completed"] | None, Query(alias="status")
    ] = None,
    kind: Literal["broadcast", "journey"] | None = None,
    after: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CampaignPage:
    key = decode_cursor(after)
    position = None
    if key is not None:
        try:
            position = (datetime.fromisoformat(str(key["created_at"])), uuid.UUID(str(key["id"])))
        except (KeyError, ValueError) as exc:
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
            ) from exc
    found = await service.list_campaigns(
        session, status=status_filter, kind=kind, after=position, limit=limit + 1
    )
    page = found[:limit]
    cursor = (
        encode_cursor({"created_at": page[-1].created_at.isoformat(), "id": str(page[-1].id)})
        if len(found) > limit
        else None
    )
    return CampaignPage(items=[_public(c) for c in page], next_cursor=cursor)


@router.get(
    "/v1/campaigns:batch",
    summary="Several campaigns by id (for the gateway's loaders), one query for the whole batch",
    responses=problem_responses(422),
)
async def get_campaigns(session: SessionDep, principal: Reader, ids: BatchIds) -> CampaignBatch:
    found = await service.get_campaigns(session, ids)
    return CampaignBatch(
        items={str(campaign_id): _public(campaign) for campaign_id, campaign in found.items()},
        missing=[i for i in dict.fromkeys(ids) if i not in found],
    )


@router.get("/v1/campaigns/{campaign_id}", responses=problem_responses(404))
async def get_campaign(campaign_id: uuid.UUID, session: SessionDep, principal: Reader) -> CampaignPublic:
    return _public(await service.get_campaign(session, campaign_id))


@router.patch(
    "/v1/campaigns/{campaign_id}", summary="Change a draft", responses=problem_responses(404, 409, 422)
)
async def update_campaign(
    campaign_id: uuid.UUID, body: CampaignUpdate, session: SessionDep, principal: Writer
) -> CampaignPublic:
    return _public(await service.update_campaign(session, campaign_id, body))


@router.delete(
    "/v1/campaigns/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a draft",
    responses=problem_responses(404, 409),
)
async def delete_campaign(campaign_id: uuid.UUID, session: SessionDep, principal: Writer) -> Response:
    await service.delete_campaign(session, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/campaigns/{campaign_id}:validate",
    summary="Run the launch checks without launching; nothing changes",
    responses=problem_responses(404),
)
async def validate_campaign(
    campaign_id: uuid.UUID, request: Request, session: SessionDep, principal: Writer
) -> ValidationReport:
    problems = await service.validate_campaign(session, request.app.state.settings, campaign_id)
    return ValidationReport(valid=not problems, errors=problems)


@router.post(
    "/v1/campaigns/{campaign_id}/launch",
    summary="Launch a draft: checks, contents, enrollment or schedule, campaign.launched — all or nothing",
    responses=problem_responses(404, 409, 422),
)
async def launch_campaign(
    campaign_id: uuid.UUID, request: Request, session: SessionDep, principal: Writer
) -> CampaignPublic:
    return _public(await service.launch_campaign(session, request.app.state.settings, campaign_id))


@router.post(
    "/v1/campaigns/{campaign_id}/pause",
    summary="Pause: the runner and delivery stop for it",
    responses=problem_responses(404, 409),
)
async def pause_campaign(campaign_id: uuid.UUID, session: SessionDep, principal: Writer) -> CampaignPublic:
    return _public(await service.pause_campaign(session, campaign_id))


@router.post(
    "/v1/campaigns/{campaign_id}/resume",
    summary="Resume a paused campaign",
    responses=problem_responses(404, 409),
)
async def resume_campaign(campaign_id: uuid.UUID, session: SessionDep, principal: Writer) -> CampaignPublic:
    return _public(await service.resume_campaign(session, campaign_id))


def _lift(value: measurement.Lift | None) -> LiftPublic | None:
    if value is None:
        return None
    return LiftPublic(
        absolute=value.absolute,
        relative=value.relative,
        ci_low=value.ci_low,
        ci_high=value.ci_high,
        approximation_ok=value.approximation_ok,
    )


@router.get(
    "/v1/campaigns/{campaign_id}/results",
    summary="Per variant and control: enrolled, sent, opened, clicked, converted, lift (95% CI), SRM alarm",
    responses=problem_responses(404),
)
async def campaign_results(
    campaign_id: uuid.UUID, request: Request, session: SessionDep, principal: Reader
) -> CampaignResults:
    view = await service.results(session, request.app.state.settings, campaign_id)
    groups = view.groups
    treated = groups[assignment.TREATMENT]
    control = groups[assignment.CONTROL]
    global_control = groups[assignment.GLOBAL_CONTROL]
    sums: dict[str, dict[str, int]] = {}
    for stats in view.stats:
        entry = sums.setdefault(stats.variant_key, {"sent": 0, "delivered": 0, "opened": 0, "clicked": 0})
        for name in entry:
            entry[name] += int(getattr(stats, name))
    variant_keys = sorted(set(view.by_variant) | set(sums))
    variants = []
    for key in variant_keys:
        enrolled, converted = view.by_variant.get(key, (0, 0))
        counts = sums.get(key, {"sent": 0, "delivered": 0, "opened": 0, "clicked": 0})
        variants.append(
            VariantResult(
                variant_key=key,
                enrolled=enrolled,
                converted=converted,
                conversion_rate=measurement.rate(converted, enrolled),
                lift=_lift(measurement.lift(converted, enrolled, control.converted, control.enrolled)),
                **counts,
            )
        )
    srm = measurement.sample_ratio_check({g.group: g.enrolled for g in groups.values()}, view.expected_share)
    return CampaignResults(
        campaign_id=view.campaign.id,
        goal_event=view.definition.goal.event if view.definition.goal else None,
        groups=[
            GroupResult(
                group=g.group,
                enrolled=g.enrolled,
                converted=g.converted,
                conversion_rate=measurement.rate(g.converted, g.enrolled),
            )
            for g in groups.values()
        ],
        variants=variants,
        lift=_lift(
            measurement.lift(treated.converted, treated.enrolled, control.converted, control.enrolled)
        ),
        lift_over_global_control=_lift(
            measurement.lift(
                treated.converted, treated.enrolled, global_control.converted, global_control.enrolled
            )
        ),
        sample_ratio=SampleRatioPublic(
            observed=srm.observed, expected_share=srm.expected_share, p_value=srm.p_value, alarm=srm.alarm
        ),
        steps=[
            StepVariantStats(
                step_id=s.step_id,
                variant_key=s.variant_key,
                sent=s.sent,
                delivered=s.delivered,
                opened=s.opened,
                clicked=s.clicked,
                bounced=s.bounced,
                unsubscribed=s.unsubscribed,
                suppressed=s.suppressed,
                failed=s.failed,
            )
            for s in view.stats
        ],
        method="Lift = p_treatment - p_control; 95% CI by the normal approximation of the difference of two "
        "proportions (unpooled). SRM: chi-square of group sizes vs the expected split, alarm at p < 0.001.",
    )


@router.get(
    "/v1/campaigns/{campaign_id}/allocation",
    summary="How the Thompson-sampling allocation of the optimized step moved",
    responses=problem_responses(404),
)
async def campaign_allocation(
    campaign_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AllocationReport:
    campaign, definition, history = await service.allocation_history(session, campaign_id, limit=limit)
    step = definition.optimized_step()
    current = (
        history[0].weights
        if history
        else ({v.key: 1 / len(step.variants) for v in step.variants} if step else {})
    )
    return AllocationReport(
        campaign_id=campaign.id,
        step_id=step.id if step else None,
        metric=definition.optimize.metric if definition.optimize else None,
        exploration_floor=definition.optimize.exploration_floor if definition.optimize else None,
        current={k: float(v) for k, v in current.items()},
        history=[AllocationPublic.model_validate(row) for row in history],
    )


@router.get(
    "/v1/customers/{customer_id}/campaigns",
    summary="A customer's campaign enrollments (staff)",
)
async def customer_campaigns(
    customer_id: uuid.UUID, session: SessionDep, principal: EnrollmentReader
) -> list[EnrollmentPublic]:
    return [
        EnrollmentPublic.model_validate(e) for e in await service.customer_enrollments(session, customer_id)
    ]


@router.get(
    "/v1/customers:campaigns",
    summary="The campaign enrollments of several customers (staff; one query for the whole batch)",
    responses=problem_responses(422),
)
async def customers_campaigns(
    session: SessionDep, principal: EnrollmentReader, ids: BatchIds
) -> CustomerEnrollmentsBatch:
    found = await service.customers_enrollments(session, ids)
    return CustomerEnrollmentsBatch(
        items={
            str(customer_id): [EnrollmentPublic.model_validate(e) for e in enrollments]
            for customer_id, enrollments in found.items()
        }
    )
