"""The crisis detector against real rows with explicit timestamps, and the alerts API."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.experience import service as experience
from feedback.experience.models import FeedbackKind
from feedback.settings import FeedbackSettings
from feedback.touchpoints import service as touchpoints
from feedback.touchpoints.jobs import run_detector_once
from tests.feedback.experience.support import (
    AGENT,
    ANALYST,
    as_customer,
    count_rows,
    events_of_type,
    with_key,
)

HOUR = timedelta(hours=1)
WINDOW_START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
NOW = WINDOW_START + timedelta(minutes=25)


async def _store(
    engine: AsyncEngine,
    settings: FeedbackSettings,
    touchpoint: str,
    times: Sequence[datetime],
    *,
    nps: int = 2,
) -> None:
    """NPS responses at the given times (2: a detractor, so negative), in one transaction."""
    async with session_factory(engine).begin() as session:
        for at in times:
            await experience.record_feedback(
                session,
                settings,
                customer_id=uuid.uuid4(),
                kind=FeedbackKind.NPS,
                channel="call_center",
                touchpoint=touchpoint,
                nps=nps,
                received_at=at,
            )


def _hourly(per_hour: Sequence[int], *, before: datetime = WINDOW_START) -> list[datetime]:
    """Times spread inside each of the hours before ``before`` (oldest first), ``n`` in each."""
    hours = len(per_hour)
    return [
        before - HOUR * (hours - i) + timedelta(minutes=5 + 50 * j / max(n, 1))
        for i, n in enumerate(per_hour)
        for j in range(n)
    ]


def _in_window(count: int, *, start: datetime = WINDOW_START) -> list[datetime]:
    return [start + timedelta(minutes=1 + i) for i in range(count)]


async def _detect(engine: AsyncEngine, settings: FeedbackSettings, now: datetime = NOW) -> list[str]:
    async with session_factory(engine).begin() as session:
        return [alert.touchpoint for alert in await touchpoints.detect_crises(session, settings, now=now)]


async def test_injected_spike_raises_an_alert_for_its_touchpoint_and_window(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(feedback_engine, feedback_settings, "call_center", _hourly([1] * 24))
    await _store(feedback_engine, feedback_settings, "call_center", _in_window(9))

    assert await _detect(feedback_engine, feedback_settings) == ["call_center"]

    (event,) = await events_of_type(feedback_engine, "alert.raised")
    payload = event["payload"]
    assert event["producer"] == "feedback"
    assert (payload["touchpoint"], payload["negative_count"], payload["baseline_rate"]) == (
        "call_center",
        9,
        1.0,
    )
    assert payload["window_start"] == WINDOW_START.isoformat()
    assert payload["window_end"] == (WINDOW_START + HOUR).isoformat()
    assert payload["p_value"] < feedback_settings.alert_max_p_value


async def test_ordinary_noise_raises_nothing(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    noisy = [3, 1, 4, 2, 5, 3, 2, 6, 3, 2, 4, 3, 1, 3, 5, 2, 4, 3, 2, 3, 4, 2, 3, 5]
    await _store(feedback_engine, feedback_settings, "web_checkout", _hourly(noisy))
    await _store(feedback_engine, feedback_settings, "web_checkout", _in_window(6))

    assert await _detect(feedback_engine, feedback_settings) == []
    assert await count_rows(feedback_engine, "feedback_alert") == 0


async def test_a_surge_of_happy_customers_raises_nothing(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(feedback_engine, feedback_settings, "store_checkout", _in_window(30), nps=10)

    assert await _detect(feedback_engine, feedback_settings) == []


async def test_a_spike_is_raised_once_however_often_the_detector_runs(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(feedback_engine, feedback_settings, "call_center", _in_window(8))
    await _detect(feedback_engine, feedback_settings)
    await _store(
        feedback_engine,
        feedback_settings,
        "call_center",
        _in_window(5, start=WINDOW_START + timedelta(minutes=10)),
    )

    assert await _detect(feedback_engine, feedback_settings, NOW + timedelta(minutes=5)) == []
    assert await _detect(feedback_engine, feedback_settings, NOW + HOUR) == []  # judged as the closed window
    assert await count_rows(feedback_engine, "feedback_alert") == 1
    assert len(await events_of_type(feedback_engine, "alert.raised")) == 1


async def test_a_spike_late_in_a_window_is_caught_after_the_window_closed(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(
        feedback_engine, feedback_settings, "sms", _in_window(7, start=WINDOW_START + timedelta(minutes=50))
    )

    assert await _detect(feedback_engine, feedback_settings, WINDOW_START + HOUR + timedelta(minutes=2)) == [
        "sms"
    ]


async def test_a_spike_in_the_next_window_raises_a_new_alert(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(feedback_engine, feedback_settings, "call_center", _in_window(8))
    await _detect(feedback_engine, feedback_settings)
    await _store(feedback_engine, feedback_settings, "call_center", _in_window(20, start=WINDOW_START + HOUR))

    assert await _detect(feedback_engine, feedback_settings, NOW + HOUR) == ["call_center"]
    assert await count_rows(feedback_engine, "feedback_alert") == 2


async def test_the_spike_of_one_touchpoint_does_not_alert_another(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(feedback_engine, feedback_settings, "call_center", _in_window(9))
    await _store(feedback_engine, feedback_settings, "web_checkout", _hourly([2] * 24) + _in_window(3))

    assert await _detect(feedback_engine, feedback_settings) == ["call_center"]


async def test_negatives_not_yet_received_at_now_do_not_count(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(feedback_engine, feedback_settings, "call_center", _in_window(9, start=NOW))

    assert await _detect(feedback_engine, feedback_settings) == []


async def test_the_worker_job_runs_the_detector_in_its_own_transaction(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _store(feedback_engine, feedback_settings, "call_center", _in_window(9))

    raised = await run_detector_once(session_factory(feedback_engine), feedback_settings, now=NOW)

    assert raised == 1
    assert await count_rows(feedback_engine, "feedback_alert") == 1


async def _raise_one(engine: AsyncEngine, settings: FeedbackSettings) -> None:
    await _store(engine, settings, "call_center", _in_window(9))
    await _detect(engine, settings)


async def test_staff_list_open_alerts(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _raise_one(feedback_engine, feedback_settings)

    response = await feedback_client.get("/v1/touchpoints/alerts?state=open", headers=ANALYST)

    assert response.status_code == 200, response.text
    (alert,) = response.json()["items"]
    assert (alert["touchpoint"], alert["negative_count"], alert["acknowledged_at"]) == (
        "call_center",
        9,
        None,
    )
    assert alert["method"] == "poisson_tail"


async def test_agent_acknowledges_an_alert_once(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _raise_one(feedback_engine, feedback_settings)
    (alert,) = (await feedback_client.get("/v1/touchpoints/alerts", headers=AGENT)).json()["items"]
    url = f"/v1/touchpoints/alerts/{alert['id']}/acknowledge"

    first = await feedback_client.post(url, json={"note": "Queue staffed up."}, headers=AGENT)
    again = await feedback_client.post(url, json={}, headers=AGENT)
    still_open = await feedback_client.get("/v1/touchpoints/alerts?state=open", headers=AGENT)

    assert first.status_code == 200, first.text
    assert (first.json()["acknowledged_by"], first.json()["acknowledgement_note"]) == (
        "agent:staff-agent",
        "Queue staffed up.",
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/alert-already-acknowledged")
    assert still_open.json()["items"] == []


async def test_acknowledging_replayed_with_its_idempotency_key_gets_the_first_answer(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _raise_one(feedback_engine, feedback_settings)
    (alert,) = (await feedback_client.get("/v1/touchpoints/alerts", headers=AGENT)).json()["items"]
    headers = with_key(AGENT)

    first = await feedback_client.post(
        f"/v1/touchpoints/alerts/{alert['id']}/acknowledge", json={}, headers=headers
    )
    second = await feedback_client.post(
        f"/v1/touchpoints/alerts/{alert['id']}/acknowledge", json={}, headers=headers
    )

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()


async def test_analyst_cannot_acknowledge(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await _raise_one(feedback_engine, feedback_settings)
    (alert,) = (await feedback_client.get("/v1/touchpoints/alerts", headers=AGENT)).json()["items"]

    response = await feedback_client.post(
        f"/v1/touchpoints/alerts/{alert['id']}/acknowledge", json={}, headers=ANALYST
    )

    assert response.status_code == 403


async def test_customers_cannot_see_alerts(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/touchpoints/alerts", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403


async def test_acknowledging_an_unknown_alert_is_404(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post(
        f"/v1/touchpoints/alerts/{uuid.uuid4()}/acknowledge", json={}, headers=AGENT
    )

    assert response.status_code == 404
