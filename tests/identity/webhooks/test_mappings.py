"""Each shipped mapping turns its sample payload into the identify record the engine expects."""

from __future__ import annotations

import typing
from datetime import UTC, datetime

import pytest

from identity.settings import WebhookMapping
from identity.timeline.models import Channel
from identity.webhooks.errors import MappingError
from identity.webhooks.mappings import MAPPINGS, MappingContext, map_payload
from tests.identity.webhooks.support import sample

RECEIVED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _context(source: str, channel: Channel | None = None) -> MappingContext:
    return MappingContext(source=source, webhook_id="msg_1", received_at=RECEIVED_AT, channel=channel)


def test_every_mapping_a_source_can_name_is_shipped() -> None:
    assert set(MAPPINGS) == set(typing.get_args(WebhookMapping))


def test_order_maps_customer_identifiers_traits_and_items() -> None:
    record = map_payload("order", sample("order"), _context("shop"))

    assert [(i.type, i.value) for i in record.identifiers] == [
        ("email", "Kim.Minjun@example.com"),
        ("phone", "010-2345-6789"),
        ("external:shop", "C-88231"),
    ]
    assert record.source == "shop"
    assert record.traits == {
        "name": "Kim Min-jun",
        "address": "12 Teheran-ro, Apt 301",
        "city": "Seoul",
        "postcode": "06234",
        "country": "KR",
    }
    touchpoint = record.touchpoint
    assert touchpoint is not None
    assert touchpoint.channel is Channel.PARTNER
    assert touchpoint.type == "order_placed"
    assert touchpoint.external_id == "SO-2026-000123"
    assert touchpoint.occurred_at == datetime(2026, 11, 20, 1, 15, tzinfo=UTC)
    assert record.observed_at == touchpoint.occurred_at
    assert touchpoint.payload == {
        "order_id": "SO-2026-000123",
        "total": "128000",
        "currency": "KRW",
        "item_count": 3,
        "items": [
            {
                "sku": "RUN-SHOE-42",
                "name": "Trail running shoe",
                "category": "footwear/running",
                "price": "89000",
                "quantity": 1,
            },
            {
                "sku": "SOCK-3P",
                "name": "Running socks (3 pairs)",
                "category": "apparel/socks",
                "price": "19500",
                "quantity": 2,
            },
        ],
    }


def test_the_sources_channel_overrides_the_mappings() -> None:
    record = map_payload("order", sample("order"), _context("shop", Channel.WEB))
    assert record.touchpoint is not None
    assert record.touchpoint.channel is Channel.WEB


def test_call_record_in_a_standard_webhooks_envelope_maps_caller_and_call_facts() -> None:
    record = map_payload("call_record", sample("call_record"), _context("callcenter"))

    assert [(i.type, i.value) for i in record.identifiers] == [("phone", "+82 10-2345-6789")]
    assert record.traits == {"name": "Kim Min-jun"}
    touchpoint = record.touchpoint
    assert touchpoint is not None
    assert (touchpoint.channel, touchpoint.type, touchpoint.external_id) == (
        Channel.CALL_CENTER,
        "call",
        "CALL-7781",
    )
    assert touchpoint.occurred_at == datetime(2026, 11, 21, 9, 12, 3, tzinfo=UTC)
    assert touchpoint.payload == {
        "call_id": "CALL-7781",
        "direction": "inbound",
        "outcome": "answered",
        "duration_seconds": 312,
        "agent_id": "AG-17",
        "agent_name": "Park Ji-woo",
        "queue": "orders",
        "reason": "delivery status",
    }


def test_social_mention_maps_platform_and_handle_to_a_social_identifier() -> None:
    record = map_payload("social_mention", sample("social_mention"), _context("social"))

    assert [(i.type, i.value) for i in record.identifiers] == [("social:instagram", "@minjun.runs")]
    assert record.traits == {"name": "Min-jun Kim"}
    touchpoint = record.touchpoint
    assert touchpoint is not None
    assert (touchpoint.channel, touchpoint.type, touchpoint.external_id) == (
        Channel.SOCIAL,
        "mention",
        "ig-17945623112",
    )
    assert touchpoint.payload == {
        "mention_id": "ig-17945623112",
        "platform": "instagram",
        "handle": "@minjun.runs",
        "text": "New trail shoes from @brand are amazing on wet rocks!\nBest buy this year.",
        "sentiment": "positive",
        "sentiment_score": 0.87,
        "url": "https://www.instagram.com/p/C0abc123/",
    }


def test_store_visit_maps_the_loyalty_number_and_store() -> None:
    record = map_payload("store_visit", sample("store_visit"), _context("store"))

    assert [(i.type, i.value) for i in record.identifiers] == [
        ("loyalty", "LY-5512-0098"),
        ("phone", "010-2345-6789"),
    ]
    touchpoint = record.touchpoint
    assert touchpoint is not None
    assert (touchpoint.channel, touchpoint.type, touchpoint.external_id) == (
        Channel.STORE,
        "store_visit",
        "V-20261122-0042",
    )
    assert touchpoint.payload == {
        "visit_id": "V-20261122-0042",
        "store_id": "SEL-GN-01",
        "store_name": "Gangnam flagship",
        "duration_minutes": 35,
        "purchase_total": "59000",
        "currency": "KRW",
    }


def test_event_time_falls_back_to_the_envelope_then_to_when_it_was_received() -> None:
    call = sample("call_record")
    del call["data"]["started_at"]
    enveloped = map_payload("call_record", call, _context("callcenter"))
    assert enveloped.touchpoint is not None
    assert enveloped.touchpoint.occurred_at == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)

    visit = sample("store_visit")
    del visit["visited_at"]
    bare = map_payload("store_visit", visit, _context("store"))
    assert bare.touchpoint is not None
    assert bare.touchpoint.occurred_at == RECEIVED_AT


def test_order_without_any_customer_identifier_is_a_mapping_error_naming_what_is_needed() -> None:
    order = sample("order")
    order["customer"] = {"name": "Guest"}
    with pytest.raises(MappingError, match=r"customer\.email, customer\.phone or customer\.id"):
        map_payload("order", order, _context("shop"))


@pytest.mark.parametrize(
    ("mapping", "change", "reason"),
    [
        ("order", lambda p: p.pop("order_id"), r"order_id: Field required"),
        ("order", lambda p: p.update(currency="won"), r"currency"),
        ("order", lambda p: p.update(placed_at="2026-11-20T10:15:00"), r"placed_at: .*timezone"),
        ("call_record", lambda p: p["data"].update(outcome="voicemail"), r"outcome"),
        ("social_mention", lambda p: p.update(platform="Insta gram"), r"platform"),
        ("store_visit", lambda p: p.update(purchase_total=-1), r"purchase_total"),
    ],
)
def test_a_payload_the_mapping_cannot_use_is_a_mapping_error_with_the_field(
    mapping: str, change: typing.Callable[[dict[str, typing.Any]], object], reason: str
) -> None:
    payload = sample(mapping)
    change(payload)
    with pytest.raises(MappingError, match=reason):
        map_payload(mapping, payload, _context("src"))


def test_an_unknown_mapping_name_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="no shipped mapping"):
        map_payload("invoice", {}, _context("src"))
