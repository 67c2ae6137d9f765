"""The batch reads the gateway's DataLoaders use: several customers' enrollments, several campaigns by id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import service as campaigns
from campaign.settings import CampaignSettings
from crm_common.auth import Role
from tests.support import bearer, customer_token, staff_token

MARKETER = bearer(staff_token(Role.MARKETER))
ANALYST = bearer(staff_token(Role.ANALYST))
AGENT = bearer(staff_token(Role.AGENT))
JOURNEY: dict[str, Any] = {
    "entry": {"type": "event", "event": "complaint.opened"},
    "steps": [
        {
            "id": "welcome",
            "type": "send",
            "channel": "email",
            "purpose": "marketing",
            "variants": [{"key": "A", "subject": "Hello", "body": "Hi {{ customer.first_name }}"}],
        }
    ],
}


@contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """The SQL statements sent to PostgreSQL while the block runs."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def _draft(client: httpx.AsyncClient, name: str) -> str:
    created = await client.post(
        "/v1/campaigns", json={"name": name, "kind": "journey", "definition": JOURNEY}, headers=MARKETER
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _enroll(
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    campaign_id: str,
    customer_ids: Sequence[uuid.UUID],
    now: datetime,
) -> None:
    async with sessions() as session, session.begin():
        campaign = await campaigns.get_campaign(session, uuid.UUID(campaign_id))
        definition = campaigns.parse_definition(campaign)
        added = await campaigns.enroll_customers(
            session, settings, campaign, definition, customer_ids, now=now
        )
        assert added == len(customer_ids)


async def test_customers_campaigns_gives_each_customer_what_the_single_endpoint_gives(
    campaign_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    spring, autumn = await _draft(campaign_client, "Spring"), await _draft(campaign_client, "Autumn")
    both, one, none = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await _enroll(sessions, settings, spring, [both, one], now - timedelta(days=2))
    await _enroll(sessions, settings, autumn, [both], now)

    response = await campaign_client.get(
        "/v1/customers:campaigns", params={"ids": [str(i) for i in (both, one, none, both)]}, headers=AGENT
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(both), str(one), str(none)}
    assert [e["campaign_id"] for e in items[str(both)]] == [autumn, spring]  # newest entry first
    assert [e["campaign_id"] for e in items[str(one)]] == [spring]
    assert items[str(none)] == []
    for customer_id in (both, one, none):
        single = await campaign_client.get(f"/v1/customers/{customer_id}/campaigns", headers=AGENT)
        assert items[str(customer_id)] == single.json()


async def test_customers_campaigns_reads_the_whole_batch_in_one_query(
    campaign_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    campaign_id = await _draft(campaign_client, "Spring")
    customers = [uuid.uuid4() for _ in range(30)]
    await _enroll(sessions, settings, campaign_id, customers[:10], datetime.now(UTC))

    with recorded_statements() as statements:
        response = await campaign_client.get(
            "/v1/customers:campaigns", params={"ids": [str(i) for i in customers]}, headers=ANALYST
        )

    assert response.status_code == 200
    assert sum(len(enrollments) for enrollments in response.json()["items"].values()) == 10
    assert len([s for s in statements if "campaign_enrollment" in s]) == 1


async def test_campaigns_batch_gives_the_single_shape_and_lists_deleted_and_unknown_as_missing(
    campaign_client: httpx.AsyncClient,
) -> None:
    kept, deleted = await _draft(campaign_client, "Kept"), await _draft(campaign_client, "Deleted")
    assert (await campaign_client.delete(f"/v1/campaigns/{deleted}", headers=MARKETER)).status_code == 204
    unknown = str(uuid.uuid4())

    with recorded_statements() as statements:
        response = await campaign_client.get(
            "/v1/campaigns:batch", params={"ids": [kept, deleted, unknown, kept]}, headers=ANALYST
        )

    assert response.status_code == 200, response.text
    body = response.json()
    single = await campaign_client.get(f"/v1/campaigns/{kept}", headers=ANALYST)
    assert body["items"] == {kept: single.json()}
    assert body["missing"] == [deleted, unknown]
    assert len([s for s in statements if "FROM campaign" in s]) == 1


async def test_campaigns_batch_refuses_agents_as_the_single_get_does(
    campaign_client: httpx.AsyncClient,
) -> None:
    campaign_id = await _draft(campaign_client, "Spring")

    single = await campaign_client.get(f"/v1/campaigns/{campaign_id}", headers=AGENT)
    batch = await campaign_client.get("/v1/campaigns:batch", params={"ids": [campaign_id]}, headers=AGENT)

    assert single.status_code == 403
    assert batch.status_code == 403


@pytest.mark.parametrize("path", ["/v1/campaigns:batch", "/v1/customers:campaigns"])
async def test_batches_refuse_customers_partners_and_anonymous_callers(
    campaign_client: httpx.AsyncClient, path: str
) -> None:
    customer_id = uuid.uuid4()
    params = {"ids": [str(customer_id)]}

    as_customer = await campaign_client.get(path, params=params, headers=bearer(customer_token(customer_id)))
    as_partner = await campaign_client.get(path, params=params, headers=bearer(staff_token(Role.PARTNER)))
    anonymous = await campaign_client.get(path, params=params)

    assert as_customer.status_code == 403
    assert as_partner.status_code == 403
    assert anonymous.status_code == 401


@pytest.mark.parametrize("path", ["/v1/campaigns:batch", "/v1/customers:campaigns"])
async def test_more_than_200_ids_is_a_422_naming_the_field(
    campaign_client: httpx.AsyncClient, path: str
) -> None:
    response = await campaign_client.get(
        path, params={"ids": [str(uuid.uuid4()) for _ in range(201)]}, headers=ANALYST
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.ids"]


@pytest.mark.parametrize("path", ["/v1/campaigns:batch", "/v1/customers:campaigns"])
async def test_a_malformed_or_absent_id_is_a_422_naming_the_field(
    campaign_client: httpx.AsyncClient, path: str
) -> None:
    malformed = await campaign_client.get(path, params={"ids": ["nope", str(uuid.uuid4())]}, headers=ANALYST)
    absent = await campaign_client.get(path, headers=ANALYST)

    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["errors"]] == ["query.ids.0"]
    assert absent.status_code == 422
    assert [e["field"] for e in absent.json()["errors"]] == ["query.ids"]
