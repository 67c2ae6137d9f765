import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.feedback.comments.support import (
    ADMIN,
    AGENT,
    SPAMMY,
    age_comment,
    as_customer,
    comment_as,
    comment_row,
    idea_row,
    make_idea,
    post_comment,
)


async def test_author_edits_their_comment_within_the_window(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), author, "Teh typo.")

    response = await feedback_client.patch(
        f"/v1/comments/{comment['id']}", json={"body": "The typo, fixed."}, headers=as_customer(author)
    )

    assert response.status_code == 200, response.text
    assert (response.json()["body"], response.json()["moderation_state"]) == ("The typo, fixed.", "published")
    assert response.json()["edited_at"] is not None
    assert (await comment_row(feedback_engine, comment["id"])).body == "The typo, fixed."


async def test_edit_after_the_window_is_403_edit_window_closed(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), author, "Original words.")
    await age_comment(feedback_engine, comment["id"], 901)  # the default window is 900 s

    response = await feedback_client.patch(
        f"/v1/comments/{comment['id']}", json={"body": "Too late."}, headers=as_customer(author)
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/edit-window-closed")
    assert (await comment_row(feedback_engine, comment["id"])).body == "Original words."


async def test_another_customer_cannot_edit_a_comment(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4(), "Mine.")

    response = await feedback_client.patch(
        f"/v1/comments/{comment['id']}", json={"body": "Not yours."}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/not-the-author")


async def test_staff_cannot_edit_a_customers_comment_but_may_edit_their_own(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine)
    customers = await comment_as(feedback_client, idea_id, uuid.uuid4(), "Customer words.")
    official = (await post_comment(feedback_client, idea_id, AGENT, "We are on it.")).json()

    on_customer = await feedback_client.patch(
        f"/v1/comments/{customers['id']}", json={"body": "Rewritten."}, headers=AGENT
    )
    on_other_staff = await feedback_client.patch(
        f"/v1/comments/{official['id']}", json={"body": "Rewritten."}, headers=ADMIN
    )
    on_own = await feedback_client.patch(
        f"/v1/comments/{official['id']}", json={"body": "We shipped it."}, headers=AGENT
    )

    assert (on_customer.status_code, on_other_staff.status_code, on_own.status_code) == (403, 403, 200)


async def test_editing_an_unknown_comment_is_404(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.patch(
        f"/v1/comments/{uuid.uuid4()}", json={"body": "Anything."}, headers=as_customer(uuid.uuid4())
    )

    assert response.status_code == 404
    assert response.json()["type"].endswith("/comment-not-found")


async def test_empty_edit_is_422_naming_body(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), author, "Original words.")

    response = await feedback_client.patch(
        f"/v1/comments/{comment['id']}", json={"body": "  "}, headers=as_customer(author)
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.body"]


async def test_editing_links_into_a_published_comment_sends_it_back_to_the_queue(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    comment = await comment_as(feedback_client, idea_id, author, "Innocent enough.")
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 1

    response = await feedback_client.patch(
        f"/v1/comments/{comment['id']}", json={"body": SPAMMY}, headers=as_customer(author)
    )

    assert response.status_code == 200, response.text
    assert response.json()["moderation_state"] == "pending"
    assert (await idea_row(feedback_engine, idea_id)).comment_count == 0


async def test_author_cannot_edit_a_hidden_comment(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    comment = await comment_as(feedback_client, await make_idea(feedback_engine), author, "Rude words.")
    hidden = await feedback_client.post(f"/v1/moderation/comments/{comment['id']}/hide", headers=AGENT)
    assert hidden.status_code == 200, hidden.text

    response = await feedback_client.patch(
        f"/v1/comments/{comment['id']}", json={"body": "Nice words now."}, headers=as_customer(author)
    )

    assert response.status_code == 409
    assert response.json()["type"].endswith("/comment-not-editable")
    assert (await comment_row(feedback_engine, comment["id"])).body == "Rude words."
