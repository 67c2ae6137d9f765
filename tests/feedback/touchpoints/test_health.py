import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback.experience.models import FeedbackKind
from feedback.settings import FeedbackSettings
from tests.feedback.experience.support import ANALYST, MARKETER, as_customer, store_feedback

DAY_1 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)


async def _two_days_at_the_checkout(engine: AsyncEngine, settings: FeedbackSettings) -> None:
    """Day 1: NPS 10, 9, 3 and CSAT 4. Day 2: NPS 10, 2, 1, CSAT 2, 1 and a complaint."""
    day_1: list[dict[str, Any]] = [
        {"nps": 10},
        {"nps": 9},
        {"nps": 3},
        {"kind": FeedbackKind.CSAT, "csat": 4},
    ]
    day_2: list[dict[str, Any]] = [
        {"nps": 10},
        {"nps": 2},
        {"nps": 1},
        {"kind": FeedbackKind.CSAT, "csat": 2},
        {"kind": FeedbackKind.CSAT, "csat": 1},
        {"kind": FeedbackKind.COMPLAINT, "comment": "The card reader was broken."},
    ]
    for day, rows in ((DAY_1, day_1), (DAY_2, day_2)):
        for minute, fields in enumerate(rows):
            await store_feedback(engine, settings, received_at=day + timedelta(minutes=minute), **fields)


async def _health(client: httpx.AsyncClient, **query: str) -> httpx.Response:
    return await client.get("/v1/touchpoints/health", params=query, headers=ANALYST)


async def test_daily_health_of_a_touchpoint_with_its_trend(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _two_days_at_the_checkout(feedback_engine, feedback_settings)

    response = await _health(
        feedback_client, window="day", **{"from": "2026-11-19T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["window"], body["tz"]) == (
        "2026-11-19T00:00:00Z",
        "2026-11-20T00:00:00Z",
        "day",
        "UTC",
    )
    (touchpoint,) = body["items"]
    (day,) = touchpoint["windows"]
    assert touchpoint["touchpoint"] == "store_checkout"
    assert (day["window_start"], day["window_end"]) == ("2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z")
    assert (day["volume"], day["nps_responses"], day["promoters"], day["passives"], day["detractors"]) == (
        6,
        3,
        1,
        0,
        2,
    )
    assert day["nps"] == pytest.approx(-33.33)
    assert (day["csat_average"], day["csat_responses"]) == (1.5, 2)
    assert (day["negatives"], day["complaints"]) == (5, 1)
    assert day["negative_share"] == pytest.approx(5 / 6, abs=1e-4)
    assert day["trend"] == {
        "volume_change": 2,
        "nps_change": pytest.approx(-66.66),
        "csat_average_change": pytest.approx(-2.5),
        "negative_share_change": pytest.approx(5 / 6 - 1 / 4, abs=1e-4),
    }


async def test_a_window_after_an_empty_one_trends_from_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await store_feedback(feedback_engine, feedback_settings, received_at=DAY_2, nps=10)

    response = await _health(
        feedback_client, window="day", **{"from": "2026-11-19T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
    )

    (day,) = response.json()["items"][0]["windows"]
    assert (day["nps"], day["trend"]["volume_change"], day["trend"]["nps_change"]) == (100.0, 1, None)


async def test_windows_follow_the_requested_time_zone(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    # 16:30 UTC on the 19th is 01:30 on the 20th in Seoul.
    await store_feedback(
        feedback_engine, feedback_settings, received_at=datetime(2026, 11, 19, 16, 30, tzinfo=UTC)
    )

    response = await _health(
        feedback_client,
        window="day",
        tz="Asia/Seoul",
        **{"from": "2026-11-19T00:00:00+09:00", "to": "2026-11-21T00:00:00+09:00"},
    )

    (day,) = response.json()["items"][0]["windows"]
    assert day["window_start"] == "2026-11-20T00:00:00+09:00"


async def test_hourly_windows_split_the_day(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    for at in (DAY_2, DAY_2 + timedelta(minutes=30), DAY_2 + timedelta(hours=2)):
        await store_feedback(feedback_engine, feedback_settings, received_at=at)

    response = await _health(
        feedback_client, window="hour", **{"from": "2026-11-19T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
    )

    windows = response.json()["items"][0]["windows"]
    assert [(w["window_start"], w["volume"]) for w in windows] == [
        ("2026-11-19T10:00:00Z", 2),
        ("2026-11-19T12:00:00Z", 1),
    ]


async def test_touchpoints_come_a_page_at_a_time(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    for name in ("call_center", "store_checkout", "web_checkout"):
        await store_feedback(feedback_engine, feedback_settings, received_at=DAY_2, touchpoint=name)
    span = {"from": "2026-11-19T00:00:00Z", "to": "2026-11-20T00:00:00Z"}

    first = await _health(feedback_client, limit="2", **span)
    second = await _health(feedback_client, limit="2", after=first.json()["next_cursor"], **span)

    assert [t["touchpoint"] for t in first.json()["items"]] == ["call_center", "store_checkout"]
    assert [t["touchpoint"] for t in second.json()["items"]] == ["web_checkout"]
    assert second.json()["next_cursor"] is None


async def test_health_of_one_touchpoint(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    for name in ("call_center", "store_checkout"):
        await store_feedback(feedback_engine, feedback_settings, received_at=DAY_2, touchpoint=name)

    response = await _health(
        feedback_client,
        touchpoint="call_center",
        **{"from": "2026-11-19T00:00:00Z", "to": "2026-11-20T00:00:00Z"},
    )

    assert [t["touchpoint"] for t in response.json()["items"]] == ["call_center"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"window": "month"}, "query.window"),
        ({"tz": "Mars/Olympus_Mons"}, "query.tz"),
        ({"tz": "America"}, "query.tz"),
        ({"tz": "localtime"}, "query.tz"),
        ({"from": "2026-11-19T00:00:00"}, "query.from"),
        ({"to": "0001-01-01T00:00:00+14:00"}, "query.to"),
        ({"from": "2026-11-20T00:00:00Z", "to": "2026-11-19T00:00:00Z"}, "query.from"),
        ({"window": "hour", "from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "query.from"),
        ({"touchpoint": "Store Checkout"}, "query.touchpoint"),
        ({"from": "yesterday"}, "query.from"),
        ({"after": "bm90LWEtY3Vyc29y"}, "query.after"),
    ],
)
async def test_bad_health_query_is_a_422_naming_the_parameter(
    feedback_client: httpx.AsyncClient, query: dict[str, str], field: str
) -> None:
    response = await _health(feedback_client, **query)

    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_marketing_reads_health_too(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/touchpoints/health", headers=MARKETER)

    assert response.status_code == 200


async def test_customers_cannot_read_touchpoint_health(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/touchpoints/health", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403


async def test_health_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/touchpoints/health")

    assert response.status_code == 401
