"""Subscriptions: what the services announce on NATS, as it happens, filtered for one client.

Served over graphql-transport-ws (``/graphql``, token in ``connection_init``) and over SSE
(``POST`` or ``GET /graphql`` with ``Accept: text/event-stream``, token in the Authorization header).
A subscription delivers events from the moment it starts; read the current state with a query first.
It ends with an error (``extensions.code``) when live events are unavailable
(``LIVE_EVENTS_UNAVAILABLE``) or the client fell too far behind (``SUBSCRIBER_TOO_SLOW``): subscribe
again and refetch.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Self, cast

import jwt
import strawberry
from strawberry.scalars import JSON

from crm_common.auth import Principal
from crm_common.events.envelope import EventEnvelope
from gateway.clients import ErrorCode, GraphError
from gateway.context import GatewayInfo
from gateway.live import LiveEvents
from gateway.live.hub import EventFilter, unavailable
from gateway.live.subjects import (
    ALERT_RAISED,
    CUSTOMER_MERGED,
    CUSTOMER_UNMERGED,
    TOUCHPOINT_RECORDED,
    VOTE_CAST,
)
from gateway.schema.customers import load_customer
from gateway.schema.feedback import TouchpointAlert


@strawberry.type(description="An idea's vote tallies right after a vote was cast, changed or cleared.")
class IdeaVoteTally:
    idea_id: uuid.UUID
    up_count: int
    down_count: int
    net_votes: int = strawberry.field(
        description="upCount - downCount (not the time-decayed ranking score of the idea lists)."
    )
    occurred_at: datetime

    @classmethod
    def from_event(cls, envelope: EventEnvelope) -> Self:
        payload = envelope.payload
        up, down = int(payload["up_count"]), int(payload["down_count"])
        return cls(
            idea_id=uuid.UUID(payload["idea_id"]),
            up_count=up,
            down_count=down,
            net_votes=up - down,
            occurred_at=envelope.occurred_at,
        )


@strawberry.type(description="A new entry on a customer's timeline, as identity recorded it.")
class TouchpointRecorded:
    id: uuid.UUID
    customer_id: uuid.UUID = strawberry.field(
        description="The customer the entry is on: after a merge, the survivor."
    )
    channel: str
    type: str
    occurred_at: datetime
    source: str
    properties: JSON = strawberry.field(
        description="What the channel said about it (an order's total and items, a call's outcome...)."
    )

    @classmethod
    def from_event(cls, envelope: EventEnvelope) -> Self:
        payload = envelope.payload
        return cls(
            id=uuid.UUID(payload["touchpoint_id"]),
            customer_id=uuid.UUID(payload["customer_id"]),
            channel=payload["channel"],
            type=payload["type"],
            occurred_at=datetime.fromisoformat(payload["occurred_at"]),
            source=payload["source"],
            properties=cast(JSON, payload.get("properties") or {}),
        )


def alert_from_event(envelope: EventEnvelope) -> TouchpointAlert:
    """The alert as ``alert.raised`` announces it (not acknowledged yet: it has only just been raised)."""
    payload = envelope.payload
    return TouchpointAlert(
        id=uuid.UUID(payload["alert_id"]),
        touchpoint=payload["touchpoint"],
        window_start=datetime.fromisoformat(payload["window_start"]),
        window_end=datetime.fromisoformat(payload["window_end"]),
        negative_count=int(payload["negative_count"]),
        baseline_rate=float(payload["baseline_rate"]),
        p_value=float(payload["p_value"]),
        method=payload["method"],
        raised_at=envelope.occurred_at,
    )


def _hub(info: GatewayInfo) -> LiveEvents:
    if info.context.live is None:
        raise unavailable()
    return info.context.live


def _token_expiry(info: GatewayInfo) -> float | None:
    """When the caller's token expires: a subscription ends then (the token was verified already)."""
    expires = jwt.decode(info.context.principal.token, options={"verify_signature": False}).get("exp")
    return float(expires) if isinstance(expires, int | float) else None


def _forbidden(message: str) -> GraphError:
    return GraphError(ErrorCode.FORBIDDEN, message)


def _payload_is(key: str, value: str) -> EventFilter:
    return lambda envelope: envelope.payload.get(key) == value


async def subscribe_idea_votes(info: GatewayInfo, idea_id: uuid.UUID) -> AsyncGenerator[IdeaVoteTally, None]:
    # Tallies of published ideas are public: any valid token may follow them. An idea merged into
    # another gets no more votes; the target's tallies arrive with its next vote.
    subscription = _hub(info).subscribe(
        {VOTE_CAST}, _payload_is("idea_id", str(idea_id)), ends_at=_token_expiry(info)
    )
    with subscription as events:
        async for envelope in events:
            yield IdeaVoteTally.from_event(envelope)


def _authorize_timeline(principal: Principal, customer_id: uuid.UUID) -> None:
    """Staff follow anyone's timeline (as identity lets them read it); a customer only their own."""
    if principal.is_staff:
        return
    if principal.customer_id is None or principal.customer_id != customer_id:
        raise _forbidden("A customer token can only follow its own timeline.")


async def subscribe_customer_touchpoints(
    info: GatewayInfo, customer_id: uuid.UUID
) -> AsyncGenerator[TouchpointRecorded, None]:
    """New timeline entries of the customer, following merges.

    Identity records a touchpoint under the id the customer resolves to *then*: after the customer
    is merged into a survivor, its entries carry the survivor's id. So the subscription starts from
    the id identity resolves ``customerId`` to now (a merged-away id resolves to its survivor) and
    follows ``customer.merged`` (adding the survivor) and ``customer.unmerged`` (back to the id
    asked for), so the client keeps seeing the same person's entries.
    """
    principal = info.context.principal
    _authorize_timeline(principal, customer_id)
    hub = _hub(info)
    followed = {str(customer_id)}

    def relevant(envelope: EventEnvelope) -> bool:
        payload = envelope.payload
        if envelope.type == "touchpoint.recorded":
            return payload.get("customer_id") in followed
        if envelope.type == "customer.merged":
            return payload.get("merged_id") in followed
        return payload.get("restored_id") == str(customer_id)  # customer.unmerged

    # Subscribe before asking identity, so that nothing recorded in between is missed.
    subjects = {TOUCHPOINT_RECORDED, CUSTOMER_MERGED, CUSTOMER_UNMERGED}
    with hub.subscribe(subjects, relevant, ends_at=_token_expiry(info)) as events:
        customer = await load_customer(info, customer_id)
        if customer is None:
            raise GraphError(ErrorCode.NOT_FOUND, f"Identity knows no customer {customer_id}.")
        followed.add(str(customer.id))
        async for envelope in events:
            if envelope.type == "customer.merged":
                followed.add(str(envelope.payload["survivor_id"]))
            elif envelope.type == "customer.unmerged":
                followed.intersection_update({str(customer_id)})
            else:
                yield TouchpointRecorded.from_event(envelope)


async def subscribe_touchpoint_alerts(
    info: GatewayInfo,
    touchpoint: Annotated[
        str | None, strawberry.argument(description="Only alerts at this touchpoint; all when omitted.")
    ] = None,
) -> AsyncGenerator[TouchpointAlert, None]:
    if not info.context.principal.is_staff:
        raise _forbidden("Alerts are for staff only.")
    matches: EventFilter = (
        (lambda _envelope: True) if touchpoint is None else _payload_is("touchpoint", touchpoint)
    )
    with _hub(info).subscribe({ALERT_RAISED}, matches, ends_at=_token_expiry(info)) as events:
        async for envelope in events:
            yield alert_from_event(envelope)


@strawberry.type
class Subscription:
    idea_votes: AsyncGenerator[IdeaVoteTally, None] = strawberry.subscription(
        resolver=subscribe_idea_votes,
        description="The idea's tallies on every vote cast, changed or cleared; any signed-in caller.",
    )
    customer_touchpoints: AsyncGenerator[TouchpointRecorded, None] = strawberry.subscription(
        resolver=subscribe_customer_touchpoints,
        description=(
            "New entries on the customer's timeline, following merges. Staff, or the customer "
            "themself; an error with FORBIDDEN otherwise, NOT_FOUND for an unknown customer."
        ),
    )
    touchpoint_alerts: AsyncGenerator[TouchpointAlert, None] = strawberry.subscription(
        resolver=subscribe_touchpoint_alerts,
        description="Negative-feedback spikes as feedback raises them; staff only.",
    )
