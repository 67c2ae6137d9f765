"""Shipped mappings: a partner's payload → one identify record with its touchpoint.

A source's configuration names its mapping (``webhook_sources`` in the settings). A mapping reads its
payload tolerantly (fields it does not know are ignored) and raises :class:`MappingError` with the
reason when it cannot use a payload: retrying would not change the payload, so such a delivery is
dead-lettered at once. WEBHOOKS.md documents each payload; tests/identity/webhooks/samples/ has one of each.

A payload comes bare or wrapped as Standard Webhooks recommends (``{"type", "timestamp", "data"}``);
the envelope's timestamp is then the fallback for when the event happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    ValidationError,
)

from crm_common.validation import MultiLineText, SingleLineText
from identity.resolution.schemas import IdentifyRequest
from identity.timeline.models import Channel
from identity.webhooks.errors import MappingError

Name = Annotated[SingleLineText, Field(max_length=200)]
PartnerId = Annotated[SingleLineText, Field(max_length=200)]
Amount = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=4)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# The identifier family's rule (`social:<platform>`), lower-cased first so "Instagram" is accepted.
Platform = Annotated[
    str,
    BeforeValidator(lambda value: value.strip().lower() if isinstance(value, str) else value),
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$"),
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class _Envelope(_Payload):
    """Standard Webhooks' recommended payload shape."""

    type: str
    timestamp: AwareDatetime | None = None
    data: dict[str, Any]


# -- payloads ------------------------------------------------------------------------------------


class OrderAddress(_Payload):
    line1: Name | None = None
    line2: Name | None = None
    city: Name | None = None
    postcode: Annotated[SingleLineText, Field(max_length=20)] | None = None
    state: Name | None = None
    country: Name | None = None


class OrderCustomer(_Payload):
    id: PartnerId | None = Field(None, description="The partner's own customer id → `external:<source>`.")
    email: Annotated[str, Field(max_length=320)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    name: Name | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    address: OrderAddress | None = None


class OrderItem(_Payload):
    sku: PartnerId
    name: Name | None = None
    category: Name | None = None
    price: Amount = Field(description="Unit price.")
    quantity: int = Field(1, ge=1, le=100_000)


class OrderEvent(_Payload):
    """An e-commerce order (mapping ``order``)."""

    model_config = ConfigDict(title="OrderWebhook")

    order_id: PartnerId
    placed_at: AwareDatetime | None = None
    customer: OrderCustomer
    total: Amount
    currency: Currency
    items: list[OrderItem] = Field(default_factory=list, max_length=1000)


class CallRecordEvent(_Payload):
    """A call-center call record (mapping ``call_record``)."""

    model_config = ConfigDict(title="CallRecordWebhook")

    call_id: PartnerId
    caller_phone: Annotated[str, Field(max_length=40)] | None = None
    caller_name: Name | None = None
    customer_id: PartnerId | None = Field(None, description="The partner's own customer id, if it knows one.")
    email: Annotated[str, Field(max_length=320)] | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    started_at: AwareDatetime | None = None
    duration_seconds: int = Field(0, ge=0, le=86_400)
    outcome: Literal["answered", "missed", "abandoned"]
    agent_id: PartnerId | None = None
    agent_name: Name | None = None
    queue: Name | None = None
    reason: Name | None = None


class SocialMentionEvent(_Payload):
    """A post that mentions the brand (mapping ``social_mention``)."""

    model_config = ConfigDict(title="SocialMentionWebhook")

    mention_id: PartnerId
    platform: Platform
    handle: Annotated[str, Field(min_length=1, max_length=100)]
    author_name: Name | None = None
    text: Annotated[MultiLineText, Field(max_length=10_000)] | None = None
    sentiment: Literal["positive", "neutral", "negative", "mixed"] | None = None
    sentiment_score: float | None = Field(None, ge=-1, le=1, allow_inf_nan=False)
    url: HttpUrl | None = None
    posted_at: AwareDatetime | None = None


class StoreVisitEvent(_Payload):
    """A visit to a physical store, e.g. a loyalty card scanned at the till (mapping ``store_visit``)."""

    model_config = ConfigDict(title="StoreVisitWebhook")

    visit_id: PartnerId
    store_id: PartnerId
    store_name: Name | None = None
    loyalty_number: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    customer_name: Name | None = None
    visited_at: AwareDatetime | None = None
    duration_minutes: int | None = Field(None, ge=0, le=24 * 60)
    purchase_total: Amount | None = None
    currency: Currency | None = None


# -- mapping -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingContext:
    """What a mapping knows besides the payload."""

    source: str
    webhook_id: str
    received_at: datetime
    channel: Channel | None = None  # the source's override of the mapping's channel


P = TypeVar("P", bound=_Payload)


@dataclass(frozen=True)
class ShippedMapping(Generic[P]):
    payload: type[P]
    build: Callable[[P, MappingContext, datetime], dict[str, Any]]
    """Builds the identify record (IdentifyRequest-shaped) from a valid payload and its time."""


def map_payload(mapping: str, body: dict[str, Any], context: MappingContext) -> IdentifyRequest:
    """The identify record for one delivery's body; MappingError names why it cannot be made."""
    shipped = MAPPINGS.get(mapping)
    if shipped is None:
        raise MappingError(f"no shipped mapping is called {mapping!r}")
    data, sent_at = _unwrap(body)
    event = _validated(shipped.payload, data, f"{mapping} payload")
    record = shipped.build(event, context, sent_at or context.received_at)
    return _validated(IdentifyRequest, record, f"{mapping} payload made an identify record that")


def _unwrap(body: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
    if isinstance(body.get("data"), dict) and isinstance(body.get("type"), str):
        envelope = _validated(_Envelope, body, "Standard Webhooks envelope")
        return envelope.data, envelope.timestamp
    return body, None


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], data: dict[str, Any], what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise MappingError(f"{what} is not valid: {problems}") from exc


def _identifiers(*candidates: tuple[str, str | None], what: str) -> list[dict[str, str]]:
    found = [{"type": kind, "value": value} for kind, value in candidates if value]
    if not found:
        raise MappingError(f"no identifier: {what}")
    return found


def _facts(**values: Any) -> dict[str, Any]:
    """A touchpoint payload without the facts the partner did not send."""
    return {key: value for key, value in values.items() if value is not None}


def _amount(value: Decimal | None) -> str | None:
    # Exact decimal strings: a float would turn 0.1 + 0.2 into 0.30000000000000004.
    return None if value is None else format(value, "f")


def _touchpoint(
    context: MappingContext,
    default: Channel,
    kind: str,
    occurred_at: datetime,
    external_id: str,
    facts: dict[str, Any],
) -> dict[str, Any]:
    return {
        "channel": (context.channel or default).value,
        "type": kind,
        "occurred_at": occurred_at,
        "external_id": external_id,
        "payload": facts,
    }


def _order(event: OrderEvent, context: MappingContext, fallback_time: datetime) -> dict[str, Any]:
    customer = event.customer
    occurred_at = event.placed_at or fallback_time
    address = customer.address or OrderAddress()
    street = ", ".join(line for line in (address.line1, address.line2) if line) or None
    return {
        "identifiers": _identifiers(
            ("email", customer.email),
            ("phone", customer.phone),
            (f"external:{context.source}", customer.id),
            what="the order needs customer.email, customer.phone or customer.id",
        ),
        "traits": _facts(
            name=customer.name,
            given_name=customer.first_name,
            surname=customer.last_name,
            address=street,
            city=address.city,
            postcode=address.postcode,
            state=address.state,
            country=address.country,
        ),
        "source": context.source,
        "observed_at": occurred_at,
        "touchpoint": _touchpoint(
            context,
            Channel.PARTNER,
            "order_placed",
            occurred_at,
            event.order_id,
            _facts(
                order_id=event.order_id,
                total=_amount(event.total),
                currency=event.currency,
                item_count=sum(item.quantity for item in event.items),
                items=[
                    _facts(
                        sku=item.sku,
                        name=item.name,
                        category=item.category,
                        price=_amount(item.price),
                        quantity=item.quantity,
                    )
                    for item in event.items
                ],
            ),
        ),
    }


def _call_record(event: CallRecordEvent, context: MappingContext, fallback_time: datetime) -> dict[str, Any]:
    occurred_at = event.started_at or fallback_time
    return {
        "identifiers": _identifiers(
            ("phone", event.caller_phone),
            ("email", event.email),
            (f"external:{context.source}", event.customer_id),
            what="the call record needs caller_phone, email or customer_id",
        ),
        "traits": _facts(name=event.caller_name),
        "source": context.source,
        "observed_at": occurred_at,
        "touchpoint": _touchpoint(
            context,
            Channel.CALL_CENTER,
            "call",
            occurred_at,
            event.call_id,
            _facts(
                call_id=event.call_id,
                direction=event.direction,
                outcome=event.outcome,
                duration_seconds=event.duration_seconds,
                agent_id=event.agent_id,
                agent_name=event.agent_name,
                queue=event.queue,
                reason=event.reason,
            ),
        ),
    }


def _social_mention(
    event: SocialMentionEvent, context: MappingContext, fallback_time: datetime
) -> dict[str, Any]:
    occurred_at = event.posted_at or fallback_time
    return {
        "identifiers": [{"type": f"social:{event.platform}", "value": event.handle}],
        "traits": _facts(name=event.author_name),
        "source": context.source,
        "observed_at": occurred_at,
        "touchpoint": _touchpoint(
            context,
            Channel.SOCIAL,
            "mention",
            occurred_at,
            event.mention_id,
            _facts(
                mention_id=event.mention_id,
                platform=event.platform,
                handle=event.handle,
                text=event.text,
                sentiment=event.sentiment,
                sentiment_score=event.sentiment_score,
                url=None if event.url is None else str(event.url),
            ),
        ),
    }


def _store_visit(event: StoreVisitEvent, context: MappingContext, fallback_time: datetime) -> dict[str, Any]:
    occurred_at = event.visited_at or fallback_time
    return {
        "identifiers": _identifiers(
            ("loyalty", event.loyalty_number),
            ("phone", event.phone),
            ("email", event.email),
            what="the store visit needs loyalty_number, phone or email",
        ),
        "traits": _facts(name=event.customer_name),
        "source": context.source,
        "observed_at": occurred_at,
        "touchpoint": _touchpoint(
            context,
            Channel.STORE,
            "store_visit",
            occurred_at,
            event.visit_id,
            _facts(
                visit_id=event.visit_id,
                store_id=event.store_id,
                store_name=event.store_name,
                duration_minutes=event.duration_minutes,
                purchase_total=_amount(event.purchase_total),
                currency=event.currency,
            ),
        ),
    }


MAPPINGS: dict[str, ShippedMapping[Any]] = {
    "order": ShippedMapping(OrderEvent, _order),
    "call_record": ShippedMapping(CallRecordEvent, _call_record),
    "social_mention": ShippedMapping(SocialMentionEvent, _social_mention),
    "store_visit": ShippedMapping(StoreVisitEvent, _store_visit),
}
