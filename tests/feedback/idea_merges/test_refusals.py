import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.auth import Role
from tests.feedback.support import seed_idea, seed_votes, stored_idea, votes_on
from tests.support import bearer, customer_token, staff_token

AGENT = bearer(staff_token(Role.AGENT))
ADMIN = bearer(staff_token(Role.ADMIN))


async def _merge(
    client: httpx.AsyncClient, source_id: uuid.UUID, target_id: uuid.UUID, headers: dict[str, str] = AGENT
) -> httpx.Response:
    return await client.post(
        f"/v1/ideas/{source_id}/merge", json={"into_idea_id": str(target_id)}, headers=headers
    )


def _problem(response: httpx.Response, status: int, type_: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/" + type_)


async def test_an_idea_cannot_be_merged_into_itself(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await seed_idea(feedback_engine)

    _problem(await _merge(feedback_client, idea, idea), 409, "idea-merge-into-itself")

    assert (await stored_idea(feedback_engine, idea)).status == "new"


async def test_an_idea_merged_already_cannot_be_merged_again(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source, target, other = [await seed_idea(feedback_engine) for _ in range(3)]
    await _merge(feedback_client, source, target)

    _problem(await _merge(feedback_client, source, other), 409, "idea-already-merged")


async def test_nothing_is_merged_into_an_idea_that_is_itself_a_duplicate(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    duplicate, survivor, newcomer = [await seed_idea(feedback_engine) for _ in range(3)]
    voter = uuid.uuid4()
    await seed_votes(feedback_engine, newcomer, {voter: 1})
    await _merge(feedback_client, duplicate, survivor)

    _problem(await _merge(feedback_client, newcomer, duplicate), 409, "idea-merge-target-merged")

    assert {v[0] for v in await votes_on(feedback_engine, newcomer)} == {voter}


async def test_nothing_is_merged_into_an_idea_that_is_not_published(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source = await seed_idea(feedback_engine)
    hidden = await seed_idea(feedback_engine, moderation_state="hidden")

    _problem(await _merge(feedback_client, source, hidden), 409, "idea-merge-target-not-published")


@pytest.mark.parametrize("unknown", ["source", "target"])
async def test_an_unknown_idea_is_a_404(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, unknown: str
) -> None:
    idea = await seed_idea(feedback_engine)
    source, target = (uuid.uuid4(), idea) if unknown == "source" else (idea, uuid.uuid4())

    _problem(await _merge(feedback_client, source, target), 404, "idea-not-found")

    assert (await stored_idea(feedback_engine, idea)).status == "new"


async def test_unknown_merge_is_a_404_for_read_and_undo(feedback_client: httpx.AsyncClient) -> None:
    merge_id = uuid.uuid4()

    _problem(
        await feedback_client.get(f"/v1/idea-merges/{merge_id}", headers=AGENT), 404, "idea-merge-not-found"
    )
    _problem(
        await feedback_client.post(f"/v1/idea-merges/{merge_id}/undo", headers=AGENT),
        404,
        "idea-merge-not-found",
    )


async def test_merges_of_an_unknown_idea_is_a_404(feedback_client: httpx.AsyncClient) -> None:
    _problem(
        await feedback_client.get(f"/v1/ideas/{uuid.uuid4()}/merges", headers=AGENT), 404, "idea-not-found"
    )


@pytest.mark.parametrize("role", [Role.ANALYST, Role.MARKETER, Role.PARTNER])
async def test_only_admins_and_agents_merge(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, role: Role
) -> None:
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)

    _problem(await _merge(feedback_client, source, target, bearer(staff_token(role))), 403, "forbidden")

    assert (await stored_idea(feedback_engine, source)).status == "new"


async def test_an_admin_may_merge(feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine) -> None:
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)

    response = await _merge(feedback_client, source, target, ADMIN)

    assert response.status_code == 201, response.text
    assert response.json()["merged_by"] == "admin:staff-admin"


async def test_a_customer_cannot_merge_even_their_own_ideas(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    source = await seed_idea(feedback_engine, author_id=author)
    target = await seed_idea(feedback_engine, author_id=author)

    _problem(await _merge(feedback_client, source, target, bearer(customer_token(author))), 403, "forbidden")


async def test_a_customer_cannot_undo_or_read_merges(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    merge_id = (await _merge(feedback_client, source, target)).json()["id"]
    customer = bearer(customer_token(uuid.uuid4()))

    _problem(
        await feedback_client.post(f"/v1/idea-merges/{merge_id}/undo", headers=customer), 403, "forbidden"
    )
    _problem(await feedback_client.get(f"/v1/idea-merges/{merge_id}", headers=customer), 403, "forbidden")
    _problem(await feedback_client.get(f"/v1/ideas/{source}/merges", headers=customer), 403, "forbidden")


async def test_an_analyst_reads_merges_but_cannot_undo_them(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    source, target = await seed_idea(feedback_engine), await seed_idea(feedback_engine)
    merge_id = (await _merge(feedback_client, source, target)).json()["id"]
    analyst = bearer(staff_token(Role.ANALYST))

    assert (await feedback_client.get(f"/v1/idea-merges/{merge_id}", headers=analyst)).status_code == 200
    _problem(
        await feedback_client.post(f"/v1/idea-merges/{merge_id}/undo", headers=analyst), 403, "forbidden"
    )


async def test_a_merge_without_a_token_is_401(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post(
        f"/v1/ideas/{uuid.uuid4()}/merge", json={"into_idea_id": str(uuid.uuid4())}
    )

    _problem(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.into_idea_id"),
        ({"into_idea_id": "not-a-uuid"}, "body.into_idea_id"),
        ({"into_idea_id": "00000000-0000-0000-0000-000000000001", "response": "  "}, "body.response"),
        ({"into_idea_id": "00000000-0000-0000-0000-000000000001", "response": "a\x00b"}, "body.response"),
        ({"into_idea_id": "00000000-0000-0000-0000-000000000001", "response": "x" * 5001}, "body.response"),
        ({"into_idea_id": "00000000-0000-0000-0000-000000000001", "reason": "dup"}, "body.reason"),
    ],
)
async def test_bad_merge_input_is_a_422_naming_the_field(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine, body: dict[str, str], field: str
) -> None:
    source = await seed_idea(feedback_engine)

    response = await feedback_client.post(f"/v1/ideas/{source}/merge", json=body, headers=AGENT)

    _problem(response, 422, "validation")
    assert field in [error["field"] for error in response.json()["errors"]]


async def test_a_malformed_idea_id_in_the_path_is_a_422(feedback_client: httpx.AsyncClient) -> None:
    response = await feedback_client.post(
        "/v1/ideas/12345/merge", json={"into_idea_id": str(uuid.uuid4())}, headers=AGENT
    )

    _problem(response, 422, "validation")
    assert [e["field"] for e in response.json()["errors"]] == ["path.idea_id"]


async def test_a_malformed_cursor_is_a_422(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await seed_idea(feedback_engine)

    response = await feedback_client.get(
        f"/v1/ideas/{idea}/merges", params={"after": "bm90IGpzb24"}, headers=AGENT
    )

    _problem(response, 422, "validation")
    assert [e["field"] for e in response.json()["errors"]] == ["query.after"]
