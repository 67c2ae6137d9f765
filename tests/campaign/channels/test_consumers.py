"""The channels consumer: idea status notifications become in-app messages; erasures reach the inbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign.channels import service as channels
from campaign.channels.consumers import IDEA_STATUS_CAMPAIGN_ID
from campaign.channels.senders import ChannelSenders
from campaign.channels.templates import render
from campaign.channels.types import Channel, MessageContent, OutgoingMessage, Purpose, RenderedMessage
from campaign.delivery import service as delivery
from campaign.settings import CampaignSettings
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.support import count_rows, deliver

CONTEXT: dict[str, Any] = {"customer": {"id": str(uuid.uuid4())}, "recommendations": []}


def notification(customer_id: uuid.UUID, status_change_id: uuid.UUID, **extra: Any) -> EventEnvelope:
    """The envelope feedback's fan-out writes (feedback/notifications/repository.py), schema version 1."""
    payload = {
        "customer_id": str(customer_id),
        "idea_id": str(uuid.uuid4()),
        "status_change_id": str(status_change_id),
        "title": "Dark mode",
        "from_status": "under_review",
        "to_status": "planned",
        "response": "Coming in March.",
        "reasons": ["voter"],
        **extra,
    }
    return EventEnvelope(
        type="idea.status_notification", producer="feedback", subject_id=str(customer_id), payload=payload
    )


async def test_each_recipient_gets_one_in_app_message_even_when_the_event_repeats(
    channels_runner: ConsumerRunner, sessions: async_sessionmaker[AsyncSession]
) -> None:
    voter, follower, change = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # The third is a republish: a new event id, the same recipient and status change.
    for envelope in (
        notification(voter, change),
        notification(follower, change),
        notification(voter, change),
    ):
        assert await deliver(channels_runner, envelope)
    async with sessions() as session:
        [message] = (await delivery.message_history(session, voter, after=None, limit=10)).items
        assert len((await delivery.message_history(session, follower, after=None, limit=10)).items) == 1
    assert (message.campaign_id, message.step_id, message.channel, message.purpose, message.status) == (
        IDEA_STATUS_CAMPAIGN_ID,
        str(change),
        "in_app",
        "transactional",
        "pending",
    )


async def stored_content(sessions: async_sessionmaker[AsyncSession], change: uuid.UUID) -> MessageContent:
    async with sessions() as session:
        content = await channels.find_content(
            session, campaign_id=IDEA_STATUS_CAMPAIGN_ID, step_id=str(change), variant_key="default"
        )
    assert content is not None
    return content


async def test_the_message_tells_the_status_change_and_the_response(
    channels_runner: ConsumerRunner,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    change = uuid.uuid4()
    assert await deliver(channels_runner, notification(uuid.uuid4(), change))
    content = await stored_content(sessions, change)
    assert (content.channel, content.purpose) == (Channel.IN_APP, Purpose.TRANSACTIONAL)
    rendered = render(content, CONTEXT, message_id=uuid.uuid4(), settings=campaign_settings)
    assert rendered.subject == "Your idea is now planned"
    assert rendered.body == "Dark mode moved from under review to planned.\n\nComing in March."
    assert rendered.payload["kind"] == "idea_status"
    assert rendered.payload["to_status"] == "planned"


async def test_the_idea_title_is_never_read_as_template_syntax(
    channels_runner: ConsumerRunner,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    change = uuid.uuid4()
    title = 'Add {{ customer.__class__ }} {% raw %} "support" \\ 😀'
    assert await deliver(
        channels_runner, notification(uuid.uuid4(), change, title=title, response=None, from_status=None)
    )
    rendered = render(
        await stored_content(sessions, change), CONTEXT, message_id=uuid.uuid4(), settings=campaign_settings
    )
    assert rendered.body == f"{title} is now planned."


async def test_a_notification_breaking_the_contract_is_dead_lettered(
    channels_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    broken = EventEnvelope(
        type="idea.status_notification", producer="feedback", subject_id="x", payload={"title": 1}
    )
    assert await deliver(channels_runner, broken)
    assert await count_rows(campaign_engine, "dead_letter_event") == 1


async def inbox_ids(sessions: async_sessionmaker[AsyncSession], customer_id: uuid.UUID) -> list[uuid.UUID]:
    async with sessions() as session:
        messages, _ = await channels.inbox_page(session, customer_id, unread=None, after=None, limit=50)
    return [m.id for m in messages]


async def put_in_inbox(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, *customer_ids: uuid.UUID
) -> list[uuid.UUID]:
    senders = ChannelSenders(settings, sessions)
    await senders.start()
    messages = [
        OutgoingMessage(
            message_id=uuid.uuid4(),
            campaign_id=uuid.uuid4(),
            step_id="s",
            variant_key="a",
            customer_id=customer_id,
            channel=Channel.IN_APP,
            purpose=Purpose.MARKETING,
            address=str(customer_id),
            rendered=RenderedMessage(subject=None, body=f"for {customer_id}"),
        )
        for customer_id in customer_ids
    ]
    try:
        await senders.send(Channel.IN_APP, messages)
    finally:
        await senders.close()
    return [m.message_id for m in messages]


def identity_event(event_type: str, **payload: Any) -> EventEnvelope:
    return EventEnvelope(
        type=event_type,
        producer="identity",
        subject_id=str(next(iter(payload.values()))),
        payload={k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in payload.items()},
    )


async def test_an_erasure_deletes_the_customers_in_app_messages_and_no_one_elses(
    channels_runner: ConsumerRunner,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    erased, merged_away, bystander = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await put_in_inbox(sessions, campaign_settings, erased, merged_away, bystander)
    event = identity_event("customer.erased", customer_id=erased, merged_ids=[str(merged_away)])
    assert await deliver(channels_runner, event)
    assert await inbox_ids(sessions, erased) == [] == await inbox_ids(sessions, merged_away)
    assert len(await inbox_ids(sessions, bystander)) == 1


async def test_a_merge_moves_the_merged_customers_messages_to_the_survivor(
    channels_runner: ConsumerRunner,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    [kept, moved] = await put_in_inbox(sessions, campaign_settings, survivor, merged)
    event = identity_event("customer.merged", survivor_id=survivor, merged_id=merged)
    assert await deliver(channels_runner, event)
    assert await deliver(
        channels_runner, identity_event("customer.merged", survivor_id=survivor, merged_id=merged)
    )
    assert sorted(await inbox_ids(sessions, survivor)) == sorted([kept, moved])
    assert await inbox_ids(sessions, merged) == []
