"""Batch reads for the gateway's DataLoaders: each answer equals the single endpoint's, per requested id."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.identity.support import ADMIN, AGENT, identify
from tests.support import bearer, customer_token

# Selects per batch read, whatever the batch size: survivors (recursive CTE) and customers, then
# profiles and identifiers / touchpoints (one LATERAL query) / consents; merges need no resolution.
SELECTS_PER_BATCH = {
    "/v1/customers:batch": 4,
    "/v1/customers:timelines": 3,
    "/v1/customers:merges": 1,
    "/v1/customers:consents": 3,
}
BATCH_PATHS = list(SELECTS_PER_BATCH)
BASE = datetime(2026, 11, 1, tzinfo=UTC)


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def _merge(client: httpx.AsyncClient, survivor_id: str, merged_id: str) -> None:
    response = await client.post(
        "/v1/merges", json={"survivor_id": survivor_id, "merged_id": merged_id}, headers=AGENT
    )
    assert response.status_code == 201, response.text


async def _with_touchpoints(client: httpx.AsyncClient, email: str, channels: list[str], hour: int = 0) -> str:
    """A customer with one touchpoint per channel given, an hour apart from ``hour`` on."""
    records = [
        {
            "identifiers": [{"type": "email", "value": email}],
            "touchpoint": {
                "channel": channel,
                "type": "visit" if channel == "web" else "call",
                "occurred_at": (BASE + timedelta(hours=hour + n)).isoformat(),
            },
        }
        for n, channel in enumerate(channels)
    ]
    response = await client.post("/v1/identify:batch", json={"records": records}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return str(response.json()["items"][0]["result"]["customer_id"])


async def _set_consents(
    client: httpx.AsyncClient, customer_id: str, consents: list[tuple[str, str, bool]]
) -> None:
    body = {"consents": [{"channel": c, "purpose": p, "granted": g} for c, p, g in consents]}
    response = await client.put("/v1/me/consents", json=body, headers=bearer(customer_token(customer_id)))
    assert response.status_code == 200, response.text


@contextmanager
def _counted_selects(client: httpx.AsyncClient) -> Iterator[list[str]]:
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_batch_returns_each_full_customer_keyed_by_the_requested_id(
    identity_client: httpx.AsyncClient,
) -> None:
    kim = await identify(
        identity_client, ("email", "kim@example.com"), traits={"name": "Kim Minji", "city": "Seoul"}
    )
    lee = await identify(identity_client, ("phone", "010-1111-2222"), traits={"name": "Lee"}, source="shop")
    duplicate = await identify(
        identity_client, ("device", "kim-ipad"), traits={"city": "Busan"}, source="app"
    )
    await _merge(identity_client, kim["customer_id"], duplicate["customer_id"])
    unknown = str(uuid.uuid4())
    requested = [
        kim["customer_id"],
        duplicate["customer_id"],
        lee["customer_id"],
        unknown,
        kim["customer_id"],
    ]

    body = await _get(identity_client, "/v1/customers:batch", ids=requested)

    assert set(body["items"]) == {kim["customer_id"], duplicate["customer_id"], lee["customer_id"]}
    for customer_id in body["items"]:
        assert body["items"][customer_id] == await _get(identity_client, f"/v1/customers/{customer_id}")
    merged_away = body["items"][duplicate["customer_id"]]
    assert (merged_away["id"], merged_away["resolved_from"]) == (kim["customer_id"], duplicate["customer_id"])
    assert merged_away["profile"]["city"]["sources"] == 2
    assert {i["value"] for i in merged_away["identifiers"]} == {"kim@example.com", "kim-ipad"}
    assert body["items"][kim["customer_id"]]["resolved_from"] is None
    assert body["missing"] == [unknown]


async def test_batch_counts_an_erased_customer_as_missing(identity_client: httpx.AsyncClient) -> None:
    kept = await identify(identity_client, ("email", "kept@example.com"))
    erased = await identify(identity_client, ("email", "gone@example.com"))
    response = await identity_client.delete(f"/v1/customers/{erased['customer_id']}", headers=ADMIN)
    assert response.status_code == 204

    body = await _get(
        identity_client, "/v1/customers:batch", ids=[kept["customer_id"], erased["customer_id"]]
    )

    assert list(body["items"]) == [kept["customer_id"]]
    assert body["missing"] == [erased["customer_id"]]


async def test_timelines_give_each_customer_the_first_page_of_the_single_endpoint(
    identity_client: httpx.AsyncClient,
) -> None:
    busy = await _with_touchpoints(identity_client, "busy@example.com", ["web", "call_center"] * 3)
    quiet = await _with_touchpoints(identity_client, "quiet@example.com", ["web"], hour=10)
    moved = await _with_touchpoints(identity_client, "moved@example.com", ["web", "web"], hour=20)
    await _merge(identity_client, quiet, moved)
    unknown = str(uuid.uuid4())
    filters = {"channel": "web", "limit": 2}

    body = await _get(identity_client, "/v1/customers:timelines", ids=[busy, moved, unknown], **filters)

    assert set(body["items"]) == {busy, moved}
    for customer_id, page in body["items"].items():
        assert page == await _get(identity_client, f"/v1/customers/{customer_id}/timeline", **filters)
    first = body["items"][busy]
    assert [(t["channel"], t["occurred_at"][:13]) for t in first["items"]] == [
        ("web", "2026-11-01T04"),
        ("web", "2026-11-01T02"),
    ]
    rest = await _get(
        identity_client, f"/v1/customers/{busy}/timeline", after=first["next_cursor"], **filters
    )
    assert [t["occurred_at"][:13] for t in rest["items"]] == ["2026-11-01T00"]
    assert rest["next_cursor"] is None
    # The merged-away id gets its survivor's timeline: its own two touchpoints and the survivor's one.
    assert {t["customer_id"] for t in body["items"][moved]["items"]} == {quiet}
    assert [t["occurred_at"][:13] for t in body["items"][moved]["items"]] == [
        "2026-11-01T21",
        "2026-11-01T20",
    ]
    assert body["items"][moved]["next_cursor"] is not None


async def test_timelines_apply_type_and_time_filters_like_the_single_endpoint(
    identity_client: httpx.AsyncClient,
) -> None:
    first = await _with_touchpoints(identity_client, "f1@example.com", ["web", "call_center"] * 4)
    second = await _with_touchpoints(identity_client, "f2@example.com", ["call_center", "web"], hour=5)
    filters = {
        "type": "call",
        "since": (BASE + timedelta(hours=2)).isoformat(),
        "until": (BASE + timedelta(hours=7)).isoformat(),
    }

    body = await _get(identity_client, "/v1/customers:timelines", ids=[first, second], **filters)

    assert [t["occurred_at"][:13] for t in body["items"][first]["items"]] == [
        "2026-11-01T05",
        "2026-11-01T03",
    ]
    assert [t["occurred_at"][:13] for t in body["items"][second]["items"]] == ["2026-11-01T05"]
    for customer_id, page in body["items"].items():
        assert page["next_cursor"] is None
        assert page == await _get(
            identity_client, f"/v1/customers/{customer_id}/timeline", limit=20, **filters
        )


async def test_timelines_default_to_twenty_per_customer(identity_client: httpx.AsyncClient) -> None:
    long = await _with_touchpoints(identity_client, "long@example.com", ["web"] * 21)
    empty = (await identify(identity_client, ("email", "empty@example.com")))["customer_id"]

    body = await _get(identity_client, "/v1/customers:timelines", ids=[long, empty])

    assert len(body["items"][long]["items"]) == 20
    assert body["items"][long]["next_cursor"] is not None
    assert body["items"][empty] == {"items": [], "next_cursor": None}


async def test_merges_batch_gives_each_requested_id_its_own_history(
    identity_client: httpx.AsyncClient,
) -> None:
    survivor = (await identify(identity_client, ("email", "s@example.com")))["customer_id"]
    first = (await identify(identity_client, ("email", "m1@example.com")))["customer_id"]
    second = (await identify(identity_client, ("email", "m2@example.com")))["customer_id"]
    loner = (await identify(identity_client, ("email", "loner@example.com")))["customer_id"]
    await _merge(identity_client, survivor, first)
    await _merge(identity_client, survivor, second)
    unknown = str(uuid.uuid4())

    body = await _get(identity_client, "/v1/customers:merges", ids=[survivor, first, loner, unknown, first])

    assert set(body["items"]) == {survivor, first, loner, unknown}
    for customer_id, history in body["items"].items():
        assert history == await _get(identity_client, f"/v1/customers/{customer_id}/merges")
    assert [m["merged_id"] for m in body["items"][survivor]] == [second, first]
    assert [(m["survivor_id"], m["merged_id"]) for m in body["items"][first]] == [(survivor, first)]
    assert body["items"][loner] == body["items"][unknown] == []


async def test_customer_consents_match_what_the_customer_sees_on_me(
    identity_client: httpx.AsyncClient,
) -> None:
    me = (await identify(identity_client, ("email", "c1@example.com")))["customer_id"]
    await _set_consents(identity_client, me, [("email", "marketing", True), ("sms", "service", False)])
    await _set_consents(identity_client, me, [("email", "marketing", False)])
    token = bearer(customer_token(me))

    own = await identity_client.get(f"/v1/customers/{me}/consents", headers=token)
    as_staff = await _get(identity_client, f"/v1/customers/{me}/consents")

    assert own.status_code == 200
    assert own.json() == as_staff == (await identity_client.get("/v1/me/consents", headers=token)).json()
    assert [(c["channel"], c["purpose"], c["granted"]) for c in as_staff] == [
        ("email", "marketing", False),
        ("sms", "service", False),
    ]


async def test_customer_consents_refuse_another_customer_and_404_an_unknown_one(
    identity_client: httpx.AsyncClient,
) -> None:
    me = (await identify(identity_client, ("email", "c2@example.com")))["customer_id"]
    other = (await identify(identity_client, ("email", "c3@example.com")))["customer_id"]
    token = bearer(customer_token(me))

    assert (await identity_client.get(f"/v1/customers/{other}/consents", headers=token)).status_code == 403
    unknown = await identity_client.get(f"/v1/customers/{uuid.uuid4()}/consents", headers=ADMIN)
    assert unknown.status_code == 404


async def test_consents_batch_follows_merges_and_leaves_unknown_ids_out(
    identity_client: httpx.AsyncClient,
) -> None:
    survivor = (await identify(identity_client, ("email", "cs@example.com")))["customer_id"]
    merged = (await identify(identity_client, ("email", "cm@example.com")))["customer_id"]
    silent = (await identify(identity_client, ("email", "quiet2@example.com")))["customer_id"]
    await _set_consents(identity_client, survivor, [("email", "marketing", True)])
    await _set_consents(identity_client, merged, [("push", "service", True)])
    await _merge(identity_client, survivor, merged)

    body = await _get(
        identity_client, "/v1/customers:consents", ids=[survivor, merged, silent, str(uuid.uuid4())]
    )

    assert set(body["items"]) == {survivor, merged, silent}
    for customer_id, current in body["items"].items():
        assert current == await _get(identity_client, f"/v1/customers/{customer_id}/consents")
    assert [(c["channel"], c["purpose"]) for c in body["items"][merged]] == [
        ("email", "marketing"),
        ("push", "service"),
    ]
    assert body["items"][silent] == []


@pytest.mark.parametrize("path", BATCH_PATHS)
async def test_a_customer_token_cannot_use_the_batch_reads(
    identity_client: httpx.AsyncClient, path: str
) -> None:
    me = (await identify(identity_client, ("email", "tok@example.com")))["customer_id"]
    response = await identity_client.get(path, params={"ids": [me]}, headers=bearer(customer_token(me)))
    assert response.status_code == 403


@pytest.mark.parametrize("path", BATCH_PATHS)
async def test_more_than_two_hundred_ids_is_a_422_naming_ids(
    identity_client: httpx.AsyncClient, path: str
) -> None:
    response = await identity_client.get(
        path, params={"ids": [str(uuid.uuid4()) for _ in range(201)]}, headers=ADMIN
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.ids"]


@pytest.mark.parametrize("path", BATCH_PATHS)
async def test_a_malformed_or_absent_id_is_a_422_naming_ids(
    identity_client: httpx.AsyncClient, path: str
) -> None:
    malformed = await identity_client.get(
        path, params={"ids": [str(uuid.uuid4()), "not-a-uuid"]}, headers=ADMIN
    )
    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["errors"]] == ["query.ids.1"]
    # Without ids the path must not fall through to /v1/customers/{customer_id} (a 404 would).
    absent = await identity_client.get(path, headers=ADMIN)
    assert absent.status_code == 422
    assert [e["field"] for e in absent.json()["errors"]] == ["query.ids"]


async def test_timelines_refuse_a_limit_above_two_hundred(identity_client: httpx.AsyncClient) -> None:
    response = await identity_client.get(
        "/v1/customers:timelines", params={"ids": [str(uuid.uuid4())], "limit": 201}, headers=ADMIN
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.limit"]


async def test_batch_reads_run_as_many_queries_for_thirty_ids_as_for_three(
    identity_client: httpx.AsyncClient,
) -> None:
    customers = []
    for n in range(30):
        customer_id = await _with_touchpoints(identity_client, f"many{n}@example.com", ["web", "sms"])
        await _set_consents(identity_client, customer_id, [("email", "marketing", n % 2 == 0)])
        customers.append(customer_id)
    for merged in customers[1:6]:
        await _merge(identity_client, customers[0], merged)

    for path in BATCH_PATHS:
        counts = []
        for ids in (customers[:3], customers):
            with _counted_selects(identity_client) as statements:
                await _get(identity_client, path, ids=ids)
            counts.append(len(statements))
        assert counts == [SELECTS_PER_BATCH[path]] * 2, path
