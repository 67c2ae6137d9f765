"""End to end inside the service: feedback's notification → ledger → delivery worker → inbox API → opened."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.channels.consumers import IDEA_STATUS_CAMPAIGN_ID
from campaign.channels.senders import ChannelSenders
from campaign.delivery import service as delivery
from campaign.delivery.worker import DeliveryWorker
from campaign.settings import CampaignSettings
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.channels.test_consumers import notification
from tests.campaign.support import customer_created, deliver
from tests.support import bearer, customer_token


async def test_a_voter_reads_the_status_change_in_the_app_and_it_counts_as_opened(
    channels_runner: ConsumerRunner,
    audience_runner: ConsumerRunner,
    channels_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    voter, change = uuid.uuid4(), uuid.uuid4()
    assert await deliver(audience_runner, customer_created(voter, display_name="Kim Min-jun"))
    assert await deliver(channels_runner, notification(voter, change, title="Dark <mode>"))

    senders = ChannelSenders(campaign_settings, sessions)
    await senders.start()
    try:
        assert await DeliveryWorker(campaign_settings, sessions, senders).run_once() == 1
    finally:
        await senders.close()

    headers = bearer(customer_token(voter))
    [item] = (await channels_client.get("/v1/me/messages", headers=headers)).json()["items"]
    assert item["subject"] == "Your idea is now planned"
    assert item["body"] == "Dark <mode> moved from under review to planned.\n\nComing in March."
    assert item["payload"]["kind"] == "idea_status"
    async with sessions() as session:
        message = await delivery.get_message(session, uuid.UUID(item["id"]))
    assert (message.campaign_id, message.status) == (IDEA_STATUS_CAMPAIGN_ID, "sent")

    assert (
        await channels_client.post(f"/v1/me/messages/{item['id']}/read", headers=headers)
    ).status_code == 200
    async with sessions() as session:
        assert (await delivery.get_message(session, message.id)).responses == ["opened"]
