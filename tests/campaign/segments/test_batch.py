"""The batch reads the gateway's DataLoaders use: several customers' segments, several segments by id."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crm_common.auth import Role
from tests.campaign.segments.conftest import Population
from tests.support import bearer, customer_token, staff_token

MARKETER = bearer(staff_token(Role.MARKETER))
AGENT = bearer(staff_token(Role.AGENT))
SEOUL = {"field": "traits.city", "op": "eq", "value": "서울"}
BUSAN = {"field": "traits.city", "op": "eq", "value": "부산"}
REPEAT_BUYERS = {"event": "order_placed", "op": "gte", "count": 2}


async def _create(client: httpx.AsyncClient, name: str, rule: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/segments", json={"name": name, "rule": rule}, headers=MARKETER)
    assert response.status_code == 201, response.text
    return dict(response.json())


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


async def test_customers_segments_gives_each_customer_what_the_single_endpoint_gives(
    campaign_client: httpx.AsyncClient, population: Population
) -> None:
    await _create(campaign_client, "Seoul", SEOUL)
    await _create(campaign_client, "Busan", BUSAN)
    await _create(campaign_client, "Repeat buyers", REPEAT_BUYERS)
    stranger = uuid.uuid4()
    ids = [str(i) for i in (population.a, population.b, population.c, stranger, population.a)]

    response = await campaign_client.get("/v1/customers:segments", params={"ids": ids}, headers=AGENT)

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(i) for i in (population.a, population.b, population.c, stranger)}
    assert [s["name"] for s in items[str(population.a)]] == ["Repeat buyers", "Seoul"]
    assert [s["name"] for s in items[str(population.c)]] == ["Busan"]
    assert items[str(stranger)] == []
    for customer_id in (population.a, population.b, population.c, stranger):
        single = await campaign_client.get(f"/v1/customers/{customer_id}/segments", headers=AGENT)
        assert items[str(customer_id)] == single.json()


async def test_customers_segments_reads_the_whole_batch_in_one_query(
    campaign_client: httpx.AsyncClient, population: Population
) -> None:
    await _create(campaign_client, "Seoul", SEOUL)
    await _create(campaign_client, "Repeat buyers", REPEAT_BUYERS)
    ids = [str(i) for i in (*population.everyone, *(uuid.uuid4() for _ in range(20)))]

    with recorded_statements() as statements:
        response = await campaign_client.get("/v1/customers:segments", params={"ids": ids}, headers=AGENT)

    assert response.status_code == 200
    assert len(response.json()["items"]) == 24
    assert len([s for s in statements if "segment_membership" in s]) == 1


async def test_segments_batch_gives_the_single_shape_and_lists_deleted_and_unknown_as_missing(
    campaign_client: httpx.AsyncClient, population: Population
) -> None:
    seoul = await _create(campaign_client, "Seoul", SEOUL)
    busan = await _create(campaign_client, "Busan", BUSAN)
    assert (await campaign_client.delete(f"/v1/segments/{busan['id']}", headers=MARKETER)).status_code == 204
    unknown = str(uuid.uuid4())

    with recorded_statements() as statements:
        response = await campaign_client.get(
            "/v1/segments:batch",
            params={"ids": [seoul["id"], busan["id"], unknown, seoul["id"]]},
            headers=AGENT,
        )

    assert response.status_code == 200, response.text
    body = response.json()
    single = await campaign_client.get(f"/v1/segments/{seoul['id']}", headers=AGENT)
    assert body["items"] == {seoul["id"]: single.json()}
    assert body["missing"] == [busan["id"], unknown]
    assert len([s for s in statements if "FROM segment" in s]) == 1


async def test_batch_of_exactly_200_ids_is_accepted(campaign_client: httpx.AsyncClient) -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)]

    segments = await campaign_client.get("/v1/segments:batch", params={"ids": ids}, headers=AGENT)
    customers = await campaign_client.get("/v1/customers:segments", params={"ids": ids}, headers=AGENT)

    assert segments.status_code == 200 and len(segments.json()["missing"]) == 200
    assert customers.status_code == 200 and len(customers.json()["items"]) == 200


@pytest.mark.parametrize("path", ["/v1/segments:batch", "/v1/customers:segments"])
async def test_more_than_200_ids_is_a_422_naming_the_field(
    campaign_client: httpx.AsyncClient, path: str
) -> None:
    response = await campaign_client.get(
        path, params={"ids": [str(uuid.uuid4()) for _ in range(201)]}, headers=AGENT
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.ids"]


@pytest.mark.parametrize("path", ["/v1/segments:batch", "/v1/customers:segments"])
async def test_a_malformed_or_absent_id_is_a_422_naming_the_field(
    campaign_client: httpx.AsyncClient, path: str
) -> None:
    malformed = await campaign_client.get(path, params={"ids": [str(uuid.uuid4()), "nope"]}, headers=AGENT)
    absent = await campaign_client.get(path, headers=AGENT)

    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["errors"]] == ["query.ids.1"]
    assert absent.status_code == 422
    assert [e["field"] for e in absent.json()["errors"]] == ["query.ids"]


@pytest.mark.parametrize("path", ["/v1/segments:batch", "/v1/customers:segments"])
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
