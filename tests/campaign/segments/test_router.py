import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from tests.campaign.segments.conftest import Population
from tests.campaign.support import count_rows
from tests.support import bearer, customer_token, staff_token

MARKETER = bearer(staff_token(Role.MARKETER))
ANALYST = bearer(staff_token(Role.ANALYST))
SEOUL = {"field": "traits.city", "op": "eq", "value": "서울"}


async def _create(client: httpx.AsyncClient, name: str, rule: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/segments", json={"name": name, "rule": rule}, headers=MARKETER)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_preview_counts_samples_and_explains_and_stores_nothing(
    campaign_client: httpx.AsyncClient, population: Population, campaign_engine: AsyncEngine
) -> None:
    rule = {"and": [SEOUL, {"event": "order_placed", "op": "gte", "count": 2}]}

    response = await campaign_client.post("/v1/segments:preview", json={"rule": rule}, headers=MARKETER)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 2
    assert {m["customer_id"] for m in body["sample"]} == {str(population.a), str(population.d)}
    assert body["explanation"] == "(traits.city is 서울 AND at least 2 'order_placed' event(s))"
    assert "SELECT" not in response.text
    assert await count_rows(campaign_engine, "segment") == 0


async def test_invalid_rule_is_a_422_naming_the_place_in_the_rule(campaign_client: httpx.AsyncClient) -> None:
    rule = {"and": [SEOUL, {"field": "order_total", "op": "gte", "value": "many"}]}

    response = await campaign_client.post(
        "/v1/segments", json={"name": "Bad", "rule": rule}, headers=MARKETER
    )

    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/invalid-segment-rule")
    assert [e["field"] for e in body["errors"]] == ["body.rule.and.1.value"]


async def test_create_get_list_and_members(
    campaign_client: httpx.AsyncClient, population: Population
) -> None:
    created = await _create(campaign_client, "Seoul", SEOUL)

    assert created["member_count"] == 3
    got = await campaign_client.get(f"/v1/segments/{created['id']}", headers=ANALYST)
    assert got.status_code == 200 and got.json()["explanation"] == "traits.city is 서울"
    listed = await campaign_client.get("/v1/segments", headers=ANALYST)
    assert [s["name"] for s in listed.json()["items"]] == ["Seoul"]

    first = await campaign_client.get(
        f"/v1/segments/{created['id']}/members", params={"limit": 2}, headers=ANALYST
    )
    rest = await campaign_client.get(
        f"/v1/segments/{created['id']}/members",
        params={"after": first.json()["next_cursor"]},
        headers=ANALYST,
    )
    ids = [m["customer_id"] for m in first.json()["items"] + rest.json()["items"]]
    assert ids == sorted(str(i) for i in (population.a, population.b, population.d))
    assert rest.json()["next_cursor"] is None


async def test_customer_segments_lists_where_a_customer_is(
    campaign_client: httpx.AsyncClient, population: Population
) -> None:
    seoul = await _create(campaign_client, "Seoul", SEOUL)
    await _create(campaign_client, "Busan", {"field": "traits.city", "op": "eq", "value": "부산"})

    response = await campaign_client.get(f"/v1/customers/{population.a}/segments", headers=ANALYST)

    assert response.status_code == 200
    assert [(s["segment_id"], s["name"]) for s in response.json()] == [(seoul["id"], "Seoul")]


async def test_patching_the_rule_recomputes_the_membership(
    campaign_client: httpx.AsyncClient, population: Population
) -> None:
    created = await _create(campaign_client, "Seoul", SEOUL)

    response = await campaign_client.patch(
        f"/v1/segments/{created['id']}",
        json={"rule": {"field": "traits.city", "op": "eq", "value": "부산"}},
        headers=MARKETER,
    )

    assert response.status_code == 200, response.text
    assert response.json()["member_count"] == 1
    members = await campaign_client.get(f"/v1/segments/{created['id']}/members", headers=ANALYST)
    assert [m["customer_id"] for m in members.json()["items"]] == [str(population.c)]


async def test_a_reference_cycle_is_refused_naming_the_reference(campaign_client: httpx.AsyncClient) -> None:
    base = await _create(campaign_client, "A", SEOUL)
    referencing = await _create(campaign_client, "B", {"segment": base["id"]})

    response = await campaign_client.patch(
        f"/v1/segments/{base['id']}",
        json={"rule": {"and": [SEOUL, {"not": {"segment": referencing["id"]}}]}},
        headers=MARKETER,
    )

    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("body.rule.and.1.not.segment", "segment_cycle")
    ]


async def test_a_referenced_segment_cannot_be_deleted_until_unreferenced(
    campaign_client: httpx.AsyncClient,
) -> None:
    base = await _create(campaign_client, "A", SEOUL)
    referencing = await _create(campaign_client, "B", {"segment": base["id"]})

    refused = await campaign_client.delete(f"/v1/segments/{base['id']}", headers=MARKETER)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/segment-in-use")

    assert (
        await campaign_client.delete(f"/v1/segments/{referencing['id']}", headers=MARKETER)
    ).status_code == 204
    assert (await campaign_client.delete(f"/v1/segments/{base['id']}", headers=MARKETER)).status_code == 204
    assert (await campaign_client.get(f"/v1/segments/{base['id']}", headers=ANALYST)).status_code == 404


async def test_duplicate_name_is_a_409_naming_the_field(campaign_client: httpx.AsyncClient) -> None:
    await _create(campaign_client, "Seoul", SEOUL)

    response = await campaign_client.post(
        "/v1/segments", json={"name": "seoul", "rule": SEOUL}, headers=MARKETER
    )

    assert response.status_code == 409
    assert [e["field"] for e in response.json()["errors"]] == ["body.name"]


async def test_analysts_read_but_do_not_write_and_customers_do_neither(
    campaign_client: httpx.AsyncClient,
) -> None:
    created = await _create(campaign_client, "Seoul", SEOUL)
    customer = bearer(customer_token(uuid.uuid4()))

    assert (
        await campaign_client.post("/v1/segments", json={"name": "X", "rule": SEOUL}, headers=ANALYST)
    ).status_code == 403
    assert (
        await campaign_client.post("/v1/segments:preview", json={"rule": SEOUL}, headers=ANALYST)
    ).status_code == 403
    assert (await campaign_client.get(f"/v1/segments/{created['id']}", headers=customer)).status_code == 403
    assert (
        await campaign_client.get(f"/v1/customers/{uuid.uuid4()}/segments", headers=customer)
    ).status_code == 403
    assert (await campaign_client.get("/v1/segments")).status_code == 401


async def test_the_field_catalog_lists_types_ops_and_enum_values(campaign_client: httpx.AsyncClient) -> None:
    response = await campaign_client.get("/v1/segments:fields", headers=ANALYST)

    assert response.status_code == 200
    by_field = {entry["field"]: entry for entry in response.json()}
    assert by_field["lifecycle_stage"]["values"] == ["prospect", "new", "active", "at_risk", "lapsed"]
    assert "within_days" in by_field["last_order_at"]["ops"]
    assert by_field["consents.<channel>:<purpose>"]["type"] == "boolean"
