import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign.audience import service
from crm_common.db import session_factory
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.support import (
    consent_changed,
    count_rows,
    customer_created,
    customer_updated,
    deliver,
    deliver_all,
    event,
    item,
    order_placed,
    row_version,
    rows,
    scalar,
    stored_member,
    touchpoint,
)

NOW = datetime.now(UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def _customer(runner: ConsumerRunner, **extra: object) -> uuid.UUID:
    customer_id = uuid.uuid4()
    await deliver_all(runner, customer_created(customer_id, **extra))  # type: ignore[arg-type]
    return customer_id


async def test_created_customer_takes_traits_phone_and_a_time_zone_from_the_country(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(
        audience_runner,
        phone="+821012345678",
        traits={"city": "서울", "country": "KR", "time_zone": "Mars/Base"},
    )

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None
    assert (member.phone, member.traits["city"], member.time_zone) == ("+821012345678", "서울", "Asia/Seoul")
    assert (member.lifecycle_stage, member.value_tier, member.order_count) == ("prospect", "low", 0)


async def test_a_valid_profile_time_zone_wins_and_no_zone_at_all_falls_back_to_the_default(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    zoned = await _customer(audience_runner, traits={"time_zone": "Europe/Berlin", "country": "KR"})
    unknown = await _customer(audience_runner, traits={"country": "ZZ"})

    assert (await stored_member(campaign_engine, zoned)).time_zone == "Europe/Berlin"  # type: ignore[union-attr]
    assert (await stored_member(campaign_engine, unknown)).time_zone == "Asia/Seoul"  # type: ignore[union-attr]


async def test_consent_only_update_changes_consents_and_leaves_the_profile(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner, display_name="Kim", traits={"city": "부산"})

    await deliver_all(
        audience_runner,
        consent_changed(customer_id, "email", "marketing", True),
        consent_changed(customer_id, "sms", "marketing", False),
    )

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None
    assert member.consents == {"email:marketing": True, "sms:marketing": False}
    assert (member.display_name, member.traits) == ("Kim", {"city": "부산"})


async def test_profile_update_replaces_the_fields_it_carries(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner, display_name="Kim", email="old@example.com")

    await deliver_all(
        audience_runner, customer_updated(customer_id, email="new@example.com", traits={"country": "JP"})
    )

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None
    assert (member.display_name, member.email, member.time_zone) == ("Kim", "new@example.com", "Asia/Tokyo")


async def test_orders_give_counts_totals_top_categories_and_an_active_stage(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)

    await deliver_all(
        audience_runner,
        order_placed(customer_id, days_ago(60), [item("s1", "shoes", 50_000), item("b1", "bags", 30_000)]),
        order_placed(customer_id, days_ago(10), [item("s2", "shoes", 70_000, quantity=2)]),
    )

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None
    assert (member.order_count, member.order_total, member.avg_order_value) == (
        2,
        Decimal("220000.00"),
        Decimal("110000.00"),
    )
    assert member.top_categories == ["shoes", "bags"]
    assert member.last_order_at is not None and abs(member.last_order_at - days_ago(10)) < timedelta(
        seconds=1
    )
    assert member.lifecycle_stage == "active"
    # Default cut points: 10 days → R 5, 2 orders → F 2, 220k → M 4: 11 → high.
    assert (member.rfm_recency, member.rfm_frequency, member.rfm_monetary) == (5, 2, 4)
    assert (member.value_tier, member.rfm_segment) == ("high", "promising")


async def test_lifecycle_stage_follows_the_order_dates(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    stages = {}
    for label, first, last in [
        ("new", 5, 5),
        ("active", 200, 40),
        ("at_risk", 300, 120),
        ("lapsed", 400, 200),
    ]:
        customer_id = await _customer(audience_runner)
        await deliver_all(
            audience_runner,
            order_placed(customer_id, days_ago(first), [item("x", "misc", 1000)]),
            order_placed(customer_id, days_ago(last), [item("y", "misc", 1000)]),
        )
        stages[label] = (await stored_member(campaign_engine, customer_id)).lifecycle_stage  # type: ignore[union-attr]

    assert stages == {"new": "new", "active": "active", "at_risk": "at_risk", "lapsed": "lapsed"}


async def test_the_same_order_twice_in_different_events_counts_once(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    first = order_placed(customer_id, days_ago(1), [item("s1", "shoes", 10_000)], order_id="o-1")
    again = order_placed(customer_id, days_ago(1), [item("s1", "shoes", 10_000)], order_id="o-1")

    await deliver_all(audience_runner, first, again)

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None and (member.order_count, member.order_total) == (1, Decimal("10000.00"))


async def test_a_redelivered_event_changes_nothing(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    order = order_placed(customer_id, days_ago(3), [item("s1", "shoes", 10_000)])
    await deliver_all(audience_runner, order)
    version = await row_version(campaign_engine, customer_id)
    activity = await count_rows(campaign_engine, "customer_activity")

    assert await deliver(audience_runner, order, deliveries=2) is True

    assert await row_version(campaign_engine, customer_id) == version
    assert await count_rows(campaign_engine, "customer_activity") == activity
    assert await scalar(campaign_engine, "SELECT sum(purchase_count) FROM product") == 1


async def test_a_handler_applied_twice_changes_nothing(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    # Past the inbox (as after a lost inbox row): the handler itself must be idempotent.
    customer_id = await _customer(audience_runner)
    order = order_placed(customer_id, days_ago(3), [item("s1", "shoes", 10_000, quantity=2)])
    handler = audience_runner.consumer.handlers[order.subject]
    for _ in range(2):
        async with session_factory(campaign_engine)() as session, session.begin():
            await handler(session, order)

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None and member.order_count == 1
    assert await count_rows(campaign_engine, "purchase") == 1
    assert await scalar(campaign_engine, "SELECT purchase_count FROM product WHERE sku = 's1'") == 2


async def test_feedback_complaints_and_advocacy_reach_the_member(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    cid, first, second = str(customer_id), str(uuid.uuid4()), str(uuid.uuid4())

    await deliver_all(
        audience_runner,
        event(
            "feedback",
            "feedback.received",
            {"customer_id": cid, "kind": "nps", "nps": 3, "received_at": days_ago(2).isoformat()},
        ),
        event(
            "feedback",
            "feedback.received",
            {"customer_id": cid, "kind": "nps", "nps": 9, "received_at": days_ago(1).isoformat()},
        ),
        event("feedback", "complaint.opened", {"customer_id": cid, "complaint_id": first, "status": "open"}),
        event("feedback", "complaint.opened", {"customer_id": cid, "complaint_id": second, "status": "open"}),
        event(
            "feedback",
            "complaint.resolved",
            {"customer_id": cid, "complaint_id": first, "status": "resolved"},
        ),
        event("feedback", "advocate.score_changed", {"customer_id": cid, "score": 72.5, "tier": "advocate"}),
    )

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None
    assert (member.latest_nps, member.nps_count) == (9, 2)
    assert (member.open_complaints, member.complaint_count) == (1, 2)
    assert (member.advocate_score, member.advocate_tier) == (72.5, "advocate")


async def test_campaign_responses_set_the_last_message_dates(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    message = {"message_id": str(uuid.uuid4()), "customer_id": str(customer_id), "channel": "email"}

    await deliver_all(
        audience_runner,
        event("campaign", "message.sent", {**message, "occurred_at": days_ago(2).isoformat()}),
        event("campaign", "message.opened", {**message, "occurred_at": days_ago(1).isoformat()}),
    )

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None
    assert member.last_message_at is not None and member.last_opened_at is not None
    assert member.last_opened_at > member.last_message_at
    assert member.last_clicked_at is None


async def test_every_event_is_an_activity_row_and_marks_the_customer_changed(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    async with session_factory(campaign_engine)() as session, session.begin():
        assert customer_id in await service.claim_changed(session, 10)

    await deliver_all(audience_runner, touchpoint(customer_id, "page_view", days_ago(0), {"path": "/shoes"}))

    found = await rows(campaign_engine, "SELECT activity_type, channel FROM customer_activity ORDER BY id")
    assert [tuple(r) for r in found] == [("customer.created", None), ("page_view", "web")]
    async with session_factory(campaign_engine)() as session, session.begin():
        assert await service.claim_changed(session, 10) == [customer_id]
        assert await service.claim_changed(session, 10) == []


async def test_merge_folds_activity_and_aggregates_into_the_survivor(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    survivor, merged = await _customer(audience_runner), await _customer(audience_runner, display_name="Dup")
    await deliver_all(
        audience_runner,
        order_placed(survivor, days_ago(5), [item("a", "shoes", 10_000)]),
        order_placed(merged, days_ago(3), [item("b", "bags", 20_000)]),
    )

    await deliver_all(
        audience_runner,
        event(
            "identity",
            "customer.merged",
            {"survivor_id": str(survivor), "merged_id": str(merged), "customer_id": str(survivor)},
        ),
    )

    member = await stored_member(campaign_engine, survivor)
    assert member is not None and (member.order_count, member.order_total) == (2, Decimal("30000.00"))
    assert await stored_member(campaign_engine, merged) is None
    assert (
        await scalar(
            campaign_engine, "SELECT count(*) FROM customer_activity WHERE customer_id = :id", id=merged
        )
        == 0
    )


async def test_unmerge_recreates_the_restored_member_from_its_own_activity(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    survivor = await _customer(audience_runner, display_name="Survivor")
    restored = await _customer(audience_runner, display_name="Restored", traits={"city": "서울"})
    await deliver_all(
        audience_runner,
        order_placed(survivor, days_ago(5), [item("a", "shoes", 10_000)]),
        order_placed(restored, days_ago(3), [item("b", "bags", 20_000)]),
        event("identity", "customer.merged", {"survivor_id": str(survivor), "merged_id": str(restored)}),
        # After the merge identity re-keys the merged customer's events to the survivor.
        order_placed(survivor, days_ago(1), [item("c", "hats", 5_000)]),
    )

    await deliver_all(
        audience_runner,
        event("identity", "customer.unmerged", {"survivor_id": str(survivor), "restored_id": str(restored)}),
    )

    back = await stored_member(campaign_engine, restored)
    kept = await stored_member(campaign_engine, survivor)
    assert back is not None and kept is not None
    assert (back.display_name, back.traits, back.order_count, back.order_total) == (
        "Restored",
        {"city": "서울"},
        1,
        Decimal("20000.00"),
    )
    assert (kept.order_count, kept.order_total) == (2, Decimal("15000.00"))


async def test_erasure_deletes_the_member_and_a_late_event_does_not_bring_it_back(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    merged = await _customer(audience_runner)
    await deliver_all(
        audience_runner,
        order_placed(customer_id, days_ago(5), [item("a", "shoes", 10_000)]),
        event("identity", "customer.merged", {"survivor_id": str(customer_id), "merged_id": str(merged)}),
    )

    await deliver_all(
        audience_runner,
        event("identity", "customer.erased", {"customer_id": str(customer_id), "merged_ids": [str(merged)]}),
        order_placed(customer_id, days_ago(0), [item("b", "shoes", 10_000)]),
        customer_created(customer_id),
    )

    assert await stored_member(campaign_engine, customer_id) is None
    for table in ("audience_member", "customer_activity", "purchase", "merged_customer"):
        assert await count_rows(campaign_engine, table) == 0, table
    erased = await rows(campaign_engine, "SELECT customer_id FROM erased_customer")
    assert {r.customer_id for r in erased} == {customer_id, merged}


async def test_recommendations_are_unbought_products_of_the_customers_categories_within_the_price_band(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    buyer, others = await _customer(audience_runner), await _customer(audience_runner)
    await deliver_all(
        audience_runner,
        # Catalog as other customers' orders reveal it.
        order_placed(others, days_ago(9), [item("shoe-popular", "shoes", 100_000, quantity=5)]),
        order_placed(others, days_ago(8), [item("shoe-rare", "shoes", 90_000)]),
        order_placed(others, days_ago(7), [item("shoe-luxury", "shoes", 900_000, quantity=9)]),
        order_placed(others, days_ago(6), [item("tent", "camping", 100_000, quantity=9)]),
        # The buyer's own: shoes around 100k.
        order_placed(buyer, days_ago(2), [item("shoe-owned", "shoes", 100_000)]),
    )

    async with session_factory(campaign_engine)() as session:
        found = await service.recommendations(session, [buyer, uuid.uuid4()], limit=3)

    assert [r.sku for r in found[buyer]] == ["shoe-popular", "shoe-rare"]
    assert len(found) == 2 and next(v for k, v in found.items() if k != buyer) == []


async def test_derivation_job_computes_quintiles_and_moves_stages(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine, campaign_settings: object
) -> None:
    ids = []
    for n in range(10):
        customer_id = await _customer(audience_runner)
        await deliver_all(
            audience_runner,
            *[
                order_placed(customer_id, days_ago(5 + n * 30), [item(f"p{n}", "misc", 10_000 * (n + 1))])
                for _ in range(n + 1)
            ],
        )
        ids.append(customer_id)

    async with session_factory(campaign_engine)() as session, session.begin():
        await service.refresh_derivations(session, campaign_settings)  # type: ignore[arg-type]

    best = await stored_member(campaign_engine, ids[0])
    most = await stored_member(campaign_engine, ids[9])
    assert best is not None and most is not None
    assert best.rfm_recency == 5 and best.rfm_frequency == 1
    assert most.rfm_recency == 1 and most.rfm_frequency == 5 and most.rfm_monetary == 5
    cut_points = await scalar(
        campaign_engine, "SELECT cut_points FROM rfm_threshold WHERE dimension = 'frequency'"
    )
    assert [round(c, 6) for c in cut_points] == [2.8, 4.6, 6.4, 8.2]


async def test_render_context_gives_templates_the_customer_and_recommendations(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(
        audience_runner, display_name="Kim Min-jun", traits={"city": "서울", "given_name": "Min-jun"}
    )
    await deliver_all(audience_runner, order_placed(customer_id, days_ago(2), [item("s1", "shoes", 10_000)]))
    member = await stored_member(campaign_engine, customer_id)
    assert member is not None

    context = service.render_context(
        member, [service.ProductRecommendation("s9", "Runner", "shoes", Decimal("12000.00"))]
    )

    customer = context["customer"]
    assert (customer["first_name"], customer["name"], customer["city"]) == ("Min-jun", "Kim Min-jun", "서울")
    assert (customer["lifecycle_stage"], customer["order_count"], customer["traits"]["city"]) == (
        "new",
        1,
        "서울",
    )
    assert context["recommendations"] == [
        {"sku": "s9", "name": "Runner", "category": "shoes", "price": Decimal("12000.00")}
    ]


async def test_an_update_for_a_customer_not_seen_yet_projects_it(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = uuid.uuid4()

    await deliver_all(
        audience_runner,
        customer_updated(customer_id, display_name="Late", created_at=days_ago(1).isoformat(), traits={}),
    )

    member = await stored_member(campaign_engine, customer_id)
    assert member is not None and member.display_name == "Late"


async def test_ideas_votes_and_customer_comments_are_activity_but_staff_and_anonymous_ones_are_not(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    cid, idea = str(customer_id), str(uuid.uuid4())

    await deliver_all(
        audience_runner,
        event("feedback", "idea.submitted", {"idea_id": idea, "author_id": cid, "title": "Dark mode"}),
        event("feedback", "vote.cast", {"idea_id": idea, "customer_id": cid, "direction": "up"}),
        event(
            "feedback",
            "comment.posted",
            {"comment_id": str(uuid.uuid4()), "author_id": cid, "author_kind": "customer"},
        ),
        event(
            "feedback",
            "comment.posted",
            {"comment_id": str(uuid.uuid4()), "author_id": cid, "author_kind": "staff"},
        ),
        event("feedback", "feedback.received", {"customer_id": None, "kind": "csat", "csat": 2}),
    )

    found = await rows(
        campaign_engine,
        "SELECT activity_type FROM customer_activity "
        "WHERE customer_id = :id AND activity_type <> 'customer.created' ORDER BY id",
        id=customer_id,
    )
    assert [r.activity_type for r in found] == ["idea.submitted", "vote.cast", "comment.posted"]
    assert await count_rows(campaign_engine, "customer_activity") == 4
    member = await stored_member(campaign_engine, customer_id)
    assert member is not None and member.last_activity_at is not None


async def test_identitys_echo_of_a_campaign_message_adds_no_second_activity(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = await _customer(audience_runner)
    echo = touchpoint(customer_id, "message.sent", days_ago(0), {"campaign_id": str(uuid.uuid4())})
    echo.payload["source"] = "campaign"

    await deliver_all(audience_runner, echo)

    found = await rows(campaign_engine, "SELECT activity_type FROM customer_activity ORDER BY id")
    assert [r[0] for r in found] == ["customer.created"]
