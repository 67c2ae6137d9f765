"""HTTP of the channels domain: the in-app inbox, tracking (pixel, links, unsubscribe), provider feedback.

Responses to messages are recorded through ``delivery.service.record_response`` (the ledger is
delivery's); only this module of channels calls delivery.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from campaign.channels import service
from campaign.channels.errors import UnknownChannelProvider
from campaign.channels.models import InboxMessage
from campaign.channels.schemas import (
    InboxMessagePublic,
    InboxPage,
    ProviderEventBatch,
    ProviderEventsAccepted,
)
from campaign.channels.templates import tracking_signer
from campaign.channels.tracking import TokenKind, TrackingToken
from campaign.delivery import service as delivery
from campaign.settings import CampaignSettings
from crm_common.auth import CurrentCustomer
from crm_common.db import SessionDep
from crm_common.errors import FieldError, NotFound, ValidationFailed, problem_responses
from crm_common.validation import NO_CONTROL_CHARACTERS
from crm_common.webhooks import verify_signed_webhook

router = APIRouter()

# The smallest transparent GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
# The unsubscribe pages run no script and load nothing; the form posts back to the same URL.
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
}
TokenPath = Annotated[str, Path(max_length=4000, pattern=r"^[A-Za-z0-9_-]+$")]


def _settings(request: Request) -> CampaignSettings:
    settings: CampaignSettings = request.app.state.settings
    return settings


def _public(message: InboxMessage) -> InboxMessagePublic:
    return InboxMessagePublic(
        id=message.id,
        subject=message.subject,
        body=message.body,
        payload=dict(message.payload or {}),
        created_at=message.created_at,
        read_at=message.read_at,
    )


# ---- the in-app inbox (customer token) ----


@router.get(
    "/v1/me/messages",
    tags=["inbox"],
    summary="The caller's in-app messages, newest first",
    responses=problem_responses(401, 403, 422),
)
async def my_messages(
    session: SessionDep,
    customer: CurrentCustomer,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read.")] = None,
    after: Annotated[str | None, Query(max_length=500, pattern=NO_CONTROL_CHARACTERS)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InboxPage:
    assert customer.customer_id is not None
    messages, next_cursor = await service.inbox_page(
        session, customer.customer_id, unread=unread, after=after, limit=limit
    )
    return InboxPage(items=[_public(m) for m in messages], next_cursor=next_cursor)


@router.post(
    "/v1/me/messages/{message_id}/read",
    tags=["inbox"],
    summary="Mark one of the caller's messages read (counts as opened); repeating it changes nothing",
    responses=problem_responses(401, 403, 404, 422),
)
async def read_message(
    message_id: uuid.UUID, session: SessionDep, customer: CurrentCustomer
) -> InboxMessagePublic:
    assert customer.customer_id is not None
    now = datetime.now(UTC)
    message, first_read = await service.mark_read(session, message_id, customer.customer_id, read_at=now)
    if first_read:
        await delivery.record_response(session, message.id, "opened", occurred_at=now)
    return _public(message)


# ---- tracking (no auth: the signed token is the credential) ----


def _verified(request: Request, token: str, kind: TokenKind) -> TrackingToken:
    verified = tracking_signer(_settings(request)).verify(token, kind)
    if verified is None:
        raise NotFound()  # a forged, altered or foreign token: nothing to say about it
    return verified


@router.get(
    "/t/o/{token}",
    tags=["tracking"],
    summary="Open pixel: a 1x1 GIF; records the message as opened",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}}, **problem_responses(404)},
)
async def open_pixel(request: Request, token: TokenPath, session: SessionDep) -> Response:
    verified = _verified(request, token, TokenKind.OPEN)
    await delivery.record_response(session, verified.message_id, "opened", occurred_at=datetime.now(UTC))
    return Response(PIXEL_GIF, media_type="image/gif", headers=NO_STORE)


@router.get(
    "/t/c/{token}",
    tags=["tracking"],
    summary="Tracked link: redirects to the URL the message linked to; records the click",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "To the original URL."}, **problem_responses(404)},
)
async def click(request: Request, token: TokenPath, session: SessionDep) -> RedirectResponse:
    verified = _verified(request, token, TokenKind.CLICK)
    assert verified.url is not None  # a click token always carries its URL
    now = datetime.now(UTC)
    # A click proves the message was opened, even when the client blocked the pixel.
    await delivery.record_response(session, verified.message_id, "opened", occurred_at=now)
    await delivery.record_response(session, verified.message_id, "clicked", occurred_at=now, url=verified.url)
    return RedirectResponse(verified.url, status_code=302, headers=NO_STORE)


_CONFIRM_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Unsubscribe</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>Unsubscribe</h1><p>Stop receiving these messages?</p>
<form method="post">
<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>
</body></html>"""
_DONE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Unsubscribed</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>You are unsubscribed</h1><p>You will not receive these messages any more.</p>
</body></html>"""


@router.get(
    "/t/u/{token}",
    tags=["tracking"],
    summary="Unsubscribe confirmation page (records nothing: link scanners fetch GETs)",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def unsubscribe_page(request: Request, token: TokenPath) -> HTMLResponse:
    _verified(request, token, TokenKind.UNSUBSCRIBE)
    return HTMLResponse(_CONFIRM_PAGE, headers=PAGE_HEADERS)


@router.post(
    "/t/u/{token}",
    tags=["tracking"],
    summary="Unsubscribe (RFC 8058 one-click or the confirmation form); repeating it changes nothing",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def unsubscribe(request: Request, token: TokenPath, session: SessionDep) -> HTMLResponse:
    verified = _verified(request, token, TokenKind.UNSUBSCRIBE)
    await delivery.record_response(
        session, verified.message_id, "unsubscribed", occurred_at=datetime.now(UTC)
    )
    return HTMLResponse(_DONE_PAGE, headers=PAGE_HEADERS)


# ---- provider feedback (Standard Webhooks signed) ----


@router.post(
    "/v1/channel-events/{provider}",
    tags=["channel events"],
    summary="Delivery reports from a channel provider: delivered, bounced, complained, unsubscribed",
    description="Signed per Standard Webhooks with the provider's secret; verified before anything is read "
    "or stored. Idempotent: a repeated report changes nothing.",
    responses=problem_responses(401, 404, 413, 422),
)
async def provider_events(
    request: Request,
    provider: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")],
    session: SessionDep,
) -> ProviderEventsAccepted:
    secret = _settings(request).channel_provider_secrets.get(provider)
    if not secret:
        raise UnknownChannelProvider(f"No channel provider {provider!r} is configured.")
    body = await request.body()
    verify_signed_webhook(secret, body, request.headers)
    try:
        batch = ProviderEventBatch.model_validate_json(body)
    except ValidationError as exc:
        raise ValidationFailed(
            f"{exc.error_count()} field(s) failed validation.",
            errors=[
                FieldError(
                    field=".".join(["body", *(str(part) for part in err["loc"])]),
                    message=err["msg"],
                    code=err["type"],
                )
                for err in exc.errors()
            ],
        ) from exc
    received_at = datetime.now(UTC)
    recorded = 0
    for event in batch.events:
        reason = event.reason
        if event.type == "bounced":
            # delivery suppresses every bounce whose reason does not start with "soft".
            reason = f"{event.bounce or 'hard'}_bounce" + (f": {event.reason}" if event.reason else "")
        if await delivery.record_response(
            session,
            event.message_id,
            event.type,
            occurred_at=event.occurred_at or received_at,
            reason=reason[:200] if reason else None,
        ):
            recorded += 1
    return ProviderEventsAccepted(received=len(batch.events), recorded=recorded)
