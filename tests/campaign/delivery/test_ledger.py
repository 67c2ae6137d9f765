import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench._sinks import WebhookSink
from campaign.channels.senders import ChannelSenders
from campaign.channels.types import Channel
from campaign.delivery import service
from campaign.delivery.consumers import CUSTOMER_ERASED, CUSTOMER_MERGED, delivery_consumer
from campaign.delivery.worker import DeliveryWorker
from campaign.settings import CampaignSettings
from crm_common.events import EventEnvelope
from tests.campaign.delivery.support import (
    add_content,
    add_members,
    campaign_with_content,
    drain,
    enqueue,
    ledger,
    outbox_payloads,
    statuses,
)

CAPS = [
    {"channel": None, "max": 3, "window_hours": 24},
    {"channel": "email", "max": 2, "window_hours": 24},
    {"channel": None, "max": 10, "window_hours": 168},
]


async def test_a_paused_campaign_is_not_claimed_until_resumed_and_cancel_stops_it(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    customers = await add_members(campaign_engine, 10)
    paused = await campaign_with_content(sessions, customers)
    cancelled = await campaign_with_content(sessions, customers)
    async with sessions() as session, session.begin():
        await service.pause_campaign(session, paused)
        await service.pause_campaign(session, cancelled)
    worker = DeliveryWorker(delivery_settings, sessions, senders)
    await drain(worker)
    assert await statuses(campaign_engine, paused) == Counter(pending=10)
    assert sink.requests == 0

    async with sessions() as session, session.begin():
        await service.resume_campaign(session, paused)
        assert await service.cancel_campaign(session, cancelled) == 10
        await service.resume_campaign(session, cancelled)  # a cancelled campaign stays cancelled
    await drain(worker)
    assert await statuses(campaign_engine, paused) == Counter(sent=10)
    assert await statuses(campaign_engine, cancelled) == Counter(cancelled=10)
    assert sink.requests == 10


async def test_rows_of_a_worker_that_died_after_claiming_are_resent_with_the_same_id_after_the_lease(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    customers = await add_members(campaign_engine, 5)
    campaign_id = await campaign_with_content(sessions, customers)
    now = datetime.now(UTC)
    policy = DeliveryWorker(delivery_settings, sessions, senders).policy
    async with sessions() as session, session.begin():  # the dead worker's claim, committed, never sent
        claimed = await service.claim_batch(
            session, policy, owner="dead", now=now, lease=timedelta(seconds=30), limit=100
        )
    assert len(claimed.ready) == 5
    survivor = DeliveryWorker(delivery_settings, sessions, senders, owner="survivor")
    await drain(survivor)
    assert await statuses(campaign_engine, campaign_id) == Counter(sending=5)  # lease still running

    later = DeliveryWorker(
        delivery_settings, sessions, senders, owner="later", clock=lambda: now + timedelta(seconds=31)
    )
    await drain(later)
    rows = await ledger(campaign_engine, campaign_id)
    assert {(row["status"], row["attempts"]) for row in rows} == {("sent", 2)}
    assert set(sink.ids) == {str(item.row.id) for item in claimed.ready}
    # The counted cap slot was taken once, by the first claim: the re-send does not count twice.
    assert all(row["cap_counted_at"] == now for row in rows)


async def test_frequency_caps_hold_with_many_campaigns_and_concurrent_workers(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
) -> None:
    settings = delivery_settings.model_copy(
        update={"delivery_frequency_caps": CAPS, "delivery_claim_batch": 25}
    )
    customers = await add_members(campaign_engine, 30)
    campaigns = []
    for number in range(12):
        channel = Channel.EMAIL if number % 3 == 0 else Channel.IN_APP
        campaigns.append(await campaign_with_content(sessions, customers, channel=channel))
    # SMTP is not running here: email goes through a sender that accepts everything (the cap is
    # decided before sending, so the channel does not matter for what is measured).
    transactional = await campaign_with_content(
        sessions, customers, channel=Channel.IN_APP, purpose="service"
    )

    class AcceptAll:
        async def send(self, channel, messages):
            from campaign.channels.types import OutcomeKind, SendOutcome

            if channel == Channel.EMAIL:
                await asyncio.sleep(0.001)
                return [SendOutcome(OutcomeKind.SENT)] * len(messages)
            return await senders.send(channel, messages)

    workers = [DeliveryWorker(settings, sessions, AcceptAll(), owner=f"w{i}") for i in range(6)]
    await asyncio.gather(*(drain(worker, idle_rounds=2) for worker in workers))

    async with campaign_engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT customer_id, channel, status, reason FROM delivery WHERE purpose = 'marketing'")
            )
        ).all()
    sent = Counter(row.customer_id for row in rows if row.status == "sent")
    sent_email = Counter(row.customer_id for row in rows if row.status == "sent" and row.channel == "email")
    assert set(sent.values()) == {3}  # each customer got exactly the cap, no more
    assert max(sent_email.values(), default=0) <= 2
    assert {row.reason for row in rows if row.status != "sent"} == {"frequency_cap"}
    assert await statuses(campaign_engine, transactional) == Counter(sent=30)  # not capped


async def test_a_message_due_in_quiet_hours_is_held_until_they_end_in_the_customers_zone(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    settings = delivery_settings.model_copy(
        update={"delivery_quiet_hours_start": "21:00", "delivery_quiet_hours_end": "08:00"}
    )
    new_york = await add_members(campaign_engine, 3, time_zone="America/New_York")
    seoul = await add_members(campaign_engine, 1, time_zone="Asia/Seoul")
    marketing = await campaign_with_content(sessions, [*new_york, *seoul])
    service_message = await campaign_with_content(sessions, new_york, purpose="service")
    # 2027-03-14 06:30 UTC: 01:30 EST in New York (the night clocks spring forward), 15:30 in Seoul.
    # (The worker's clock must be after enqueue time, so the autumn change is covered in test_policy.)
    night = datetime(2027, 3, 14, 6, 30, tzinfo=UTC)
    clock = {"now": night}
    worker = DeliveryWorker(settings, sessions, senders, clock=lambda: clock["now"])
    await drain(worker)

    rows = {row["customer_id"]: row for row in await ledger(campaign_engine, marketing)}
    assert rows[seoul[0]]["status"] == "sent"
    eight_edt = datetime(2027, 3, 14, 12, 0, tzinfo=UTC)  # 08:00 EDT; it would be 13:00 UTC in EST
    for customer_id in new_york:
        row = rows[customer_id]
        assert row["status"] == "held"
        assert eight_edt <= row["not_before_at"] < eight_edt + timedelta(minutes=60)
        assert row["attempts"] == 0 and row["cap_counted_at"] is None
    assert await statuses(campaign_engine, service_message) == Counter(sent=3)  # quiet hours: marketing only

    clock["now"] = eight_edt + timedelta(minutes=30)
    await drain(worker)
    released = [r for r in await ledger(campaign_engine, marketing) if r["customer_id"] in new_york]
    sent_now = {r["status"] for r in released if r["not_before_at"] <= clock["now"]}
    assert sent_now <= {"sent"}
    clock["now"] = eight_edt + timedelta(minutes=61)
    await drain(worker)
    assert await statuses(campaign_engine, marketing) == Counter(sent=4)


async def test_responses_are_recorded_once_publish_events_and_suppress(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
) -> None:
    customers = await add_members(campaign_engine, 3)
    campaign_id = await campaign_with_content(sessions, customers, channel=Channel.SMS)
    await drain(DeliveryWorker(delivery_settings, sessions, senders))
    rows = {row["customer_id"]: row for row in await ledger(campaign_engine, campaign_id)}
    opener, bouncer, quitter = (rows[c]["id"] for c in customers)
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    async with sessions() as session, session.begin():
        assert await service.record_response(session, opener, "opened", occurred_at=at)
        assert not await service.record_response(session, opener, "opened", occurred_at=at)
        assert await service.record_response(
            session, opener, "clicked", occurred_at=at, url="https://a.example"
        )
        assert await service.record_response(
            session, opener, "clicked", occurred_at=at, url="https://b.example"
        )
        assert not await service.record_response(
            session, opener, "clicked", occurred_at=at, url="https://a.example"
        )
        assert await service.record_response(session, bouncer, "bounced", occurred_at=at, reason="hard")
        assert await service.record_response(session, quitter, "unsubscribed", occurred_at=at)
        assert not await service.record_response(session, uuid.uuid4(), "opened", occurred_at=at)

    async with sessions() as session:
        assert await service.responded(
            session, campaign_id, "s1", customers, ["opened", "clicked"], at - timedelta(hours=1)
        ) == {customers[0]}
        (stats,) = await service.variant_stats(session, campaign_id)
        assert (stats.sent, stats.opened, stats.clicked, stats.bounced, stats.unsubscribed) == (3, 1, 1, 1, 1)
        suppressions = await service.list_suppressions(session, after=None, limit=10)
        message = await service.get_message(session, opener)
    assert message.responses == ["clicked", "opened"]
    assert sorted((s.reason, s.channel, s.purpose) for s in suppressions) == [
        ("hard_bounce", "sms", None),
        ("unsubscribe", "sms", "marketing"),
    ]
    clicks = await outbox_payloads(campaign_engine, "message.clicked")
    assert sorted(p["url"] for p in clicks) == ["https://a.example", "https://b.example"]
    assert [p["reason"] for p in await outbox_payloads(campaign_engine, "message.bounced")] == ["hard"]


async def _handle(sessions: async_sessionmaker[AsyncSession], subject: str, payload: dict) -> None:
    envelope = EventEnvelope(type=subject.split(".", 2)[2], producer="identity", payload=payload)
    async with sessions() as session, session.begin():
        await delivery_consumer.handlers[subject](session, envelope)


async def test_erasure_cancels_pending_messages_and_forgets_suppressions(
    sessions: async_sessionmaker[AsyncSession], campaign_engine: AsyncEngine
) -> None:
    erased, merged_into_erased, kept = await add_members(campaign_engine, 3)
    campaign_id = await campaign_with_content(sessions, [erased, merged_into_erased, kept])
    async with sessions() as session, session.begin():
        await service.add_suppression(session, erased, None, "manual")
        await service.add_suppression(session, kept, None, "manual")
    payload = {"customer_id": str(erased), "merged_ids": [str(merged_into_erased)]}
    await _handle(sessions, CUSTOMER_ERASED, payload)
    await _handle(sessions, CUSTOMER_ERASED, payload)  # a repeat changes nothing
    rows = {row["customer_id"]: row["status"] for row in await ledger(campaign_engine, campaign_id)}
    assert rows == {erased: "cancelled", merged_into_erased: "cancelled", kept: "pending"}
    async with sessions() as session:
        assert [s.customer_id for s in await service.list_suppressions(session, after=None, limit=10)] == [
            kept
        ]


async def test_a_merge_moves_pending_messages_to_the_survivor_unless_it_has_that_message(
    sessions: async_sessionmaker[AsyncSession], campaign_engine: AsyncEngine
) -> None:
    survivor, merged = await add_members(campaign_engine, 2)
    both = uuid.uuid4()
    content = await add_content(sessions, both)
    await enqueue(sessions, [survivor, merged], campaign_id=both, content_id=content)
    only_merged = await campaign_with_content(sessions, [merged])
    await _handle(sessions, CUSTOMER_MERGED, {"survivor_id": str(survivor), "merged_id": str(merged)})
    await _handle(sessions, CUSTOMER_MERGED, {"survivor_id": str(survivor), "merged_id": str(merged)})
    assert {(r["customer_id"], r["status"]) for r in await ledger(campaign_engine, both)} == {
        (survivor, "pending"),
        (merged, "cancelled"),
    }
    assert {(r["customer_id"], r["status"]) for r in await ledger(campaign_engine, only_merged)} == {
        (survivor, "pending")
    }
