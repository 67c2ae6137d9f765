"""``GET /v1/customers:advocate-scores``: several customers' advocate scores, for the gateway."""

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.advocates import service as advocates
from feedback.settings import FeedbackSettings
from tests.feedback.experience.batch_support import error_fields, recorded_selects, too_many_ids
from tests.feedback.experience.support import ANALYST, MARKETER, as_customer, store_feedback


async def _scored(engine: AsyncEngine, settings: FeedbackSettings, nps: int) -> uuid.UUID:
    """A customer whose only feedback is this NPS, scored (5 points per NPS point)."""
    customer_id = uuid.uuid4()
    await store_feedback(engine, settings, customer_id=customer_id, nps=nps)
    async with session_factory(engine).begin() as session:
        await advocates.refresh_scores(session, [customer_id])
    return customer_id


async def test_batch_gives_each_customer_the_score_the_single_read_gives_or_null(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    promoter = await _scored(feedback_engine, feedback_settings, 10)
    detractor = await _scored(feedback_engine, feedback_settings, 4)
    unscored = uuid.uuid4()

    response = await feedback_client.get(
        "/v1/customers:advocate-scores",
        params={"ids": [str(promoter), str(unscored), str(detractor), str(promoter)]},
        headers=MARKETER,
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert set(items) == {str(promoter), str(detractor), str(unscored)}
    for customer_id in (promoter, detractor):
        single = await feedback_client.get(f"/v1/customers/{customer_id}/advocate-score", headers=MARKETER)
        assert items[str(customer_id)] == single.json()
    assert (items[str(promoter)]["score"], items[str(detractor)]["score"]) == (50.0, 20.0)
    assert items[str(unscored)] is None


async def test_scores_of_many_customers_cost_one_query(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customers = [await _scored(feedback_engine, feedback_settings, nps) for nps in range(5)]

    with recorded_selects(feedback_client) as statements:
        response = await feedback_client.get(
            "/v1/customers:advocate-scores", params={"ids": [str(c) for c in customers]}, headers=ANALYST
        )

    assert [response.json()["items"][str(c)]["latest_nps"] for c in customers] == [0, 1, 2, 3, 4]
    assert len([s for s in statements if "advocate_score" in s]) == 1


async def test_a_customer_token_may_not_read_the_scores_batch_even_for_itself(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = await _scored(feedback_engine, feedback_settings, 9)

    response = await feedback_client.get(
        "/v1/customers:advocate-scores", params={"ids": str(customer_id)}, headers=as_customer(customer_id)
    )

    assert response.status_code == 403


async def test_more_than_200_ids_are_rejected_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:advocate-scores", params={"ids": too_many_ids()}, headers=ANALYST
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids"])


async def test_a_malformed_id_is_rejected_naming_its_position(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(
        "/v1/customers:advocate-scores", params={"ids": ["0", str(uuid.uuid4())]}, headers=ANALYST
    )

    assert (response.status_code, error_fields(response)) == (422, ["query.ids.0"])
