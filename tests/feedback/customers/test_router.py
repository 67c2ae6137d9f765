import uuid

import httpx

from crm_common.auth import Role
from crm_common.events.consumer import ConsumerRunner
from tests.feedback.support import customer_created, deliver
from tests.support import bearer, customer_token, staff_token

AGENT = bearer(staff_token(Role.AGENT))


async def _record(runner: ConsumerRunner) -> str:
    envelope = customer_created(display_name="Jung Ha-eun")
    assert await deliver(runner, envelope)
    return str(envelope.payload["customer_id"])


async def test_staff_reads_a_customer_ref_recorded_from_identity(
    feedback_client: httpx.AsyncClient, customers_runner: ConsumerRunner
) -> None:
    customer_id = await _record(customers_runner)

    response = await feedback_client.get(f"/v1/customer-refs/{customer_id}", headers=AGENT)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"customer_id", "display_name", "first_seen_at", "erased_at"}
    assert (body["customer_id"], body["display_name"], body["erased_at"]) == (
        customer_id,
        "Jung Ha-eun",
        None,
    )


async def test_unknown_customer_ref_is_a_404_problem(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(f"/v1/customer-refs/{uuid.uuid4()}", headers=AGENT)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/customer-ref-not-found")


async def test_request_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(f"/v1/customer-refs/{uuid.uuid4()}")

    assert response.status_code == 401
    assert response.json()["type"].endswith("/unauthorized")


async def test_customer_token_is_403_even_for_its_own_ref(
    feedback_client: httpx.AsyncClient, customers_runner: ConsumerRunner
) -> None:
    customer_id = await _record(customers_runner)

    response = await feedback_client.get(
        f"/v1/customer-refs/{customer_id}", headers=bearer(customer_token(customer_id))
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")


async def test_malformed_customer_id_is_rejected_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/customer-refs/12345", headers=AGENT)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["path.customer_id"]
