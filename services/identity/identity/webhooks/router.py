import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from crm_common.auth import Principal, Role, require_roles
from crm_common.db import SessionDep
from crm_common.errors import FieldError, ValidationFailed, problem_responses
from crm_common.pagination import decode_cursor, encode_cursor
from identity.settings import IdentitySettings
from identity.webhooks import service
from identity.webhooks.mappings import MAPPINGS
from identity.webhooks.models import DeliveryStatus, WebhookDelivery
from identity.webhooks.schemas import (
    SOURCE_NAME_PATTERN,
    WEBHOOK_ID_PATTERN,
    DeadLetterPage,
    WebhookAccepted,
    WebhookDeliveryPublic,
    WebhookDeliverySummary,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Admin = Annotated[Principal, require_roles(Role.ADMIN)]
# Staff endpoints take only names and ids that can exist (a NUL would otherwise reach PostgreSQL).
SourceName = Annotated[str, Path(pattern=SOURCE_NAME_PATTERN)]
WebhookId = Annotated[str, Path(pattern=WEBHOOK_ID_PATTERN, description="The partner's webhook-id.")]


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its $defs inlined (a $ref inside an operation would miss them)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return dict(inline(schema))


_SIGNATURE_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The event's unique id: a repeat is accepted again but processed once.",
        "schema": {"type": "string", "maxLength": 200, "examples": ["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"]},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Unix seconds when it was signed; more than 5 minutes away from now is rejected.",
        "schema": {"type": "string", "examples": ["1795435200"]},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "Space-separated `v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>` signatures.",
        "schema": {"type": "string"},
    },
]

# The body is read raw (the signature covers its exact bytes), so FastAPI cannot document it by itself.
_RECEIVE_OPENAPI: dict[str, Any] = {
    "parameters": _SIGNATURE_HEADERS,
    "requestBody": {
        "required": True,
        "description": "The partner's event, bare or in a Standard Webhooks envelope "
        '(`{"type", "timestamp", "data"}`). Its shape is the one of the mapping configured for the source.',
        "content": {
            "application/json": {
                "schema": {"anyOf": [_inline_schema(mapping.payload) for mapping in MAPPINGS.values()]}
            }
        },
    },
}


@router.post(
    "/{source}",
    status_code=202,
    summary="Receive a partner event signed per Standard Webhooks; processed asynchronously",
    description="Verified against the source's secret before anything is stored, then answered at once. "
    "An unknown source is answered like a bad signature. See WEBHOOKS.md.",
    openapi_extra=_RECEIVE_OPENAPI,
    responses=problem_responses(400, 401, 413, 422),
)
async def receive_webhook(source: str, request: Request, session: SessionDep) -> WebhookAccepted:
    settings: IdentitySettings = request.app.state.settings
    body = await request.body()
    return await service.receive(session, settings, source, body, request.headers)


def _public(delivery: WebhookDelivery, status: DeliveryStatus | None = None) -> WebhookDeliveryPublic:
    public = WebhookDeliveryPublic.model_validate(delivery)
    return public if status is None else public.model_copy(update={"status": status})


def _dead_letter_position(after: str | None) -> tuple[datetime, str, str] | None:
    cursor = decode_cursor(after)
    if cursor is None:
        return None
    try:
        position = datetime.fromisoformat(str(cursor["r"])), str(cursor["s"]), str(cursor["w"])
    except (KeyError, ValueError):
        position = None
    if (
        position is None
        or position[0].tzinfo is None
        or not re.fullmatch(SOURCE_NAME_PATTERN, position[1])
        or not re.fullmatch(WEBHOOK_ID_PATTERN, position[2])
    ):
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        )
    return position


@router.get(
    "/dead-letters",
    summary="Deliveries that will not be processed without help, newest first",
    responses=problem_responses(401, 403),
)
async def list_dead_letters(
    session: SessionDep,
    _: Admin,
    source: Annotated[str | None, Query(pattern=SOURCE_NAME_PATTERN)] = None,
    after: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLetterPage:
    found = await service.dead_letters(
        session, source=source, after=_dead_letter_position(after), limit=limit + 1
    )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            {"r": last.received_at.isoformat(), "s": last.source, "w": last.webhook_id}
        )
    return DeadLetterPage(
        items=[WebhookDeliverySummary.model_validate(delivery) for delivery in page], next_cursor=next_cursor
    )


@router.get(
    "/deliveries/{source}/{webhook_id}",
    summary="A delivery: status, attempts, last error, payload and result",
    responses=problem_responses(401, 403, 404),
)
async def get_delivery(
    source: SourceName, webhook_id: WebhookId, session: SessionDep, _: Admin
) -> WebhookDeliveryPublic:
    delivery, status = await service.get_delivery(session, source, webhook_id)
    return _public(delivery, status)


@router.post(
    "/deliveries/{source}/{webhook_id}/retry",
    summary="Requeue a dead-lettered delivery with a fresh set of attempts",
    responses=problem_responses(401, 403, 404, 409),
)
async def retry_delivery(
    source: SourceName, webhook_id: WebhookId, session: SessionDep, _: Admin
) -> WebhookDeliveryPublic:
    return _public(await service.retry_dead(session, source, webhook_id))
