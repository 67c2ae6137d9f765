"""The advocates consumer fed with the events the feedback service really wrote to its outbox."""

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner
from feedback.experience.models import FeedbackKind
from feedback.settings import FeedbackSettings
from tests.feedback.experience.support import as_customer, count_rows, events_of_type, store_feedback
from tests.feedback.support import deliver


async def _deliver_new(runner: ConsumerRunner, engine: AsyncEngine, event_type: str) -> None:
    """Deliver every outbox event of that type, oldest first (the inbox skips those already handled)."""
    for envelope in await events_of_type(engine, event_type):
        assert await deliver(runner, EventEnvelope.model_validate(envelope)) is True


async def _score(engine: AsyncEngine, customer_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM advocate_score WHERE customer_id = :id"), {"id": customer_id}
            )
        ).one_or_none()


async def test_a_promoters_feedback_gives_them_a_score_and_announces_it(
    advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=10)

    await _deliver_new(advocates_runner, feedback_engine, "feedback.received")

    score = await _score(feedback_engine, customer_id)
    assert (score.score, score.tier, score.latest_nps, score.positive_feedback) == (50.0, "supporter", 10, 0)
    (event,) = await events_of_type(feedback_engine, "advocate.score_changed")
    assert event["payload"] == {
        "customer_id": str(customer_id),
        "score": 50.0,
        "previous_score": None,
        "tier": "supporter",
        "previous_tier": None,
        "latest_nps": 10,
        "upvotes_received": 0,
        "positive_feedback": 0,
    }


async def test_the_latest_nps_counts_not_the_best(
    advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=10)
    await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=7)

    await _deliver_new(advocates_runner, feedback_engine, "feedback.received")

    assert (await _score(feedback_engine, customer_id)).latest_nps == 7


async def test_upvotes_on_an_authors_idea_raise_the_authors_score(
    feedback_client: httpx.AsyncClient, advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    author_id = uuid.uuid4()
    submitted = await feedback_client.post(
        "/v1/ideas",
        json={"title": "Dark mode in the app", "body": "Easier on the eyes."},
        headers=as_customer(author_id),
    )
    assert submitted.status_code == 201, submitted.text
    for _ in range(3):
        voted = await feedback_client.put(
            f"/v1/ideas/{submitted.json()['id']}/vote",
            json={"direction": "up"},
            headers=as_customer(uuid.uuid4()),
        )
        assert voted.status_code == 200, voted.text

    await _deliver_new(advocates_runner, feedback_engine, "vote.cast")

    score = await _score(feedback_engine, author_id)
    assert (score.upvotes_received, score.score, score.latest_nps) == (3, 7.8, None)


async def test_a_redelivered_event_changes_nothing(
    advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=9)
    (received,) = await events_of_type(feedback_engine, "feedback.received")
    envelope = EventEnvelope.model_validate(received)
    await deliver(advocates_runner, envelope)
    first = await _score(feedback_engine, customer_id)

    assert await deliver(advocates_runner, envelope, deliveries=2) is True

    assert (await _score(feedback_engine, customer_id)).computed_at == first.computed_at
    assert len(await events_of_type(feedback_engine, "advocate.score_changed")) == 1


async def test_another_event_with_nothing_new_changes_nothing(
    advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=9)
    (received,) = await events_of_type(feedback_engine, "feedback.received")
    await deliver(advocates_runner, EventEnvelope.model_validate(received))
    first = await _score(feedback_engine, customer_id)
    copy = EventEnvelope.model_validate({**received, "id": str(uuid.uuid4())})

    assert await deliver(advocates_runner, copy) is True

    assert (await _score(feedback_engine, customer_id)).computed_at == first.computed_at
    assert len(await events_of_type(feedback_engine, "advocate.score_changed")) == 1


async def test_small_steps_are_announced_once_they_add_up(
    advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(feedback_engine, feedback_settings, customer_id=customer_id, nps=9)  # 45.0
    await _deliver_new(advocates_runner, feedback_engine, "feedback.received")
    for _ in range(3):  # each CSAT 5 is praise: 50.7, then 54.7 (+4.0, kept quiet), then 57.6
        await store_feedback(
            feedback_engine, feedback_settings, customer_id=customer_id, kind=FeedbackKind.CSAT, csat=5
        )
        await _deliver_new(advocates_runner, feedback_engine, "feedback.received")

    announced = [
        (e["payload"]["previous_score"], e["payload"]["score"])
        for e in await events_of_type(feedback_engine, "advocate.score_changed")
    ]
    assert announced == [(None, 45.0), (45.0, 50.7), (50.7, 57.6)]


async def test_a_customer_with_nothing_to_show_gets_no_score(
    advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    customer_id = uuid.uuid4()
    await store_feedback(
        feedback_engine,
        feedback_settings,
        customer_id=customer_id,
        kind=FeedbackKind.COMMENT,
        comment="주소를 바꾸고 싶어요.",
    )

    await _deliver_new(advocates_runner, feedback_engine, "feedback.received")

    assert await count_rows(feedback_engine, "advocate_score") == 0


async def test_an_event_breaking_the_contract_is_retried_then_dead_lettered(
    advocates_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    envelope = EventEnvelope(
        type="feedback.received", producer="feedback", payload={"customer_id": "not-a-uuid"}
    )

    assert await deliver(advocates_runner, envelope) is False
    assert await deliver(advocates_runner, envelope, deliveries=advocates_runner.consumer.max_deliver) is True

    assert await count_rows(feedback_engine, "dead_letter_event") == 1
