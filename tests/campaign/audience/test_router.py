import uuid

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crm_common.auth import Role
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.support import CUSTOMER_CREATED_AT, customer_created, deliver
from tests.support import bearer, customer_token, staff_token

MARKETER = bearer(staff_token(Role.MARKETER))


async def _project(runner: ConsumerRunner, display_name: str = "Park Seo-yeon") -> str:
    envelope = customer_created(display_name=display_name, email="sy@example.com")
    assert await deliver(runner, envelope)
    return str(envelope.payload["customer_id"])


async def test_staff_reads_a_member_projected_from_identity(
    campaign_client: httpx.AsyncClient, audience_runner: ConsumerRunner
) -> None:
    customer_id = await _project(audience_runner)

    response = await campaign_client.get(f"/v1/audience/{customer_id}", headers=MARKETER)

    assert response.status_code == 200, response.text
    body = response.json()
    assert {"customer_id", "display_name", "email", "customer_created_at", "projected_at"} <= set(body)
    assert (body["lifecycle_stage"], body["value_tier"], body["order_count"]) == ("prospect", "low", 0)
    assert (body["customer_id"], body["display_name"], body["email"]) == (
        customer_id,
        "Park Seo-yeon",
        "sy@example.com",
    )
    assert body["customer_created_at"] == CUSTOMER_CREATED_AT.isoformat().replace("+00:00", "Z")


async def test_unknown_member_is_a_404_problem(campaign_client: httpx.AsyncClient) -> None:
    response = await campaign_client.get(f"/v1/audience/{uuid.uuid4()}", headers=MARKETER)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/audience-member-not-found")


async def test_request_without_a_token_is_401(campaign_client: httpx.AsyncClient) -> None:
    response = await campaign_client.get(f"/v1/audience/{uuid.uuid4()}")

    assert response.status_code == 401
    assert response.json()["type"].endswith("/unauthorized")


async def test_customer_token_is_403_even_for_its_own_member(
    campaign_client: httpx.AsyncClient, audience_runner: ConsumerRunner
) -> None:
    customer_id = await _project(audience_runner)

    response = await campaign_client.get(
        f"/v1/audience/{customer_id}", headers=bearer(customer_token(customer_id))
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")


async def test_malformed_customer_id_is_rejected_naming_the_field(campaign_client: httpx.AsyncClient) -> None:
    response = await campaign_client.get("/v1/audience/not-a-uuid", headers=MARKETER)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["path.customer_id"]


async def test_batch_get_returns_found_members_in_order_and_lists_the_missing(
    campaign_client: httpx.AsyncClient, audience_runner: ConsumerRunner
) -> None:
    first, second = await _project(audience_runner, "First"), await _project(audience_runner, "Second")
    unknown = str(uuid.uuid4())

    response = await campaign_client.get(
        "/v1/audience", params={"ids": [second, unknown, first, second]}, headers=MARKETER
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["customer_id"] for item in body["items"]] == [second, first]
    assert body["missing"] == [unknown]


async def test_batch_get_reads_the_whole_batch_in_one_query(
    campaign_client: httpx.AsyncClient, audience_runner: ConsumerRunner
) -> None:
    ids = [await _project(audience_runner, f"Member {n}") for n in range(5)]
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        response = await campaign_client.get("/v1/audience", params={"ids": ids}, headers=MARKETER)
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    assert len(response.json()["items"]) == 5
    assert len([s for s in statements if "audience_member" in s]) == 1


async def test_batch_get_of_more_than_500_ids_is_rejected_naming_the_field(
    campaign_client: httpx.AsyncClient,
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(501)]

    response = await campaign_client.get("/v1/audience", params={"ids": ids}, headers=MARKETER)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.ids"]


async def test_malformed_id_in_a_batch_is_rejected_naming_the_field(
    campaign_client: httpx.AsyncClient,
) -> None:
    response = await campaign_client.get(
        "/v1/audience", params={"ids": [str(uuid.uuid4()), "nope"]}, headers=MARKETER
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.ids.1"]
