from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import ValidationError

from crm_common.auth import Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import TYPE_BASE, FieldError, PayloadTooLarge, Problem, ProblemError, problem_responses
from crm_common.logging import current_request_id
from identity.resolution import service
from identity.resolution.schemas import (
    BatchItem,
    BatchRequest,
    BatchResponse,
    IdentifyRequest,
    IdentifyResult,
)

router = APIRouter(tags=["resolution"], responses=problem_responses(401, 403))

Resolver = Annotated[Principal, require_roles(Role.ADMIN, Role.AGENT, Role.PARTNER)]


def _actor(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.subject}"


@router.post(
    "/v1/identify",
    summary="Resolve identifiers seen together to one customer (created, matched or merged)",
    responses=problem_responses(413, 422),
)
async def identify(
    request: Request, body: IdentifyRequest, session: SessionDep, principal: Resolver
) -> IdentifyResult:
    (outcome,) = await service.identify(session, [body], request.app.state.settings, actor=_actor(principal))
    if isinstance(outcome, ProblemError):
        raise outcome
    return outcome


@router.post(
    "/v1/identify:batch",
    summary="Resolve many records in one call; each record gets its own result or problem",
    responses=problem_responses(413, 422),
)
async def identify_batch(
    request: Request, body: BatchRequest, session: SessionDep, principal: Resolver
) -> BatchResponse:
    settings = request.app.state.settings
    if len(body.records) > settings.max_batch_records:
        raise PayloadTooLarge(
            f"A batch holds at most {settings.max_batch_records} records; this one has {len(body.records)}."
        )
    items: list[BatchItem | None] = [None] * len(body.records)
    valid: list[tuple[int, IdentifyRequest]] = []
    for index, raw in enumerate(body.records):
        try:
            valid.append((index, IdentifyRequest.model_validate(raw)))
        except ValidationError as exc:
            errors = [
                FieldError(
                    field=".".join(["body", "records", str(index), *(str(p) for p in err["loc"])]),
                    message=err["msg"],
                    code=err["type"],
                )
                for err in exc.errors()
            ]
            items[index] = _failed(index, 422, "validation", "Invalid input", errors)
    outcomes = await service.identify(session, [r for _, r in valid], settings, actor=_actor(principal))
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, ProblemError):
            errors = [
                e.model_copy(update={"field": e.field.replace("body.", f"body.records.{index}.", 1)})
                for e in outcome.errors or []
            ]
            items[index] = _failed(index, outcome.status, outcome.type, outcome.title, errors, outcome.detail)
        else:
            items[index] = BatchItem(index=index, status=200, result=outcome)
    final = [item for item in items if item is not None]
    failed = sum(1 for item in final if item.status != 200)
    return BatchResponse(items=final, resolved=len(final) - failed, failed=failed)


def _failed(
    index: int, status: int, type_: str, title: str, errors: list[FieldError], detail: str | None = None
) -> BatchItem:
    return BatchItem(
        index=index,
        status=status,
        problem=Problem(
            type=TYPE_BASE + type_,
            title=title,
            status=status,
            detail=detail,
            request_id=current_request_id(),
            errors=errors,
        ),
    )
