import asyncio
import uuid
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench._sinks import WebhookSink
from campaign.channels.senders import ChannelSenders
from campaign.channels.types import Channel
from campaign.delivery import service
from campaign.delivery.worker import DeliveryWorker
from campaign.settings import CampaignSettings
from tests.campaign.delivery.support import (
    add_content,
    add_members,
    campaign_with_content,
    drain,
    enqueue,
    ledger,
    outbox_payloads,
    outbox_types,
    statuses,
)


async def test_enqueue_adds_each_ledger_key_once(
    sessions: async_sessionmaker[AsyncSession], campaign_engine: AsyncEngine
) -> None:
    customers = await add_members(campaign_engine, 3)
    campaign_id = uuid.uuid4()
    content_id = await add_content(sessions, campaign_id)
    assert await enqueue(sessions, customers, campaign_id=campaign_id, content_id=content_id) == 3
    assert await enqueue(sessions, customers, campaign_id=campaign_id, content_id=content_id) == 0
    assert (
        await enqueue(sessions, customers[:1], campaign_id=campaign_id, content_id=content_id, occurrence=1)
        == 1
    )
    assert await statuses(campaign_engine, campaign_id) == Counter(pending=4)


async def test_worker_sends_each_message_with_its_id_as_webhook_id_and_publishes_sent(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    customers = await add_members(campaign_engine, 25)
    campaign_id = await campaign_with_content(sessions, customers)
    await drain(DeliveryWorker(delivery_settings, sessions, senders))

    rows = await ledger(campaign_engine, campaign_id)
    assert {row["status"] for row in rows} == {"sent"}
    assert all(row["sent_at"] is not None and row["lease_owner"] is None for row in rows)
    assert set(sink.ids) == {str(row["id"]) for row in rows}
    assert set(sink.ids.values()) == {1}
    sent = await outbox_payloads(campaign_engine, "message.sent")
    assert {p["message_id"] for p in sent} == {str(row["id"]) for row in rows}
    assert {p["campaign_id"] for p in sent} == {str(campaign_id)}
    assert all(p["channel"] == "webhook" and p["purpose"] == "marketing" for p in sent)


async def test_marketing_needs_consent_but_transactional_does_not(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    refused = await add_members(campaign_engine, 2, consents={"webhook:marketing": False})
    silent = await add_members(campaign_engine, 2, consents={})
    granted = await add_members(campaign_engine, 2, consents={"webhook:marketing": True})
    marketing = await campaign_with_content(sessions, [*refused, *silent, *granted])
    transactional = await campaign_with_content(sessions, [*refused, *silent], purpose="transactional")
    await drain(DeliveryWorker(delivery_settings, sessions, senders))

    by_customer = {row["customer_id"]: row for row in await ledger(campaign_engine, marketing)}
    assert {by_customer[c]["status"] for c in granted} == {"sent"}
    assert {(by_customer[c]["status"], by_customer[c]["reason"]) for c in [*refused, *silent]} == {
        ("suppressed", "no_consent")
    }
    assert await statuses(campaign_engine, transactional) == Counter(sent=4)
    suppressed = await outbox_payloads(campaign_engine, "message.suppressed")
    assert sorted(p["reason"] for p in suppressed) == ["no_consent"] * 4


async def test_in_app_marketing_is_allowed_unless_explicitly_refused(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
) -> None:
    silent = await add_members(campaign_engine, 1, consents={})
    refused = await add_members(campaign_engine, 1, consents={"in_app:marketing": False})
    campaign_id = await campaign_with_content(sessions, [*silent, *refused], channel=Channel.IN_APP)
    await drain(DeliveryWorker(delivery_settings, sessions, senders))
    by_customer = {row["customer_id"]: row["status"] for row in await ledger(campaign_engine, campaign_id)}
    assert by_customer == {silent[0]: "sent", refused[0]: "suppressed"}


async def test_a_message_without_an_address_is_suppressed(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
) -> None:
    customers = await add_members(campaign_engine, 1, phone=False)
    campaign_id = await campaign_with_content(sessions, customers, channel=Channel.SMS)
    await drain(DeliveryWorker(delivery_settings, sessions, senders))
    (row,) = await ledger(campaign_engine, campaign_id)
    assert (row["status"], row["reason"]) == ("suppressed", "no_address")


async def test_suppressions_added_after_enqueue_are_honoured_at_send_time(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
) -> None:
    by_customer_id, by_phone, unsubscribed, free = await add_members(campaign_engine, 4)
    campaign_id = await campaign_with_content(
        sessions, [by_customer_id, by_phone, unsubscribed, free], channel=Channel.SMS
    )
    service_campaign = await campaign_with_content(
        sessions, [unsubscribed], channel=Channel.SMS, purpose="service"
    )
    async with sessions() as session, session.begin():
        await service.add_suppression(session, by_customer_id, None, "manual")
        phone = f"+8210{by_phone.int % 10**8:08d}"
        await service.add_suppression(session, phone, "sms", "hard_bounce")
        await service.add_suppression(session, unsubscribed, "sms", "unsubscribe")
    await drain(DeliveryWorker(delivery_settings, sessions, senders))

    by_customer = {
        row["customer_id"]: (row["status"], row["reason"])
        for row in await ledger(campaign_engine, campaign_id)
    }
    assert by_customer == {
        by_customer_id: ("suppressed", "suppressed_address"),
        by_phone: ("suppressed", "suppressed_address"),
        unsubscribed: ("suppressed", "suppressed_address"),
        free: ("sent", None),
    }
    # A marketing unsubscribe does not stop service messages.
    assert await statuses(campaign_engine, service_campaign) == Counter(sent=1)


async def test_transient_failures_go_back_to_pending_with_backoff_and_then_send(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    tries: Counter[str] = Counter()

    def flaky(webhook_id: str, _body: bytes) -> int:
        tries[webhook_id] += 1
        return 503 if tries[webhook_id] <= 2 else 200

    sink.respond = flaky
    customers = await add_members(campaign_engine, 5)
    campaign_id = await campaign_with_content(sessions, customers)
    worker = DeliveryWorker(delivery_settings, sessions, senders)
    await worker.run_once()
    rows = await ledger(campaign_engine, campaign_id)
    assert {row["status"] for row in rows} == {"pending"}
    assert all(row["not_before_at"] > row["updated_at"] for row in rows)  # backed off, not due at once
    assert all("503" in (row["last_error"] or "") or row["last_error"] for row in rows)

    for _ in range(200):
        if (await statuses(campaign_engine, campaign_id)).get("sent") == 5:
            break
        await worker.run_once()
        await asyncio.sleep(0.02)
    rows = await ledger(campaign_engine, campaign_id)
    assert {(row["status"], row["attempts"]) for row in rows} == {("sent", 3)}
    assert set(sink.ids.values()) == {1}


async def test_a_message_failing_transiently_too_often_is_failed(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    sink.respond = lambda _id, _body: 503
    settings = delivery_settings.model_copy(update={"delivery_max_attempts": 2})
    customers = await add_members(campaign_engine, 1)
    campaign_id = await campaign_with_content(sessions, customers)
    worker = DeliveryWorker(settings, sessions, senders)
    for _ in range(200):
        if (await statuses(campaign_engine, campaign_id)).get("failed"):
            break
        await worker.run_once()
        await asyncio.sleep(0.02)
    (row,) = await ledger(campaign_engine, campaign_id)
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "max_attempts", 2)
    assert [p["reason"] for p in await outbox_payloads(campaign_engine, "message.failed")] == ["max_attempts"]


async def test_a_permanent_failure_fails_the_message_and_suppresses_the_address(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
    sink: WebhookSink,
) -> None:
    sink.respond = lambda _id, _body: 400
    customers = await add_members(campaign_engine, 1)
    first = await campaign_with_content(sessions, customers, channel=Channel.SMS)
    await drain(DeliveryWorker(delivery_settings, sessions, senders))
    (row,) = await ledger(campaign_engine, first)
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "permanent", 1)
    async with sessions() as session:
        (suppression,) = await service.list_suppressions(session, after=None, limit=10)
    assert (suppression.channel, suppression.reason, suppression.address) == (
        "sms",
        "hard_bounce",
        f"+8210{customers[0].int % 10**8:08d}",
    )

    sink.respond = lambda _id, _body: 200
    second = await campaign_with_content(sessions, customers, channel=Channel.SMS)
    await drain(DeliveryWorker(delivery_settings, sessions, senders))
    (again,) = await ledger(campaign_engine, second)
    assert (again["status"], again["reason"]) == ("suppressed", "suppressed_address")
    assert sink.requests == 1
    assert (await outbox_types(campaign_engine))["message.failed"] == 1


async def test_a_template_that_cannot_render_suppresses_only_that_message(
    sessions: async_sessionmaker[AsyncSession],
    campaign_engine: AsyncEngine,
    delivery_settings: CampaignSettings,
    senders: ChannelSenders,
) -> None:
    customers = await add_members(campaign_engine, 2)
    campaign_id = await campaign_with_content(sessions, customers, body="Hi {{ customer.nickname.first }}")
    await drain(DeliveryWorker(delivery_settings, sessions, senders))
    rows = await ledger(campaign_engine, campaign_id)
    assert {(row["status"], row["reason"]) for row in rows} == {("suppressed", "template_error")}
    assert all(row["cap_counted_at"] is None for row in rows)
