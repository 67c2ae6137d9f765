"""The in-app inbox API: a customer reads only their own messages; reading one counts as opened."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.channels.senders import ChannelSenders
from campaign.channels.types import Channel, OutgoingMessage, Purpose, RenderedMessage
from campaign.settings import CampaignSettings
from crm_common.auth import Role
from tests.campaign.channels.support import ledger_message, stored_message
from tests.support import bearer, customer_token, staff_token


@pytest.fixture
async def senders(
    campaign_settings: CampaignSettings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ChannelSenders]:
    senders = ChannelSenders(campaign_settings, sessions)
    await senders.start()
    yield senders
    await senders.close()


async def deliver_in_app(
    senders: ChannelSenders, customer_id: uuid.UUID, *bodies: str, message_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    messages = [
        OutgoingMessage(
            message_id=message_id or uuid.uuid4(),
            campaign_id=uuid.uuid4(),
            step_id="s1",
            variant_key="a",
            customer_id=customer_id,
            channel=Channel.IN_APP,
            purpose=Purpose.MARKETING,
            address=str(customer_id),
            rendered=RenderedMessage(subject=f"S {body}", body=body, payload={"deep_link": "app://x"}),
        )
        for body in bodies
    ]
    for message in messages:  # one by one: distinct created_at, a deterministic order
        await senders.send(Channel.IN_APP, [message])
    return [m.message_id for m in messages]


async def test_a_customer_sees_only_their_own_messages_newest_first(
    channels_client: httpx.AsyncClient, senders: ChannelSenders
) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    mine = await deliver_in_app(senders, me, "one", "two")
    await deliver_in_app(senders, other, "theirs")
    response = await channels_client.get("/v1/me/messages", headers=bearer(customer_token(me)))
    assert response.status_code == 200
    page = response.json()
    assert [item["id"] for item in page["items"]] == [str(mine[1]), str(mine[0])]
    assert page["items"][0] | {"created_at": None} == {
        "id": str(mine[1]),
        "subject": "S two",
        "body": "two",
        "payload": {"deep_link": "app://x"},
        "created_at": None,
        "read_at": None,
    }
    assert page["next_cursor"] is None


async def test_pages_follow_the_cursor_and_unread_filters(
    channels_client: httpx.AsyncClient, senders: ChannelSenders
) -> None:
    me = uuid.uuid4()
    ids = await deliver_in_app(senders, me, "a", "b", "c", "d", "e")
    headers = bearer(customer_token(me))
    seen: list[str] = []
    after: str | None = None
    for _ in range(5):
        params: dict[str, str | int] = {"limit": 2} | ({"after": after} if after else {})
        page = (await channels_client.get("/v1/me/messages", params=params, headers=headers)).json()
        seen += [item["id"] for item in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == [str(i) for i in reversed(ids)]

    assert (await channels_client.post(f"/v1/me/messages/{ids[0]}/read", headers=headers)).status_code == 200
    unread = (await channels_client.get("/v1/me/messages", params={"unread": "true"}, headers=headers)).json()
    read = (await channels_client.get("/v1/me/messages", params={"unread": "false"}, headers=headers)).json()
    assert str(ids[0]) not in [item["id"] for item in unread["items"]]
    assert len(unread["items"]) == 4
    assert [item["id"] for item in read["items"]] == [str(ids[0])]


async def test_reading_another_customers_message_is_404_and_leaves_it_unread(
    channels_client: httpx.AsyncClient, senders: ChannelSenders
) -> None:
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    [message_id] = await deliver_in_app(senders, owner, "private")
    response = await channels_client.post(
        f"/v1/me/messages/{message_id}/read", headers=bearer(customer_token(intruder))
    )
    assert response.status_code == 404
    assert "private" not in response.text
    page = (await channels_client.get("/v1/me/messages", headers=bearer(customer_token(owner)))).json()
    assert page["items"][0]["read_at"] is None


async def test_reading_a_message_records_it_opened_once(
    channels_client: httpx.AsyncClient, senders: ChannelSenders, sessions: async_sessionmaker[AsyncSession]
) -> None:
    me = uuid.uuid4()
    message_id = await ledger_message(sessions, customer_id=me, channel=Channel.IN_APP)
    await deliver_in_app(senders, me, "hello", message_id=message_id)
    headers = bearer(customer_token(me))
    first = await channels_client.post(f"/v1/me/messages/{message_id}/read", headers=headers)
    again = await channels_client.post(f"/v1/me/messages/{message_id}/read", headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["read_at"] is not None
    assert again.json()["read_at"] == first.json()["read_at"]
    assert (await stored_message(sessions, message_id)).responses == ["opened"]


async def test_the_inbox_needs_a_customer_token(channels_client: httpx.AsyncClient) -> None:
    assert (await channels_client.get("/v1/me/messages")).status_code == 401
    staff = await channels_client.get("/v1/me/messages", headers=bearer(staff_token(Role.ADMIN)))
    assert staff.status_code == 403


async def test_a_malformed_cursor_is_a_422_naming_after(channels_client: httpx.AsyncClient) -> None:
    headers = bearer(customer_token(uuid.uuid4()))
    for after in ("not-a-cursor", "eyJ4IjoxfQ=="):  # garbage, and valid base64 JSON of the wrong shape
        response = await channels_client.get("/v1/me/messages", params={"after": after}, headers=headers)
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["query.after"]
