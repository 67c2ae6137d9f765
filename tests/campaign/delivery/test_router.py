import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign.delivery import service
from crm_common.auth import Role
from tests.campaign.delivery.support import add_content, add_members, enqueue
from tests.support import bearer, customer_token, staff_token


async def test_message_history_pages_newest_first_for_staff_roles(
    campaign_client: httpx.AsyncClient,
    campaign_engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    (customer,) = await add_members(campaign_engine, 1)
    for _ in range(5):
        campaign_id = uuid.uuid4()
        content_id = await add_content(sessions, campaign_id)
        await enqueue(sessions, [customer], campaign_id=campaign_id, content_id=content_id)

    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        response = await campaign_client.get(
            f"/v1/customers/{customer}/messages", params=params, headers=bearer(staff_token(Role.AGENT))
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        assert all(
            item["status"] == "pending" and item["customer_id"] == str(customer) for item in page["items"]
        )
        after = page["next_cursor"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 5

    one = await campaign_client.get(f"/v1/messages/{seen[0]}", headers=bearer(staff_token(Role.ANALYST)))
    assert one.status_code == 200 and one.json()["id"] == seen[0]
    missing = await campaign_client.get(
        f"/v1/messages/{uuid.uuid4()}", headers=bearer(staff_token(Role.ADMIN))
    )
    assert missing.status_code == 404


async def test_message_history_refuses_customers_and_bad_cursors(campaign_client: httpx.AsyncClient) -> None:
    customer = uuid.uuid4()
    as_customer = await campaign_client.get(
        f"/v1/customers/{customer}/messages", headers=bearer(customer_token(customer))
    )
    assert as_customer.status_code == 403
    anonymous = await campaign_client.get(f"/v1/customers/{customer}/messages")
    assert anonymous.status_code == 401
    bad = await campaign_client.get(
        f"/v1/customers/{customer}/messages", params={"after": "bm90IGpzb24"}, headers=bearer(staff_token())
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.after"


async def test_suppressions_can_be_added_listed_and_lifted_by_marketers(
    campaign_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    marketer = bearer(staff_token(Role.MARKETER))
    created = await campaign_client.post(
        "/v1/suppressions", json={"address": "Someone@Example.com", "channel": "email"}, headers=marketer
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["address"], body["channel"], body["reason"]) == ("someone@example.com", "email", "manual")
    again = await campaign_client.post(
        "/v1/suppressions", json={"address": "someone@example.com", "channel": "email"}, headers=marketer
    )
    assert again.json()["id"] == body["id"]

    listed = await campaign_client.get(
        "/v1/suppressions", params={"address": "someone@example.com"}, headers=marketer
    )
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]
    lifted = await campaign_client.delete(f"/v1/suppressions/{body['id']}", headers=marketer)
    assert lifted.status_code == 204
    assert (
        await campaign_client.delete(f"/v1/suppressions/{body['id']}", headers=marketer)
    ).status_code == 404
    async with sessions() as session:
        assert await service.list_suppressions(session, after=None, limit=10) == []


async def test_suppression_input_is_validated_and_agents_may_not_manage_it(
    campaign_client: httpx.AsyncClient,
) -> None:
    both = await campaign_client.post(
        "/v1/suppressions",
        json={"address": "a@example.com", "customer_id": str(uuid.uuid4())},
        headers=bearer(staff_token(Role.ADMIN)),
    )
    assert both.status_code == 422
    bad_channel = await campaign_client.post(
        "/v1/suppressions", json={"address": "a@example.com", "channel": "fax"}, headers=bearer(staff_token())
    )
    assert bad_channel.status_code == 422
    assert any(error["field"].endswith("channel") for error in bad_channel.json()["errors"])
    agent = await campaign_client.post(
        "/v1/suppressions", json={"address": "a@example.com"}, headers=bearer(staff_token(Role.AGENT))
    )
    assert agent.status_code == 403
    listed = await campaign_client.get("/v1/suppressions", headers=bearer(staff_token()))
    assert listed.json()["items"] == []
