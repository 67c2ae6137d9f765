"""The per-customer batch reads of the experience domain: first pages of feedback, and NPS/CSAT
summaries, for the gateway's loaders."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback.experience.models import FeedbackKind
from feedback.settings import FeedbackSettings
from tests.feedback.experience.batch_support import error_fields, recorded_selects, too_many_ids
from tests.feedback.experience.support import AGENT, ANALYST, MARKETER, as_customer, store_feedback

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def _history(
    engine: AsyncEngine, settings: FeedbackSettings, customer_id: uuid.UUID, count: int
) -> list[str]:
    """``count`` NPS answers an hour apart; their ids newest first (the listing order)."""
    ids = []
    for n in range(count):
        response = await store_feedback(
            engine, settings, customer_id=customer_id, nps=n % 11, received_at=BASE + timedelta(hours=n)
        )
        ids.append(str(response.id))
    return ids[::-1]


async def test_batch_gives_each_customer_the_first_page_the_single_listing_gives(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await _history(feedback_engine, feedback_settings, first, 3)
    await _history(feedback_engine, feedback_settings, second, 1)

    batch = await feedback_client.get(
        "/v1/customers:feedback", params={"ids": [str(first), str(second)], "limit": 2}, headers=ANALYST
    )

    assert batch.status_code == 200, batch.text
    for customer_id in (first, second):
        single = await feedback_client.get(f"/v1/customers/{customer_id}/feedback?limit=2", headers=ANALYST)
        assert batch.json()["items"][str(customer_id)] == single.json()


async def test_next_cursor_of_a_batch_page_continues_on_the_single_listing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    newest_first = await _history(feedback_engine, feedback_settings, customer_id, 5)
    await _history(feedback_engine, feedback_settings, uuid.uuid4(), 3)  # someone else's, never listed

    page = (
        await feedback_client.get(
            "/v1/customers:feedback", params={"ids": str(customer_id), "limit": 2}, headers=AGENT
        )
    ).json()["items"][str(customer_id)]
    rest = (
        await feedback_client.get(
            f"/v1/customers/{customer_id}/feedback", params={"after": page["next_cursor"]}, headers=AGENT
        )
    ).json()

    assert [f["id"] for f in page["items"]] == newest_first[:2]
    assert [f["id"] for f in rest["items"]] == newest_first[2:]
    assert rest["next_cursor"] is None


async def test_every_requested_customer_is_answered_once_even_without_feedback(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    given, silent = uuid.uuid4(), uuid.uuid4()
    await _history(feedback_engine, feedback_settings, given, 1)

    response = await feedback_client.get(
        "/v1/customers:feedback", params={"ids": [str(given), str(silent), str(given)]}, headers=MARKETER
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(given), str(silent)}
    assert len(items[str(given)]["items"]) == 1
    assert items[str(silent)] == {"items": [], "next_cursor": None}


async def test_default_page_is_ten_per_customer(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    newest_first = await _history(feedback_engine, feedback_settings, customer_id, 11)

    page = (
        await feedback_client.get("/v1/customers:feedback", params={"ids": str(customer_id)}, headers=ANALYST)
    ).json()["items"][str(customer_id)]

    assert [f["id"] for f in page["items"]] == newest_first[:10]
    assert page["next_cursor"] is not None


async def test_feedback_of_many_customers_costs_one_query(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customers = [uuid.uuid4() for _ in range(6)]
    for customer_id in customers:
        await _history(feedback_engine, feedback_settings, customer_id, 2)

    with recorded_selects(feedback_client) as statements:
        response = await feedback_client.get(
            "/v1/customers:feedback", params={"ids": [str(c) for c in customers]}, headers=ANALYST
        )

    assert response.status_code == 200, response.text
    assert all(len(page["items"]) == 2 for page in response.json()["items"].values())
    assert len([s for s in statements if "feedback_response" in s]) == 1


async def test_a_customer_token_may_not_read_the_feedback_batch_even_for_itself(
    feedback_client: httpx.AsyncClient,
) -> None:
    customer_id = uuid.uuid4()

    response = await feedback_client.get(
        "/v1/customers:feedback", params={"ids": str(customer_id)}, headers=as_customer(customer_id)
    )

    assert response.status_code == 403


async def test_more_than_200_ids_are_rejected_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:feedback", params={"ids": too_many_ids()}, headers=ANALYST
    )

    assert response.status_code == 422
    assert error_fields(response) == ["query.ids"]


async def test_a_malformed_id_is_rejected_naming_its_position(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:feedback", params={"ids": [str(uuid.uuid4()), "not-a-customer"]}, headers=ANALYST
    )

    assert response.status_code == 422
    assert error_fields(response) == ["query.ids.1"]


async def test_a_batch_without_ids_or_with_a_page_over_100_is_rejected(
    feedback_client: httpx.AsyncClient,
) -> None:
    without = await feedback_client.get("/v1/customers:feedback", headers=ANALYST)
    too_long = await feedback_client.get(
        "/v1/customers:feedback", params={"ids": str(uuid.uuid4()), "limit": 101}, headers=ANALYST
    )

    assert (without.status_code, error_fields(without)) == (422, ["query.ids"])
    assert (too_long.status_code, error_fields(too_long)) == (422, ["query.limit"])


# --- NPS and CSAT summaries -------------------------------------------------------------------------


async def test_scores_sum_up_each_customers_nps_and_csat(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    rated, silent = uuid.uuid4(), uuid.uuid4()
    for hours, nps in ((0, 3), (2, 9), (1, 10)):  # the latest (9) is not the last stored
        await store_feedback(
            feedback_engine,
            feedback_settings,
            customer_id=rated,
            nps=nps,
            received_at=BASE + timedelta(hours=hours),
        )
    for csat in (5, 4, 4):
        await store_feedback(
            feedback_engine, feedback_settings, customer_id=rated, kind=FeedbackKind.CSAT, csat=csat
        )
    await store_feedback(
        feedback_engine, feedback_settings, customer_id=rated, kind=FeedbackKind.COMMENT, comment="Fine."
    )
    await store_feedback(  # someone else's answers count for them only
        feedback_engine, feedback_settings, nps=0, received_at=BASE + timedelta(days=1)
    )

    response = await feedback_client.get(
        "/v1/customers:scores", params={"ids": [str(rated), str(silent)]}, headers=ANALYST
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items[str(rated)] == {
        "latest_nps": 9,
        "latest_nps_at": (BASE + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        "nps_responses": 3,
        "average_csat": 4.333,
        "csat_responses": 3,
    }
    assert items[str(silent)] == {
        "latest_nps": None,
        "latest_nps_at": None,
        "nps_responses": 0,
        "average_csat": None,
        "csat_responses": 0,
    }


async def test_complaints_are_not_scores(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(
        feedback_engine,
        feedback_settings,
        customer_id=customer_id,
        kind=FeedbackKind.COMPLAINT,
        comment="Rude.",
    )

    response = await feedback_client.get(f"/v1/customers/{customer_id}/scores", headers=AGENT)

    assert response.status_code == 200, response.text
    assert (response.json()["nps_responses"], response.json()["csat_responses"]) == (0, 0)


async def test_a_customer_reads_their_own_scores_but_no_one_elses(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=7)

    own = await feedback_client.get(f"/v1/customers/{customer_id}/scores", headers=as_customer(customer_id))
    other = await feedback_client.get(
        f"/v1/customers/{customer_id}/scores", headers=as_customer(uuid.uuid4())
    )
    batch = await feedback_client.get(
        "/v1/customers:scores", params={"ids": str(customer_id)}, headers=as_customer(customer_id)
    )

    assert own.status_code == 200, own.text
    assert (own.json()["latest_nps"], own.json()["nps_responses"]) == (7, 1)
    assert other.status_code == 403
    assert batch.status_code == 403


async def test_scores_of_many_customers_cost_one_query(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customers = [uuid.uuid4() for _ in range(5)]
    for n, customer_id in enumerate(customers):
        await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=n)

    with recorded_selects(feedback_client) as statements:
        response = await feedback_client.get(
            "/v1/customers:scores", params={"ids": [str(c) for c in customers]}, headers=ANALYST
        )

    assert [response.json()["items"][str(c)]["latest_nps"] for c in customers] == [0, 1, 2, 3, 4]
    assert len([s for s in statements if "feedback_response" in s]) == 1


async def test_scores_batch_rejects_more_than_200_ids(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:scores", params={"ids": too_many_ids()}, headers=ANALYST
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids"])
