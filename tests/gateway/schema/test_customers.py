import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

from tests.gateway.support import ADMIN, Gateway
from tests.support import bearer, customer_token

CUSTOMER_QUERY = """
query Customer($id: UUID!) {
  customer(id: $id) {
    id displayName email createdAt
    campaignAudience {
      customerId displayName email customerCreatedAt projectedAt lifecycleStage valueTier orderCount
    }
  }
}
"""


async def create_customer(
    identity_api: httpx.AsyncClient, display_name: str, email: str | None = None
) -> Any:
    identifiers = (
        [{"type": "email", "value": email}]
        if email
        else [{"type": "external:test", "value": display_name.replace(" ", "-")}]
    )
    response = await identity_api.post(
        "/v1/identify",
        json={"identifiers": identifiers, "traits": {"name": display_name}, "source": "crm"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    customer_id = response.json()["customer_id"]
    customer = await identity_api.get(f"/v1/customers/{customer_id}", headers=ADMIN)
    return customer.json()


async def test_customer_is_read_from_identity(gateway: Gateway, identity_api: httpx.AsyncClient) -> None:
    created = await create_customer(identity_api, "Kim Min-jun", "mj@example.com")

    response = await gateway.query(CUSTOMER_QUERY, {"id": created["id"]})

    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    customer = body["data"]["customer"]
    assert (customer["id"], customer["displayName"], customer["email"]) == (
        created["id"],
        "Kim Min-jun",
        "mj@example.com",
    )
    assert datetime.fromisoformat(customer["createdAt"]) == datetime.fromisoformat(created["created_at"])
    assert customer["campaignAudience"] is None  # campaign has not projected the customer yet


async def test_campaign_audience_is_campaigns_projection_of_the_customer(
    gateway: Gateway,
    identity_api: httpx.AsyncClient,
    project_into_campaign: Callable[[str], Awaitable[None]],
) -> None:
    created = await create_customer(identity_api, "Lee Ji-eun", "je@example.com")
    await project_into_campaign(created["id"])

    body = (await gateway.query(CUSTOMER_QUERY, {"id": created["id"]})).json()

    assert "errors" not in body
    audience = body["data"]["customer"]["campaignAudience"]
    assert (audience["customerId"], audience["displayName"], audience["email"]) == (
        created["id"],
        "Lee Ji-eun",
        "je@example.com",
    )
    assert datetime.fromisoformat(audience["customerCreatedAt"]) == datetime.fromisoformat(
        created["created_at"]
    )
    # No orders yet: a prospect in the lowest tier, as the read model derives it.
    assert (audience["lifecycleStage"], audience["valueTier"], audience["orderCount"]) == (
        "prospect",
        "low",
        0,
    )


async def test_unknown_customer_is_null_without_an_error(gateway: Gateway) -> None:
    body = (await gateway.query(CUSTOMER_QUERY, {"id": str(uuid.uuid4())})).json()

    assert body == {"data": {"customer": None}}


async def test_customer_token_reads_its_own_customer(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    created = await create_customer(identity_api, "Alice Kang")
    token = bearer(customer_token(created["id"]))

    body = (
        await gateway.query(
            "query($id: UUID!) { customer(id: $id) { displayName } }", {"id": created["id"]}, headers=token
        )
    ).json()

    assert body == {"data": {"customer": {"displayName": "Alice Kang"}}}


async def test_customer_token_reading_another_customer_gets_forbidden(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    other = await create_customer(identity_api, "Bob Yoon")
    token = bearer(customer_token(uuid.uuid4()))

    body = (await gateway.query(CUSTOMER_QUERY, {"id": other["id"]}, headers=token)).json()

    assert body["data"] == {"customer": None}
    [error] = body["errors"]
    assert error["path"] == ["customer"]
    assert error["extensions"] == {"code": "FORBIDDEN", "service": "identity"}


async def test_callers_token_and_request_id_are_forwarded_to_the_service(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    created = await create_customer(identity_api, "Choi Yuna")
    token = customer_token(created["id"])

    headers = {**bearer(token), "X-Request-ID": "gateway-forwarding-check"}
    await gateway.query(
        "query($id: UUID!) { customer(id: $id) { id } }", {"id": created["id"]}, headers=headers
    )

    [sent] = gateway.sent["identity"].requests
    assert sent.url.path == f"/v1/customers/{created['id']}"
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert sent.headers["x-request-id"] == "gateway-forwarding-check"


async def test_campaign_down_leaves_the_customer_intact_and_names_campaign_in_the_error(
    gateway_without_campaign: Gateway, identity_api: httpx.AsyncClient
) -> None:
    created = await create_customer(identity_api, "Partial Failure", "pf@example.com")

    response = await gateway_without_campaign.query(CUSTOMER_QUERY, {"id": created["id"]})

    assert response.status_code == 200
    body = response.json()
    customer = body["data"]["customer"]
    assert (customer["displayName"], customer["email"]) == ("Partial Failure", "pf@example.com")
    assert customer["campaignAudience"] is None
    [error] = body["errors"]
    assert error["path"] == ["customer", "campaignAudience"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "service": "campaign"}
