import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.experience.support import (
    ADMIN,
    AGENT,
    ANALYST,
    as_customer,
    count_rows,
    events_of_type,
    with_key,
)

COMPLAINT = {
    "channel": "call_center",
    "touchpoint": "call_center",
    "text": "상담원이 불친절하고 전화를 끊었어요.",
}


async def _open(
    client: httpx.AsyncClient, customer_id: uuid.UUID | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/complaints", json={**COMPLAINT, **fields}, headers=as_customer(customer_id or uuid.uuid4())
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _move(
    client: httpx.AsyncClient, complaint_id: str, status: str, headers: dict[str, str] = AGENT, **fields: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/complaints/{complaint_id}/status", json={"status": status, **fields}, headers=headers
    )


async def _resolved(client: httpx.AsyncClient, customer_id: uuid.UUID) -> dict[str, Any]:
    opened = await _open(client, customer_id)
    response = await _move(client, opened["id"], "resolved", note="Apologised and refunded the call charge.")
    assert response.status_code == 200, response.text
    return opened


async def test_customer_opens_a_complaint_case_as_themself(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()

    body = await _open(feedback_client, customer_id)

    assert (body["customer_id"], body["status"], body["assignee"], body["text"]) == (
        str(customer_id),
        "open",
        None,
        COMPLAINT["text"],
    )
    assert body["sentiment"]["label"] == "negative"
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [(None, "open")]


async def test_opening_publishes_complaint_opened_and_feedback_received(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    body = await _open(feedback_client)

    (opened,) = await events_of_type(feedback_engine, "complaint.opened")
    (received,) = await events_of_type(feedback_engine, "feedback.received")
    assert (opened["payload"]["complaint_id"], opened["payload"]["feedback_id"]) == (
        body["id"],
        body["feedback_id"],
    )
    assert opened["payload"]["customer_id"] == body["customer_id"]
    assert (received["payload"]["kind"], received["payload"]["negative"]) == ("complaint", True)
    assert COMPLAINT["text"] not in str(opened) + str(received)


async def test_a_complaint_counts_as_negative_feedback_at_its_touchpoint(
    feedback_client: httpx.AsyncClient,
) -> None:
    body = await _open(feedback_client, text="Thank you, but my order never arrived.")

    feedback = await feedback_client.get(f"/v1/feedback/{body['feedback_id']}", headers=ANALYST)

    assert (feedback.json()["kind"], feedback.json()["negative"]) == ("complaint", True)


async def test_agent_assigns_starts_and_resolves_with_every_step_kept(
    feedback_client: httpx.AsyncClient,
) -> None:
    opened = await _open(feedback_client)
    assigned = await feedback_client.post(
        f"/v1/complaints/{opened['id']}/assignment", json={"assignee": "staff-agent"}, headers=AGENT
    )
    await _move(feedback_client, opened["id"], "in_progress")

    resolved = await _move(feedback_client, opened["id"], "resolved", note="Called back and refunded.")

    assert assigned.status_code == 200 and assigned.json()["assignee"] == "staff-agent"
    body = resolved.json()
    assert (body["status"], body["resolution"], body["assignee"]) == (
        "resolved",
        "Called back and refunded.",
        "staff-agent",
    )
    assert body["resolved_at"] is not None
    assert [(h["from_status"], h["to_status"], h["assignee"]) for h in body["history"]] == [
        (None, "open", None),
        ("open", "open", "staff-agent"),
        ("open", "in_progress", "staff-agent"),
        ("in_progress", "resolved", "staff-agent"),
    ]
    assert body["history"][-1]["actor"] == "agent:staff-agent"


async def test_resolving_publishes_complaint_resolved(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    opened = await _resolved(feedback_client, uuid.uuid4())

    (event,) = await events_of_type(feedback_engine, "complaint.resolved")
    assert event["payload"]["complaint_id"] == opened["id"]
    assert event["payload"]["status"] == "resolved"
    assert event["payload"]["resolution_seconds"] >= 0


async def test_resolving_without_a_note_is_a_422_naming_the_note(feedback_client: httpx.AsyncClient) -> None:
    opened = await _open(feedback_client)

    response = await _move(feedback_client, opened["id"], "resolved")

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.note"]


async def test_customer_reopens_their_resolved_complaint(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    customer_id = uuid.uuid4()
    opened = await _resolved(feedback_client, customer_id)

    response = await _move(feedback_client, opened["id"], "open", headers=as_customer(customer_id))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["reopened_count"], body["resolved_at"], body["resolution"]) == (
        "open",
        1,
        None,
        None,
    )
    (event,) = await events_of_type(feedback_engine, "complaint.reopened")
    assert event["payload"]["reopened_count"] == 1


async def test_customer_reopening_replayed_with_its_idempotency_key_gets_the_first_answer(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    customer_id = uuid.uuid4()
    opened = await _resolved(feedback_client, customer_id)
    headers = with_key(as_customer(customer_id))

    first = await _move(feedback_client, opened["id"], "open", headers=headers)
    second = await _move(feedback_client, opened["id"], "open", headers=headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert len(await events_of_type(feedback_engine, "complaint.reopened")) == 1


async def test_customer_sees_the_history_without_staff_notes(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()
    opened = await _resolved(feedback_client, customer_id)

    response = await feedback_client.get(f"/v1/complaints/{opened['id']}", headers=as_customer(customer_id))

    history = response.json()["history"]
    assert [h["to_status"] for h in history] == ["open", "resolved"]
    assert {(h["actor"], h["note"], h["assignee"]) for h in history} == {(None, None, None)}
    assert response.json()["resolution"] == "Apologised and refunded the call charge."


async def test_customer_cannot_resolve_their_complaint(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()
    opened = await _open(feedback_client, customer_id)

    response = await _move(
        feedback_client, opened["id"], "resolved", headers=as_customer(customer_id), note="Done"
    )

    assert response.status_code == 403


async def test_customer_cannot_reopen_a_complaint_still_being_handled(
    feedback_client: httpx.AsyncClient,
) -> None:
    customer_id = uuid.uuid4()
    opened = await _open(feedback_client, customer_id)
    await _move(feedback_client, opened["id"], "in_progress")

    response = await _move(feedback_client, opened["id"], "open", headers=as_customer(customer_id))

    assert response.status_code == 409
    assert response.json()["type"].endswith("/complaint-transition-not-allowed")


async def test_customer_cannot_reopen_another_customers_complaint(feedback_client: httpx.AsyncClient) -> None:
    opened = await _resolved(feedback_client, uuid.uuid4())

    response = await _move(feedback_client, opened["id"], "open", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403


async def test_resolved_complaint_cannot_go_straight_back_to_in_progress(
    feedback_client: httpx.AsyncClient,
) -> None:
    opened = await _resolved(feedback_client, uuid.uuid4())

    response = await _move(feedback_client, opened["id"], "in_progress")

    assert response.status_code == 409


async def test_moving_to_the_same_status_is_409(feedback_client: httpx.AsyncClient) -> None:
    opened = await _open(feedback_client)

    response = await _move(feedback_client, opened["id"], "open")

    assert response.status_code == 409


async def test_assigning_a_resolved_complaint_is_409(feedback_client: httpx.AsyncClient) -> None:
    opened = await _resolved(feedback_client, uuid.uuid4())

    response = await feedback_client.post(
        f"/v1/complaints/{opened['id']}/assignment", json={"assignee": "staff-agent"}, headers=AGENT
    )

    assert response.status_code == 409


async def test_reassigning_to_the_same_person_adds_no_history(feedback_client: httpx.AsyncClient) -> None:
    opened = await _open(feedback_client)
    for _ in range(2):
        await feedback_client.post(
            f"/v1/complaints/{opened['id']}/assignment", json={"assignee": "kim.agent"}, headers=AGENT
        )

    detail = await feedback_client.get(f"/v1/complaints/{opened['id']}", headers=AGENT)

    assert len(detail.json()["history"]) == 2


@pytest.mark.parametrize("headers", [ANALYST, None], ids=["analyst", "customer"])
async def test_only_agents_and_admins_assign(
    feedback_client: httpx.AsyncClient, headers: dict[str, str] | None
) -> None:
    opened = await _open(feedback_client)

    response = await feedback_client.post(
        f"/v1/complaints/{opened['id']}/assignment",
        json={"assignee": "staff-agent"},
        headers=headers or as_customer(uuid.UUID(opened["customer_id"])),
    )

    assert response.status_code == 403


async def test_analyst_cannot_move_a_complaint(feedback_client: httpx.AsyncClient) -> None:
    opened = await _open(feedback_client)

    response = await _move(feedback_client, opened["id"], "in_progress", headers=ANALYST)

    assert response.status_code == 403


async def test_customer_cannot_read_another_customers_complaint(feedback_client: httpx.AsyncClient) -> None:
    opened = await _open(feedback_client)

    response = await feedback_client.get(f"/v1/complaints/{opened['id']}", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403


async def test_reading_a_complaint_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(f"/v1/complaints/{uuid.uuid4()}")

    assert response.status_code == 401


async def test_unknown_complaint_is_a_404_problem(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get(f"/v1/complaints/{uuid.uuid4()}", headers=AGENT)

    assert response.status_code == 404
    assert response.json()["type"].endswith("/complaint-not-found")


async def test_opening_replayed_with_its_idempotency_key_opens_one_case(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    headers = with_key(as_customer(uuid.uuid4()))

    first = await feedback_client.post("/v1/complaints", json=COMPLAINT, headers=headers)
    second = await feedback_client.post("/v1/complaints", json=COMPLAINT, headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert await count_rows(feedback_engine, "complaint") == 1
    assert len(await events_of_type(feedback_engine, "complaint.opened")) == 1


async def test_resolving_replayed_with_its_idempotency_key_resolves_once(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    opened = await _open(feedback_client)
    headers = with_key(AGENT)
    body = {"status": "resolved", "note": "Refunded."}

    first = await feedback_client.post(f"/v1/complaints/{opened['id']}/status", json=body, headers=headers)
    second = await feedback_client.post(f"/v1/complaints/{opened['id']}/status", json=body, headers=headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(await events_of_type(feedback_engine, "complaint.resolved")) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": ""}, "body.text"),
        ({"text": "x" * 4001}, "body.text"),
        ({"touchpoint": "call center"}, "body.touchpoint"),
        ({"channel": "pigeon"}, "body.channel"),
        ({"customer_id": str(uuid.uuid4())}, "body.customer_id"),
    ],
)
async def test_bad_complaint_is_a_422_naming_the_field_and_opens_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, fields: dict[str, Any], field: str
) -> None:
    response = await feedback_client.post(
        "/v1/complaints", json={**COMPLAINT, **fields}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await count_rows(feedback_engine, "complaint") == 0
    assert await count_rows(feedback_engine, "feedback_response") == 0


async def test_bad_status_name_is_a_422_naming_the_status(feedback_client: httpx.AsyncClient) -> None:
    opened = await _open(feedback_client)

    response = await _move(feedback_client, opened["id"], "closed")

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.status"]


async def test_staff_list_open_complaints_page_by_page(feedback_client: httpx.AsyncClient) -> None:
    opened = [await _open(feedback_client) for _ in range(3)]
    await _resolved(feedback_client, uuid.uuid4())

    first = await feedback_client.get("/v1/complaints?status=open&limit=2", headers=ADMIN)
    after = first.json()["next_cursor"]
    second = await feedback_client.get(f"/v1/complaints?status=open&limit=2&after={after}", headers=ADMIN)

    ids = [c["id"] for c in first.json()["items"] + second.json()["items"]]
    assert ids == [c["id"] for c in reversed(opened)]


async def test_staff_list_the_unassigned_complaints(feedback_client: httpx.AsyncClient) -> None:
    waiting = await _open(feedback_client)
    taken = await _open(feedback_client)
    await feedback_client.post(
        f"/v1/complaints/{taken['id']}/assignment", json={"assignee": "lee"}, headers=AGENT
    )

    response = await feedback_client.get("/v1/complaints?unassigned=true", headers=AGENT)

    assert [c["id"] for c in response.json()["items"]] == [waiting["id"]]


async def test_customer_lists_their_own_complaints(feedback_client: httpx.AsyncClient) -> None:
    customer_id = uuid.uuid4()
    mine = await _open(feedback_client, customer_id)
    await _open(feedback_client)

    response = await feedback_client.get(
        f"/v1/customers/{customer_id}/complaints", headers=as_customer(customer_id)
    )

    assert [c["id"] for c in response.json()["items"]] == [mine["id"]]
    assert response.json()["items"][0]["assignee"] is None


async def test_customer_cannot_list_all_complaints(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.get("/v1/complaints", headers=as_customer(uuid.uuid4()))

    assert response.status_code == 403
