import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.ideas import service
from feedback.ideas.ranking import trending_score
from tests.feedback.ideas.support import ADMIN, as_customer, stored_idea, submit, vote


async def _ids(client: httpx.AsyncClient, **params: str | int) -> list[str]:
    response = await client.get("/v1/ideas", params=params, headers=as_customer(uuid.uuid4()))
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _votes(client: httpx.AsyncClient, idea_id: str, up: int, down: int) -> None:
    for _ in range(up):
        await vote(client, idea_id, uuid.uuid4(), "up")
    for _ in range(down):
        await vote(client, idea_id, uuid.uuid4(), "down")


async def test_top_ranks_by_wilson_lower_bound_not_by_net_votes(feedback_client: httpx.AsyncClient) -> None:
    many = await submit(feedback_client)  # 9 up 3 down: net 6, Wilson 0.47
    few = await submit(feedback_client)  # 2 up 0 down: net 2, Wilson 0.34
    loved = await submit(feedback_client)  # 8 up 0 down: net 8, Wilson 0.68
    await _votes(feedback_client, many["id"], 9, 3)
    await _votes(feedback_client, few["id"], 2, 0)
    await _votes(feedback_client, loved["id"], 8, 0)

    assert await _ids(feedback_client, sort="top") == [loved["id"], many["id"], few["id"]]


async def test_newest_lists_the_latest_first(feedback_client: httpx.AsyncClient) -> None:
    first = await submit(feedback_client)
    second = await submit(feedback_client)

    assert await _ids(feedback_client, sort="newest") == [second["id"], first["id"]]


async def test_trending_prefers_recent_activity_over_old(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    old = await submit(feedback_client)
    recent = await submit(feedback_client)
    await _votes(feedback_client, old["id"], 6, 0)
    await _votes(feedback_client, recent["id"], 3, 0)
    async with feedback_engine.begin() as conn:  # the old idea's votes were cast a week ago
        week_ago = datetime.now(UTC) - timedelta(days=7)
        await conn.execute(
            text("UPDATE vote SET cast_at = :at WHERE idea_id = :id"), {"at": week_ago, "id": old["id"]}
        )
        await conn.execute(
            text("UPDATE idea SET created_at = :at WHERE id = :id"), {"at": week_ago, "id": old["id"]}
        )
    async with session_factory(feedback_engine)() as session, session.begin():
        await service.recount(session, [uuid.UUID(old["id"])])

    assert (await _ids(feedback_client, sort="trending"))[:2] == [recent["id"], old["id"]]
    assert await _ids(feedback_client, sort="top") == [old["id"], recent["id"]]


async def test_incremental_trending_key_equals_a_recount_from_the_rows(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea = await submit(feedback_client)
    voters = [uuid.uuid4() for _ in range(6)]
    for voter in voters:
        await vote(feedback_client, idea["id"], voter, "up")
    await vote(feedback_client, idea["id"], voters[0], "down")
    await vote(feedback_client, idea["id"], voters[1], None)
    incremental = (await stored_idea(feedback_engine, idea["id"])).trending_score

    async with session_factory(feedback_engine)() as session, session.begin():
        await service.recount(session, [uuid.UUID(idea["id"])])
    stored = await stored_idea(feedback_engine, idea["id"])

    assert abs(stored.trending_score - incremental) < 1e-6
    async with feedback_engine.connect() as conn:
        times = [r[0] for r in await conn.execute(text("SELECT cast_at FROM vote WHERE direction = 1"))]
    assert abs(stored.trending_score - trending_score([stored.created_at, *times], 48.0)) < 1e-6
    assert (stored.up_count, stored.down_count) == (4, 1)


async def test_cursor_pages_cover_every_idea_once(feedback_client: httpx.AsyncClient) -> None:
    ideas = [await submit(feedback_client) for _ in range(7)]
    for n, idea in enumerate(ideas):
        await _votes(feedback_client, idea["id"], n % 3, 0)
    seen: list[str] = []
    after = None
    headers = as_customer(uuid.uuid4())
    while True:
        params: dict[str, str | int] = {"sort": "top", "limit": 3, **({"after": after} if after else {})}
        page = (await feedback_client.get("/v1/ideas", params=params, headers=headers)).json()
        seen += [item["id"] for item in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break

    assert sorted(seen) == sorted(i["id"] for i in ideas)
    assert len(seen) == len(set(seen))


async def test_filters_by_status_category_and_tag(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    ui = await submit(feedback_client, category="app", tags=["ui"])
    await submit(feedback_client, category="stores", tags=["checkout"])
    planned = await submit(feedback_client, category="app", tags=["sync"])
    response = await feedback_client.post(
        f"/v1/ideas/{planned['id']}/status",
        json={"status": "planned", "response": "Coming in Q1."},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text

    assert await _ids(feedback_client, status="planned") == [planned["id"]]
    assert set(await _ids(feedback_client, category="app")) == {ui["id"], planned["id"]}
    assert await _ids(feedback_client, tag="ui") == [ui["id"]]


async def test_a_cursor_from_another_sort_is_rejected(feedback_client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await submit(feedback_client)
    headers = as_customer(uuid.uuid4())
    page = (
        await feedback_client.get("/v1/ideas", params={"sort": "top", "limit": 1}, headers=headers)
    ).json()

    response = await feedback_client.get(
        "/v1/ideas", params={"sort": "newest", "after": page["next_cursor"]}, headers=headers
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.after"]


async def test_my_vote_shows_in_the_listing(feedback_client: httpx.AsyncClient) -> None:
    idea = await submit(feedback_client)
    voter = uuid.uuid4()
    await vote(feedback_client, idea["id"], voter, "down")

    items = (await feedback_client.get("/v1/ideas", headers=as_customer(voter))).json()["items"]

    assert [(i["id"], i["my_vote"]) for i in items] == [(idea["id"], "down")]
    assert items[0]["author_id"] is None
