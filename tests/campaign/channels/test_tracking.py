"""Tracking endpoints: the signed token is the only credential; forged tokens and open redirects fail."""

from __future__ import annotations

import base64
import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.channels.router import PIXEL_GIF
from campaign.channels.templates import render
from campaign.channels.tracking import TokenKind, TokenSigner
from campaign.channels.types import Channel, MessageContent, Purpose
from campaign.delivery import service as delivery
from campaign.settings import CampaignSettings
from tests.campaign.channels.support import ledger_message, stored_message


def signer(settings: CampaignSettings) -> TokenSigner:
    return TokenSigner(settings.tracking_secret)


def rendered_links(settings: CampaignSettings, message_id: uuid.UUID) -> dict[str, list[str]]:
    """Render an email the way the worker does and collect its tracking paths by kind."""
    content = MessageContent(
        id=uuid.uuid4(),
        campaign_id=uuid.uuid4(),
        step_id="s1",
        variant_key="a",
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        subject="Hi",
        body='<a href="https://shop.example/sale?x=1&amp;y=2">Sale</a>',
    )
    app_settings = settings.model_copy(update={"public_base_url": "http://testserver"})
    body = render(
        content, {"customer": {}, "recommendations": []}, message_id=message_id, settings=app_settings
    ).body
    found: dict[str, list[str]] = {"o": [], "c": [], "u": []}
    for path, kind in re.findall(r"http://testserver(/t/([ocu])/[A-Za-z0-9_-]+)", body):
        found[kind].append(path)
    return found


async def test_the_pixel_is_a_gif_and_records_an_open(
    channels_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    message_id = await ledger_message(sessions)
    [pixel] = rendered_links(campaign_settings, message_id)["o"]
    response = await channels_client.get(pixel)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL_GIF
    assert "no-store" in response.headers["cache-control"]
    assert (await stored_message(sessions, message_id)).responses == ["opened"]


async def test_a_tracked_link_redirects_to_the_original_url_and_records_the_click(
    channels_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    message_id = await ledger_message(sessions)
    [link] = rendered_links(campaign_settings, message_id)["c"]
    response = await channels_client.get(link)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/sale?x=1&y=2"
    await channels_client.get(link)  # a second click on the same link counts once
    assert (await stored_message(sessions, message_id)).responses == ["clicked", "opened"]
    async with sessions() as session:
        stats = await delivery.variant_stats(
            session, (await stored_message(sessions, message_id)).campaign_id
        )
    assert (stats[0].clicked, stats[0].opened) == (1, 1)


async def test_forged_or_altered_tokens_are_404_and_record_nothing(
    channels_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    message_id = await ledger_message(sessions)
    forger = TokenSigner("not-the-tracking-secret")
    genuine = signer(campaign_settings).sign(TokenKind.CLICK, message_id, "https://shop.example/")
    raw = bytearray(base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4)))
    raw[20] ^= 1  # flip one bit of the URL
    altered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for path in (
        f"/t/c/{forger.sign(TokenKind.CLICK, message_id, 'https://evil.example/')}",
        f"/t/c/{altered}",
        f"/t/o/{forger.sign(TokenKind.OPEN, message_id)}",
        "/t/o/AAAA",
        "/t/c/" + "A" * 5000,
        "/t/u/!!!",
    ):
        response = await channels_client.get(path)
        assert response.status_code in (404, 422), path
        assert "evil" not in response.text and "location" not in response.headers
    response = await channels_client.post(f"/t/u/{forger.sign(TokenKind.UNSUBSCRIBE, message_id)}")
    assert response.status_code == 404
    assert (await stored_message(sessions, message_id)).responses == []


async def test_a_token_of_one_kind_cannot_be_used_as_another(
    channels_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    message_id = await ledger_message(sessions)
    [pixel] = rendered_links(campaign_settings, message_id)["o"]
    token = pixel.rsplit("/", 1)[1]
    assert (await channels_client.post(f"/t/u/{token}")).status_code == 404
    assert (await channels_client.get(f"/t/c/{token}")).status_code == 404
    assert (await stored_message(sessions, message_id)).responses == []


async def test_unsubscribe_page_records_nothing_until_posted(
    channels_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    campaign_settings: CampaignSettings,
) -> None:
    message_id = await ledger_message(sessions)
    [link] = rendered_links(campaign_settings, message_id)["u"]
    page = await channels_client.get(link)
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert (await stored_message(sessions, message_id)).responses == []
    # RFC 8058 one-click: the mailbox provider POSTs List-Unsubscribe=One-Click.
    done = await channels_client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert (await channels_client.post(link)).status_code == 200
    message = await stored_message(sessions, message_id)
    assert message.responses == ["unsubscribed"]
    async with sessions() as session:
        suppressions = await delivery.list_suppressions(
            session, after=None, limit=10, customer_id=message.customer_id
        )
    assert [(s.reason, s.channel) for s in suppressions] == [("unsubscribe", "email")]


async def test_a_valid_token_for_an_unknown_message_still_works_for_the_reader(
    channels_client: httpx.AsyncClient, campaign_settings: CampaignSettings
) -> None:
    # The ledger row may be gone (erasure); the reader still gets the page they clicked for.
    token = signer(campaign_settings).sign(TokenKind.CLICK, uuid.uuid4(), "https://shop.example/a")
    response = await channels_client.get(f"/t/c/{token}")
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/a"
