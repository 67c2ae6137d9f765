import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.advocates import service as advocates
from feedback.settings import FeedbackSettings
from tests.feedback.experience.support import ANALYST, MARKETER, as_customer, store_feedback


async def _promoter(engine: AsyncEngine, settings: FeedbackSettings, nps: int) -> uuid.UUID:
    """A customer whose only feedback is this NPS, scored (5 points per NPS point)."""
    customer_id = uuid.uuid4()
    await store_feedback(engine, settings, customer_id=customer_id, nps=nps)
    async with session_factory(engine).begin() as session:
        await advocates.refresh_scores(session, [customer_id])
    return customer_id


async def test_marketing_lists_advocates_above_a_score_best_first_page_by_page(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    ten, nine, eight = [await _promoter(feedback_engine, feedback_settings, nps) for nps in (10, 9, 8)]
    await _promoter(feedback_engine, feedback_settings, 5)

    first = await feedback_client.get("/v1/advocates?min_score=40&limit=2", headers=MARKETER)
    after = first.json()["next_cursor"]
    second = await feedback_client.get(f"/v1/advocates?min_score=40&limit=2&after={after}", headers=MARKETER)

    assert first.status_code == 200, first.text
    listed = [(a["customer_id"], a["score"]) for a in first.json()["items"] + second.json()["items"]]
    assert listed == [(str(ten), 50.0), (str(nine), 45.0), (str(eight), 40.0)]
    assert second.json()["next_cursor"] is None


async def test_advocates_filter_by_tier(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    supporter = await _promoter(feedback_engine, feedback_settings, 9)
    await _promoter(feedback_engine, feedback_settings, 7)

    response = await feedback_client.get("/v1/advocates?tier=supporter", headers=ANALYST)

    assert [a["customer_id"] for a in response.json()["items"]] == [str(supporter)]


async def test_a_customer_reads_their_own_advocate_score(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = await _promoter(feedback_engine, feedback_settings, 10)

    response = await feedback_client.get(
        f"/v1/customers/{customer_id}/advocate-score", headers=as_customer(customer_id)
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["score"], body["tier"], body["latest_nps"], body["upvotes_received"]) == (
        50.0,
        "supporter",
        10,
        0,
    )


async def test_a_customer_cannot_read_anothers_advocate_score(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = await _promoter(feedback_engine, feedback_settings, 10)

    response = await feedback_client.get(
        f"/v1/customers/{customer_id}/advocate-score", headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 403


async def test_no_score_yet_is_a_404_problem(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(f"/v1/customers/{uuid.uuid4()}/advocate-score", headers=ANALYST)

    assert response.status_code == 404
    assert response.json()["type"].endswith("/advocate-score-not-found")


async def test_customers_cannot_list_advocates(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/advocates", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403


async def test_listing_advocates_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/advocates")

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("min_score=101", "query.min_score"),
        ("min_score=-1", "query.min_score"),
        ("tier=champion", "query.tier"),
        ("limit=0", "query.limit"),
        ("after=eyJ4IjoxfQ==", "query.after"),
    ],
)
async def test_bad_advocate_query_is_a_422_naming_the_parameter(
    feedback_client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await feedback_client.get(f"/v1/advocates?{query}", headers=ANALYST)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
