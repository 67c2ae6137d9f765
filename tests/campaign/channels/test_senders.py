"""The senders against real servers on loopback: aiosmtpd, a uvicorn HTTP sink, PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from campaign.channels.models import InboxMessage
from campaign.channels.senders import ChannelSenders, outcome_of_status
from campaign.channels.tracking import TokenKind, TokenSigner
from campaign.channels.types import Channel, OutcomeKind, OutgoingMessage, Purpose, RenderedMessage
from campaign.settings import CampaignSettings
from tests.campaign.channels.conftest import SmtpInbox, WebhookSink, free_port


def outgoing(
    channel: Channel, address: str, *, customer_id: uuid.UUID | None = None, body: str = "<p>Hi</p>"
) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=uuid.uuid4(),
        campaign_id=uuid.uuid4(),
        step_id="s1",
        variant_key="a",
        customer_id=customer_id or uuid.uuid4(),
        channel=channel,
        purpose=Purpose.MARKETING,
        address=address,
        rendered=RenderedMessage(subject="Hello 한국", body=body, payload={"title": "T"}),
    )


@pytest.fixture
async def senders(
    channel_settings: CampaignSettings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ChannelSenders]:
    senders = ChannelSenders(channel_settings, sessions)
    await senders.start()
    yield senders
    await senders.close()


async def test_email_goes_out_over_smtp_with_message_id_and_one_click_unsubscribe(
    senders: ChannelSenders, smtp_server: tuple[SmtpInbox, int], channel_settings: CampaignSettings
) -> None:
    inbox, _ = smtp_server
    message = outgoing(Channel.EMAIL, "mj@example.com")
    assert await senders.send(Channel.EMAIL, [message]) == [outcome_of_status(200)]
    [received] = inbox.messages
    assert inbox.envelopes[0][1] == ["mj@example.com"]
    assert received["Message-ID"] == f"<{message.message_id}@{channel_settings.email_message_id_domain}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(received["List-Unsubscribe"]).strip().strip("<>")
    token = url.rsplit("/", 1)[1]
    assert url.startswith(f"{channel_settings.public_base_url}/t/u/")
    verified = TokenSigner(channel_settings.tracking_secret).verify(token, TokenKind.UNSUBSCRIBE)
    assert verified is not None and verified.message_id == message.message_id
    assert received.get_content_type() == "multipart/alternative"
    html_part, text_part = received.get_body(("html",)), received.get_body(("plain",))
    assert html_part is not None and text_part is not None
    assert "<p>Hi</p>" in html_part.get_content()
    assert text_part.get_content().replace("\r\n", "\n") == f"Hi\n\nUnsubscribe: {url}\n"


async def test_smtp_connections_are_reused_across_a_batch(
    senders: ChannelSenders, smtp_server: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp_server
    outcomes = await senders.send(
        Channel.EMAIL, [outgoing(Channel.EMAIL, f"c{i}@example.com") for i in range(12)]
    )
    assert {o.kind for o in outcomes} == {OutcomeKind.SENT}
    assert len(inbox.messages) == 12
    assert inbox.connections <= 2  # smtp_pool_size


async def test_smtp_4xx_is_transient_and_5xx_permanent_and_the_rest_of_the_batch_goes(
    senders: ChannelSenders, smtp_server: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp_server
    outcomes = await senders.send(
        Channel.EMAIL,
        [
            outgoing(Channel.EMAIL, "soft@example.com"),
            outgoing(Channel.EMAIL, "hard@example.com"),
            outgoing(Channel.EMAIL, "ok@example.com"),
            outgoing(Channel.EMAIL, "not-an-address"),
        ],
    )
    assert [o.kind for o in outcomes] == [
        OutcomeKind.TRANSIENT,
        OutcomeKind.PERMANENT,
        OutcomeKind.SENT,
        OutcomeKind.PERMANENT,
    ]
    assert "451" in (outcomes[0].detail or "") and "550" in (outcomes[1].detail or "")
    assert [e[1] for e in inbox.envelopes] == [["ok@example.com"]]


async def test_an_unreachable_smtp_server_is_transient(
    channel_settings: CampaignSettings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    senders = ChannelSenders(channel_settings.model_copy(update={"smtp_port": free_port()}), sessions)
    await senders.start()
    try:
        [outcome] = await senders.send(Channel.EMAIL, [outgoing(Channel.EMAIL, "mj@example.com")])
    finally:
        await senders.close()
    assert outcome.kind is OutcomeKind.TRANSIENT


async def test_webhooks_are_signed_with_standard_webhooks_and_carry_the_message(
    senders: ChannelSenders, webhook_sink: WebhookSink, channel_settings: CampaignSettings
) -> None:
    message = outgoing(Channel.SMS, "+821012345678", body="Hi there")
    assert [o.kind for o in await senders.send(Channel.SMS, [message])] == [OutcomeKind.SENT]
    [request] = webhook_sink.requests
    assert request.path == "/sms"
    assert request.headers["webhook-id"] == str(message.message_id)
    Webhook(channel_settings.webhook_signing_secret).verify(request.body, request.headers)
    assert request.json == {
        "message_id": str(message.message_id),
        "campaign_id": str(message.campaign_id),
        "step_id": "s1",
        "variant_key": "a",
        "channel": "sms",
        "purpose": "marketing",
        "customer_id": str(message.customer_id),
        "address": "+821012345678",
        "subject": "Hello 한국",
        "body": "Hi there",
        "payload": {"title": "T"},
    }


async def test_a_tampered_webhook_fails_verification(
    senders: ChannelSenders, webhook_sink: WebhookSink, channel_settings: CampaignSettings
) -> None:
    await senders.send(Channel.PUSH, [outgoing(Channel.PUSH, "c")])
    [request] = webhook_sink.requests
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(channel_settings.webhook_signing_secret).verify(
            request.body.replace(b'"c"', b'"d"'), request.headers
        )


async def test_webhook_statuses_map_to_outcomes_in_batch_order(senders: ChannelSenders) -> None:
    addresses = ["status:200", "status:429", "status:500", "status:400", "status:503", "status:404", "slow"]
    outcomes = await senders.send(Channel.SMS, [outgoing(Channel.SMS, a) for a in addresses])
    assert [o.kind for o in outcomes] == [
        OutcomeKind.SENT,
        OutcomeKind.TRANSIENT,
        OutcomeKind.TRANSIENT,
        OutcomeKind.PERMANENT,
        OutcomeKind.TRANSIENT,
        OutcomeKind.PERMANENT,
        OutcomeKind.TRANSIENT,  # timed out
    ]
    assert outcomes[1].retry_after_seconds == 7.0
    assert outcomes[4].retry_after_seconds == 7.0
    assert outcomes[2].retry_after_seconds is None


async def test_a_channel_without_a_provider_url_is_retried_not_suppressed(
    senders: ChannelSenders, webhook_sink: WebhookSink
) -> None:
    [outcome] = await senders.send(Channel.WEBHOOK, [outgoing(Channel.WEBHOOK, "c")])
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert webhook_sink.requests == []


def test_the_plain_text_part_keeps_words_and_links_and_drops_markup() -> None:
    from campaign.channels.senders import _plain_text

    body = (
        "<html><head><style>p{color:red}</style></head><body><h1>Sale &amp; more</h1>"
        '<p>Hi <b>Kim</b>,<br>see <a href="https://t.example/t/c/x" style="a">our shop</a></p>'
        '<img src="https://t.example/t/o/y"></body></html>'
    )
    assert _plain_text(body, "https://u") == (
        "Sale & more\nHi Kim,\nsee our shop (https://t.example/t/c/x)\n\nUnsubscribe: https://u\n"
    )


def test_retry_after_as_an_http_date() -> None:
    from email.utils import format_datetime

    later = datetime.now(UTC).replace(microsecond=0)
    outcome = outcome_of_status(429, format_datetime(later.replace(year=later.year + 1), usegmt=True))
    assert outcome.retry_after_seconds == 86_400.0  # capped
    assert outcome_of_status(503, "garbage").retry_after_seconds is None


async def test_in_app_messages_land_in_the_inbox_once_even_when_retried(
    senders: ChannelSenders, sessions: async_sessionmaker[AsyncSession]
) -> None:
    customer_id = uuid.uuid4()
    batch = [
        outgoing(Channel.IN_APP, str(customer_id), customer_id=customer_id, body=f"m{i}") for i in range(3)
    ]
    assert {o.kind for o in await senders.send(Channel.IN_APP, batch)} == {OutcomeKind.SENT}
    assert {o.kind for o in await senders.send(Channel.IN_APP, batch[:2])} == {OutcomeKind.SENT}
    async with sessions() as session:
        rows = (
            await session.execute(select(InboxMessage).where(col(InboxMessage.customer_id) == customer_id))
        ).scalars()
        stored = {row.id: row for row in rows}
    assert set(stored) == {m.message_id for m in batch}
    assert stored[batch[0].message_id].body == "m0"
    assert stored[batch[0].message_id].payload == {"title": "T"}
    assert stored[batch[0].message_id].read_at is None


async def test_in_app_with_the_database_away_is_transient_for_the_whole_batch(
    campaign_settings: CampaignSettings,
) -> None:
    from crm_common.db import create_engine, session_factory

    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere", pool_size=1)
    senders = ChannelSenders(campaign_settings, session_factory(engine))
    await senders.start()
    try:
        customer_id = uuid.uuid4()
        batch = [outgoing(Channel.IN_APP, str(customer_id), customer_id=customer_id) for _ in range(2)]
        outcomes = await senders.send(Channel.IN_APP, batch)
    finally:
        await senders.close()
        await engine.dispose()
    assert [o.kind for o in outcomes] == [OutcomeKind.TRANSIENT, OutcomeKind.TRANSIENT]
