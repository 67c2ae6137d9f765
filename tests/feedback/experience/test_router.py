import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.pagination import encode_cursor
from feedback.database import metadata
from feedback.main import create_app
from feedback.settings import FeedbackSettings
from tests.feedback.experience.support import (
    AGENT,
    ANALYST,
    as_customer,
    count_rows,
    events_of_type,
    give_feedback,
    with_key,
)
from tests.support import running_app, truncate_all

NPS = {"kind": "nps", "channel": "mobile_app", "touchpoint": "mobile_onboarding", "nps": 10}


@pytest.fixture
async def strict_client(
    feedback_settings: FeedbackSettings, feedback_db: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a rate limit of two feedbacks an hour per customer."""
    settings = feedback_settings.model_copy(update={"feedback_submit_rate": (2, 3600.0)})
    async with running_app(create_app(settings)) as client:
        yield client
    await truncate_all(feedback_db, metadata)


async def test_customer_gives_nps_as_themself(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()

    response = await feedback_client.post("/v1/feedback", json=NPS, headers=as_customer(customer_id))

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["customer_id"], body["kind"], body["nps"], body["csat"]) == (
        str(customer_id),
        "nps",
        10,
        None,
    )
    assert (body["channel"], body["touchpoint"], body["negative"], body["sentiment"]) == (
        "mobile_app",
        "mobile_onboarding",
        False,
        None,
    )


async def test_customer_id_in_the_body_is_rejected(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    response = await feedback_client.post(
        "/v1/feedback", json={**NPS, "customer_id": str(uuid.uuid4())}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.customer_id"]
    assert await count_rows(feedback_engine, "feedback_response") == 0


async def test_korean_complaint_text_is_scored_negative(feedback_client: httpx.AsyncClient) -> None:
    body = await give_feedback(
        feedback_client,
        kind="comment",
        nps=None,
        comment="배송이 너무 느려서 짜증났어요.",
        touchpoint="delivery",
    )

    assert body["sentiment"]["label"] == "negative"
    assert -1 <= body["sentiment"]["score"] < 0
    assert body["negative"] is True


async def test_english_praise_with_a_rating_is_scored_positive(feedback_client: httpx.AsyncClient) -> None:
    body = await give_feedback(
        feedback_client, kind="csat", nps=None, csat=5, comment="The agent was friendly and quick. Thanks!"
    )

    assert body["sentiment"]["label"] == "positive"
    assert body["negative"] is False


@pytest.mark.parametrize(("nps", "negative"), [(6, True), (7, False), (10, False)])
async def test_nps_detractors_count_as_negative(
    feedback_client: httpx.AsyncClient, nps: int, negative: bool
) -> None:
    body = await give_feedback(feedback_client, nps=nps)

    assert body["negative"] is negative


@pytest.mark.parametrize(("csat", "negative"), [(2, True), (3, False)])
async def test_csat_of_one_or_two_counts_as_negative(
    feedback_client: httpx.AsyncClient, csat: int, negative: bool
) -> None:
    body = await give_feedback(feedback_client, kind="csat", nps=None, csat=csat)

    assert body["negative"] is negative


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("nps of 11", {"nps": 11}, "body.nps"),
    ("negative nps", {"nps": -1}, "body.nps"),
    ("csat of 0", {"kind": "csat", "nps": None, "csat": 0}, "body.csat"),
    ("csat of 6", {"kind": "csat", "nps": None, "csat": 6}, "body.csat"),
    ("empty comment", {"kind": "comment", "nps": None, "comment": ""}, "body.comment"),
    ("blank comment", {"kind": "comment", "nps": None, "comment": "   \n "}, "body.comment"),
    ("oversized comment", {"kind": "comment", "nps": None, "comment": "좋아요 " * 600}, "body.comment"),
    ("control character", {"kind": "comment", "nps": None, "comment": "bad\x00text"}, "body.comment"),
    ("touchpoint with spaces", {"touchpoint": "Store Checkout"}, "body.touchpoint"),
    ("touchpoint too long", {"touchpoint": "a" * 61}, "body.touchpoint"),
    ("unknown channel", {"channel": "fax"}, "body.channel"),
    ("unknown kind", {"kind": "rating"}, "body.kind"),
    ("complaint kind", {"kind": "complaint"}, "body.kind"),
    ("nps kind without nps", {"nps": None}, "body.nps"),
    ("csat with nps kind", {"csat": 4}, "body.csat"),
    ("comment kind without comment", {"kind": "comment", "nps": None}, "body.comment"),
    ("campaign id not a uuid", {"campaign_id": "campaign-7"}, "body.campaign_id"),
]


@pytest.mark.parametrize(("case", "fields", "field"), BAD_INPUT, ids=[case for case, _, _ in BAD_INPUT])
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    feedback_client: httpx.AsyncClient,
    feedback_engine: AsyncEngine,
    case: str,
    fields: dict[str, Any],
    field: str,
) -> None:
    body = {**NPS, **fields}

    response = await feedback_client.post("/v1/feedback", json=body, headers=as_customer(uuid.uuid4()))

    assert response.status_code == 422, case
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await count_rows(feedback_engine, "feedback_response") == 0
    assert await count_rows(feedback_engine, "outbox_event") == 0


async def test_feedback_received_is_published_without_the_text(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    campaign_id, message_id = uuid.uuid4(), uuid.uuid4()
    body = await give_feedback(
        feedback_client,
        kind="csat",
        nps=None,
        csat=2,
        comment="The coupon did not work.",
        campaign_id=str(campaign_id),
        message_id=str(message_id),
    )

    (event,) = await events_of_type(feedback_engine, "feedback.received")
    payload = event["payload"]
    assert event["producer"] == "feedback"
    assert payload["feedback_id"] == body["id"]
    assert (payload["customer_id"], payload["kind"], payload["csat"], payload["nps"]) == (
        body["customer_id"],
        "csat",
        2,
        None,
    )
    assert (payload["campaign_id"], payload["message_id"]) == (str(campaign_id), str(message_id))
    assert payload["sentiment_label"] == body["sentiment"]["label"]
    assert payload["negative"] is True
    assert "comment" not in payload and "The coupon" not in str(payload)


async def test_idempotency_key_replay_returns_the_first_answer_and_stores_once(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    headers = with_key(as_customer(uuid.uuid4()))

    first = await feedback_client.post("/v1/feedback", json=NPS, headers=headers)
    second = await feedback_client.post("/v1/feedback", json=NPS, headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await count_rows(feedback_engine, "feedback_response") == 1
    assert len(await events_of_type(feedback_engine, "feedback.received")) == 1


async def test_idempotency_key_reused_for_another_body_is_409(feedback_client: httpx.AsyncClient) -> None:
    headers = with_key(as_customer(uuid.uuid4()))
    await feedback_client.post("/v1/feedback", json=NPS, headers=headers)

    response = await feedback_client.post("/v1/feedback", json={**NPS, "nps": 3}, headers=headers)

    assert response.status_code == 409
    assert response.json()["type"].endswith("/idempotency-key-reused")


async def test_third_feedback_within_the_hour_is_rate_limited(strict_client: httpx.AsyncClient) -> None:
    headers = as_customer(uuid.uuid4())
    for _ in range(2):
        assert (await strict_client.post("/v1/feedback", json=NPS, headers=headers)).status_code == 201

    response = await strict_client.post("/v1/feedback", json=NPS, headers=headers)

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


async def test_rate_limit_is_per_customer(strict_client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await strict_client.post("/v1/feedback", json=NPS, headers=as_customer(uuid.uuid4()))

    response = await strict_client.post("/v1/feedback", json=NPS, headers=as_customer(uuid.uuid4()))

    assert response.status_code == 201


async def test_giving_feedback_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post("/v1/feedback", json=NPS)

    assert response.status_code == 401


async def test_staff_cannot_give_feedback_in_a_customers_name(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post("/v1/feedback", json=NPS, headers=AGENT)

    assert response.status_code == 403


async def test_staff_lists_feedback_of_a_touchpoint_page_by_page(feedback_client: httpx.AsyncClient) -> None:
    given = [await give_feedback(feedback_client, touchpoint="store_checkout") for _ in range(3)]
    await give_feedback(feedback_client, touchpoint="call_center")

    first = await feedback_client.get("/v1/feedback?touchpoint=store_checkout&limit=2", headers=ANALYST)
    cursor = first.json()["next_cursor"]
    second = await feedback_client.get(
        f"/v1/feedback?touchpoint=store_checkout&limit=2&after={cursor}", headers=ANALYST
    )

    assert first.status_code == 200, first.text
    ids = [item["id"] for item in first.json()["items"] + second.json()["items"]]
    assert ids == [g["id"] for g in reversed(given)]
    assert second.json()["next_cursor"] is None


async def test_staff_filters_negative_feedback(feedback_client: httpx.AsyncClient) -> None:
    detractor = await give_feedback(feedback_client, nps=2)
    await give_feedback(feedback_client, nps=10)

    response = await feedback_client.get("/v1/feedback?negative=true", headers=ANALYST)

    assert [item["id"] for item in response.json()["items"]] == [detractor["id"]]


async def test_a_forged_cursor_is_a_422_naming_after(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/feedback?after=bm90LWEtY3Vyc29y", headers=ANALYST)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.after"]


async def test_a_cursor_out_of_any_feedbacks_time_is_a_422_naming_after(
    feedback_client: httpx.AsyncClient,
) -> None:
    cursor = encode_cursor({"at": "0001-01-01T00:00:00+14:00", "id": str(uuid.uuid4())})

    response = await feedback_client.get(f"/v1/feedback?after={cursor}", headers=ANALYST)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.after"]


async def test_a_time_without_a_zone_is_a_422_naming_it(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/feedback?from=2026-11-19T00:00:00", headers=ANALYST)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.from"]


async def test_customer_cannot_list_all_feedback(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/feedback", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403


async def test_customer_reads_their_own_feedback(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()
    given = await give_feedback(feedback_client, customer_id)

    one = await feedback_client.get(f"/v1/feedback/{given['id']}", headers=as_customer(customer_id))
    mine = await feedback_client.get(
        f"/v1/customers/{customer_id}/feedback", headers=as_customer(customer_id)
    )

    assert one.status_code == 200 and one.json() == given
    assert [item["id"] for item in mine.json()["items"]] == [given["id"]]


async def test_customer_cannot_read_another_customers_feedback(feedback_client: httpx.AsyncClient) -> None:
    owner = uuid.uuid4()
    given = await give_feedback(feedback_client, owner)
    other = as_customer(uuid.uuid4())

    one = await feedback_client.get(f"/v1/feedback/{given['id']}", headers=other)
    listed = await feedback_client.get(f"/v1/customers/{owner}/feedback", headers=other)

    assert (one.status_code, listed.status_code) == (403, 403)


async def test_unknown_feedback_is_a_404_problem(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(f"/v1/feedback/{uuid.uuid4()}", headers=ANALYST)

    assert response.status_code == 404
    assert response.json()["type"].endswith("/feedback-not-found")
