"""Email end to end in the service: ledger → worker → real SMTP → the reader clicks and unsubscribes."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.channels import service as channels
from campaign.channels.senders import ChannelSenders
from campaign.channels.types import Channel, Purpose
from campaign.delivery import service as delivery
from campaign.delivery.worker import DeliveryWorker
from campaign.settings import CampaignSettings
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.channels.conftest import SmtpInbox
from tests.campaign.support import customer_created, deliver


async def test_an_email_goes_out_its_link_redirects_and_one_click_unsubscribe_suppresses(
    audience_runner: ConsumerRunner,
    channels_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    channel_settings: CampaignSettings,
    smtp_server: tuple[SmtpInbox, int],
) -> None:
    settings = channel_settings.model_copy(update={"public_base_url": "http://testserver"})
    customer_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    assert await deliver(
        audience_runner, customer_created(customer_id, display_name="Kim", email="kim@example.com")
    )
    async with sessions() as session, session.begin():
        content_id = await channels.upsert_content(
            session,
            campaign_id=campaign_id,
            step_id="order",
            variant_key="a",
            channel=Channel.EMAIL,
            purpose=Purpose.TRANSACTIONAL,
            subject="Thanks {{ customer.first_name }}",
            body='<p>Hi {{ customer.first_name }}</p><a href="https://shop.example/orders/1">Your order</a>',
        )
        await delivery.enqueue(
            session,
            [
                delivery.SendRequest(
                    campaign_id=campaign_id,
                    step_id="order",
                    variant_key="a",
                    customer_id=customer_id,
                    channel=Channel.EMAIL,
                    purpose=Purpose.TRANSACTIONAL,
                    content_id=content_id,
                )
            ],
        )
    senders = ChannelSenders(settings, sessions)
    await senders.start()
    try:
        assert await DeliveryWorker(settings, sessions, senders).run_once() == 1
    finally:
        await senders.close()

    inbox, _ = smtp_server
    [email] = inbox.messages
    assert email["Subject"] == "Thanks Kim" and email["To"] == "kim@example.com"
    message_id = uuid.UUID(str(email["Message-ID"]).strip("<>").split("@")[0])
    html = email.get_body().get_content()  # type: ignore[union-attr]
    [link] = re.findall(r'href="http://testserver(/t/c/[^"]+)"', html)

    clicked = await channels_client.get(link)
    assert (clicked.status_code, clicked.headers["location"]) == (302, "https://shop.example/orders/1")
    unsubscribe = str(email["List-Unsubscribe"]).strip().strip("<>").removeprefix("http://testserver")
    assert (
        await channels_client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    ).status_code == 200

    async with sessions() as session:
        message = await delivery.get_message(session, message_id)
        suppressions = await delivery.list_suppressions(
            session, after=None, limit=10, customer_id=customer_id
        )
    assert message.status == "sent"
    assert message.responses == ["clicked", "opened", "unsubscribed"]
    assert [(s.reason, s.channel, s.purpose) for s in suppressions] == [
        ("unsubscribe", "email", "transactional")
    ]
