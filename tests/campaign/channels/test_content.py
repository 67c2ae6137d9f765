"""Message content: stored per (campaign, step, variant), replaced in place, loaded in one query."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.channels import service
from campaign.channels.types import Channel, MessageContent, Purpose


async def test_upsert_then_load_returns_the_content(sessions: async_sessionmaker[AsyncSession]) -> None:
    campaign_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        content_id = await service.upsert_content(
            session,
            campaign_id=campaign_id,
            step_id="welcome",
            variant_key="a",
            channel="push",
            purpose=Purpose.MARKETING,
            subject="Hi {{ customer.first_name }}",
            body="Body",
            payload_template={"title": "{{ customer.city }}", "n": 1},
        )
    async with sessions() as session:
        loaded = await service.load_contents(session, [content_id, uuid.uuid4(), content_id])
    assert loaded == {
        content_id: MessageContent(
            id=content_id,
            campaign_id=campaign_id,
            step_id="welcome",
            variant_key="a",
            channel=Channel.PUSH,
            purpose=Purpose.MARKETING,
            subject="Hi {{ customer.first_name }}",
            body="Body",
            payload_template={"title": "{{ customer.city }}", "n": 1},
        )
    }
    assert loaded[content_id].channel is Channel.PUSH


async def test_saving_the_same_variant_again_replaces_its_text_and_keeps_its_id(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    campaign_id = uuid.uuid4()
    common = {"campaign_id": campaign_id, "step_id": "s", "channel": Channel.EMAIL, "purpose": "marketing"}
    async with sessions() as session, session.begin():
        first = await service.upsert_content(session, variant_key="a", subject="Old", body="old", **common)
        other = await service.upsert_content(session, variant_key="b", subject="B", body="b", **common)
        again = await service.upsert_content(session, variant_key="a", subject="New", body="new", **common)
    assert again == first != other
    async with sessions() as session:
        loaded = await service.load_contents(session, [first, other])
    assert (loaded[first].subject, loaded[first].body, loaded[first].payload_template) == ("New", "new", {})
    assert loaded[other].body == "b"


async def test_loading_no_ids_asks_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await service.load_contents(session, []) == {}
