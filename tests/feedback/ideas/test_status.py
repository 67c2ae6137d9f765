import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from crm_common.db import session_factory
from feedback.notifications import service as notifications
from tests.feedback.ideas.support import ADMIN, AGENT, as_customer, events_of_type, submit, vote
from tests.support import bearer, staff_token


async def _move(client: httpx.AsyncClient, idea_id: str, status: str, **extra: object) -> httpx.Response:
    return await client.post(f"/v1/ideas/{idea_id}/status", json={"status": status, **extra}, headers=AGENT)


async def test_status_moves_along_the_workflow_with_a_history(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    for status in ("under_review", "planned", "in_progress", "launched"):
        response = await _move(feedback_client, idea["id"], status, response=f"Now {status}.")
        assert response.status_code == 201, response.text

    history = (
        await feedback_client.get(f"/v1/ideas/{idea['id']}/status-history", headers=as_customer(uuid.uuid4()))
    ).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("new", "under_review"),
        ("under_review", "planned"),
        ("planned", "in_progress"),
        ("in_progress", "launched"),
    ]
    assert history[-1]["response"] == "Now launched."


async def test_a_move_the_workflow_does_not_allow_is_409(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    response = await _move(feedback_client, idea["id"], "launched")

    assert response.status_code == 409
    assert response.json()["type"].endswith("/status-change-not-allowed")


async def test_duplicate_is_reached_only_by_merging(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    response = await _move(feedback_client, idea["id"], "duplicate")

    assert response.status_code == 409


async def test_status_change_publishes_an_event_with_the_response(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await submit(feedback_client)

    await _move(feedback_client, idea["id"], "declined", response="Not for now, and here is why.")

    (event,) = await events_of_type(feedback_engine, "idea.status_changed")
    assert event["payload"]["from_status"] == "new"
    assert event["payload"]["to_status"] == "declined"
    assert event["payload"]["response"] == "Not for now, and here is why."
    assert event["payload"]["closed"] is True


async def test_customers_and_analysts_cannot_change_status(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)
    body = {"status": "planned"}

    as_owner = await feedback_client.post(
        f"/v1/ideas/{idea['id']}/status", json=body, headers=as_customer(uuid.uuid4())
    )
    as_analyst = await feedback_client.post(
        f"/v1/ideas/{idea['id']}/status", json=body, headers=bearer(staff_token(Role.ANALYST))
    )

    assert (as_owner.status_code, as_analyst.status_code) == (403, 403)


async def test_every_voter_and_follower_is_notified_once_in_chunks(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea = await submit(feedback_client, author)
    voters = [uuid.uuid4() for _ in range(5)]
    for voter in voters:
        await vote(feedback_client, idea["id"], voter, "up")
    follower = uuid.uuid4()
    await feedback_client.put(f"/v1/ideas/{idea['id']}/follow", headers=as_customer(follower))
    await feedback_client.put(f"/v1/ideas/{idea['id']}/follow", headers=as_customer(voters[0]))
    await _move(feedback_client, idea["id"], "planned", response="On the roadmap.")

    written = []
    async with session_factory(feedback_engine)() as session:
        while True:
            async with session.begin():
                chunk = await notifications.fan_out_next_chunk(session, chunk_size=3)
            if chunk is None:
                break
            written.append(chunk)

    events = await events_of_type(feedback_engine, "idea.status_notification")
    recipients = [e["payload"]["customer_id"] for e in events]
    assert sorted(recipients) == sorted(str(c) for c in [author, follower, *voters])
    assert written == [3, 3, 1]
    by_customer = {e["payload"]["customer_id"]: e["payload"] for e in events}
    assert by_customer[str(voters[0])]["reasons"] == ["voter", "follower"]
    assert by_customer[str(author)]["reasons"] == ["follower"]
    assert by_customer[str(follower)]["response"] == "On the roadmap."
    async with feedback_engine.connect() as conn:
        fanout = (await conn.execute(text("SELECT notified_count, done_at FROM notification_fanout"))).one()
    assert fanout.notified_count == 7 and fanout.done_at is not None


async def test_notification_envelopes_parse_as_platform_events(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    from crm_common.events import EventEnvelope

    idea = await submit(feedback_client)
    await _move(feedback_client, idea["id"], "under_review")
    async with session_factory(feedback_engine)() as session, session.begin():
        await notifications.fan_out_next_chunk(session, chunk_size=10)

    async with feedback_engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT event_id, subject, envelope FROM outbox_event WHERE envelope->>'type' = :t"),
                {"t": "idea.status_notification"},
            )
        ).one()
    envelope = EventEnvelope.model_validate(row.envelope)
    assert (envelope.id, envelope.subject) == (row.event_id, row.subject)
    assert envelope.subject == "crm.feedback.idea.status_notification"


async def test_admin_may_also_change_status(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    response = await feedback_client.post(
        f"/v1/ideas/{idea['id']}/status", json={"status": "planned"}, headers=ADMIN
    )

    assert response.status_code == 201


async def test_voters_of_a_merged_duplicate_are_told_with_the_merge_response(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    duplicate = await submit(feedback_client)
    survivor = await submit(feedback_client)
    voters = [uuid.uuid4() for _ in range(3)]
    for voter in voters:
        await vote(feedback_client, duplicate["id"], voter, "up")
    merged = await feedback_client.post(
        f"/v1/ideas/{duplicate['id']}/merge",
        json={"into_idea_id": survivor["id"], "response": "Merged into the older idea."},
        headers=AGENT,
    )
    assert merged.status_code == 201, merged.text

    async with session_factory(feedback_engine)() as session:
        while True:
            async with session.begin():
                if await notifications.fan_out_next_chunk(session, chunk_size=100) is None:
                    break

    told = {
        e["payload"]["customer_id"]: e["payload"]
        for e in await events_of_type(feedback_engine, "idea.status_notification")
        if e["payload"]["idea_id"] == duplicate["id"]
    }
    assert set(told) >= {str(v) for v in voters}
    assert {p["to_status"] for p in told.values()} == {"duplicate"}
    assert told[str(voters[0])]["reasons"] == ["voter"]
