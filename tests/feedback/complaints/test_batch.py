"""``GET /v1/customers:complaints``: the first page of each customer's complaints, for the gateway."""

import uuid
from typing import Any

import httpx

from tests.feedback.experience.batch_support import error_fields, recorded_selects, too_many_ids
from tests.feedback.experience.support import AGENT, ANALYST, as_customer

COMPLAINT = {"channel": "store", "touchpoint": "store_checkout", "text": "계산대 줄이 너무 길었어요."}


async def _complain(client: httpx.AsyncClient, customer_id: uuid.UUID, count: int) -> list[str]:
    """``count`` complaints by the customer through the API; their ids newest first."""
    ids = []
    for _ in range(count):
        response = await client.post("/v1/complaints", json=COMPLAINT, headers=as_customer(customer_id))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids[::-1]


async def _batch(client: httpx.AsyncClient, ids: list[uuid.UUID], **params: Any) -> httpx.Response:
    return await client.get(
        "/v1/customers:complaints", params={"ids": [str(i) for i in ids], **params}, headers=AGENT
    )


async def test_batch_gives_each_customer_the_first_page_the_single_listing_gives(
    feedback_client: httpx.AsyncClient,
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await _complain(feedback_client, first, 3)
    await _complain(feedback_client, second, 1)
    assigned = (await feedback_client.get(f"/v1/customers/{first}/complaints", headers=AGENT)).json()
    await feedback_client.post(
        f"/v1/complaints/{assigned['items'][0]['id']}/assignment",
        json={"assignee": "agent-kim"},
        headers={**AGENT, "Idempotency-Key": uuid.uuid4().hex},
    )

    batch = await _batch(feedback_client, [first, second], limit=2)

    assert batch.status_code == 200, batch.text
    for customer_id in (first, second):
        single = await feedback_client.get(f"/v1/customers/{customer_id}/complaints?limit=2", headers=AGENT)
        assert batch.json()["items"][str(customer_id)] == single.json()
    assert batch.json()["items"][str(first)]["items"][0]["assignee"] == "agent-kim"
    assert batch.json()["items"][str(first)]["items"][0]["text"] == COMPLAINT["text"]


async def test_next_cursor_of_a_batch_page_continues_on_the_single_listing(
    feedback_client: httpx.AsyncClient,
) -> None:
    customer_id = uuid.uuid4()
    newest_first = await _complain(feedback_client, customer_id, 3)
    await _complain(feedback_client, uuid.uuid4(), 2)

    page = (await _batch(feedback_client, [customer_id], limit=2)).json()["items"][str(customer_id)]
    rest = (
        await feedback_client.get(
            f"/v1/customers/{customer_id}/complaints", params={"after": page["next_cursor"]}, headers=AGENT
        )
    ).json()

    assert [c["id"] for c in page["items"]] == newest_first[:2]
    assert [c["id"] for c in rest["items"]] == newest_first[2:]
    assert rest["next_cursor"] is None


async def test_a_customer_without_complaints_gets_an_empty_page(feedback_client: httpx.AsyncClient) -> None:
    complainer, content = uuid.uuid4(), uuid.uuid4()
    await _complain(feedback_client, complainer, 1)

    response = await _batch(feedback_client, [complainer, content, complainer])

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(complainer), str(content)}
    assert items[str(content)] == {"items": [], "next_cursor": None}


async def test_complaints_of_many_customers_cost_two_queries(feedback_client: httpx.AsyncClient) -> None:
    customers = [uuid.uuid4() for _ in range(5)]
    for customer_id in customers:
        await _complain(feedback_client, customer_id, 2)

    with recorded_selects(feedback_client) as statements:
        response = await _batch(feedback_client, customers)

    assert all(len(page["items"]) == 2 for page in response.json()["items"].values())
    # The cases, then the feedback they were opened from (their text), whatever the batch size.
    assert len([s for s in statements if "complaint" in s or "feedback_response" in s]) == 2


async def test_a_customer_token_may_not_read_the_complaints_batch(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()

    response = await feedback_client.get(
        "/v1/customers:complaints", params={"ids": str(customer_id)}, headers=as_customer(customer_id)
    )

    assert response.status_code == 403


async def test_more_than_200_ids_are_rejected_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:complaints", params={"ids": too_many_ids()}, headers=ANALYST
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids"])


async def test_a_malformed_id_is_rejected_naming_its_position(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:complaints", params={"ids": ["nope", str(uuid.uuid4())]}, headers=ANALYST
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids.0"])
