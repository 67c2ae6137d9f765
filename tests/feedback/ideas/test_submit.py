import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.ideas.support import ADMIN, as_customer, events_of_type, stored_idea, submit
from tests.feedback.support import count_rows


async def test_customer_submits_an_idea_that_starts_new_and_published(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()

    body = await submit(feedback_client, author, title="Dark mode for the app", tags=["ui", "ui", "app"])

    assert (body["status"], body["moderation_state"], body["author_id"]) == ("new", "published", str(author))
    assert body["tags"] == ["ui", "app"]
    assert (body["up_count"], body["down_count"], body["score"]) == (0, 0, 0.0)
    (event,) = await events_of_type(feedback_engine, "idea.submitted")
    assert event["payload"]["idea_id"] == body["id"]
    assert event["payload"]["author_id"] == str(author)


async def test_author_follows_their_own_idea(feedback_client: httpx.AsyncClient) -> None:
    author = uuid.uuid4()
    idea = await submit(feedback_client, author)

    response = await feedback_client.put(f"/v1/ideas/{idea['id']}/follow", headers=as_customer(author))

    assert response.json() == {"idea_id": idea["id"], "following": True}


async def test_submit_suggests_existing_ideas_with_similar_titles(feedback_client: httpx.AsyncClient) -> None:
    existing = await submit(feedback_client, title="Add a dark mode to the mobile app")
    await submit(feedback_client, title="Faster checkout in stores")

    body = await submit(feedback_client, title="Dark mode in the mobile app please")

    assert [s["id"] for s in body["similar_ideas"]] == [existing["id"]]
    assert body["similar_ideas"][0]["similarity"] > 0.5


async def test_similar_ideas_work_for_korean_titles(feedback_client: httpx.AsyncClient) -> None:
    existing = await submit(feedback_client, title="배송 속도를 빠르게 해주세요")

    response = await feedback_client.get(
        "/v1/ideas:similar", params={"title": "배송 속도가 너무 느려요"}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [existing["id"]]


async def test_retried_submit_with_the_same_idempotency_key_creates_one_idea(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    headers = {**as_customer(uuid.uuid4()), "Idempotency-Key": "submit-1"}
    body = {"title": "Gift wrapping option", "body": "At checkout."}

    first = await feedback_client.post("/v1/ideas", json=body, headers=headers)
    second = await feedback_client.post("/v1/ideas", json=body, headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(feedback_engine, "idea") == 1


async def test_same_idempotency_key_with_another_body_is_409_and_writes_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    headers = {**as_customer(uuid.uuid4()), "Idempotency-Key": "submit-2"}
    await feedback_client.post("/v1/ideas", json={"title": "First idea", "body": "x"}, headers=headers)

    response = await feedback_client.post(
        "/v1/ideas", json={"title": "Other idea", "body": "y"}, headers=headers
    )

    assert response.status_code == 409
    assert await count_rows(feedback_engine, "idea") == 1


async def test_empty_title_is_422_naming_the_field_and_writes_nothing(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    response = await feedback_client.post(
        "/v1/ideas", json={"title": "   ", "body": "x"}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.title"]
    assert await count_rows(feedback_engine, "idea") == 0


async def test_oversized_body_is_422_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post(
        "/v1/ideas", json={"title": "Long one", "body": "x" * 10_001}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.body"]


async def test_unknown_board_is_422_naming_the_field(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post(
        "/v1/ideas",
        json={"title": "Somewhere", "body": "x", "board": "nope"},
        headers=as_customer(uuid.uuid4()),
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.board"]


async def test_staff_cannot_submit_ideas_as_a_customer(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post(
        "/v1/ideas", json={"title": "Staff idea", "body": "x"}, headers=ADMIN
    )

    assert response.status_code == 403


async def test_submitting_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post("/v1/ideas", json={"title": "Anonymous", "body": "x"})

    assert response.status_code == 401


async def test_submission_rate_is_limited_per_customer(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    for n in range(5):
        await submit(feedback_client, author, title=f"Idea number {n} about {uuid.uuid4().hex}")

    response = await feedback_client.post(
        "/v1/ideas", json={"title": "One more idea", "body": "x"}, headers=as_customer(author)
    )

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert await count_rows(feedback_engine, "idea") == 5
    assert (await submit(feedback_client, uuid.uuid4()))["status"] == "new"


async def test_author_edits_within_the_window(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea = await submit(feedback_client, author)

    response = await feedback_client.patch(
        f"/v1/ideas/{idea['id']}", json={"title": "A better title"}, headers=as_customer(author)
    )

    assert response.status_code == 200, response.text
    stored = await stored_idea(feedback_engine, idea["id"])
    assert (stored.title, stored.edited_at is not None) == ("A better title", True)


async def test_another_customer_cannot_edit_the_idea(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)

    response = await feedback_client.patch(
        f"/v1/ideas/{idea['id']}", json={"title": "Hijacked"}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/not-the-author")
