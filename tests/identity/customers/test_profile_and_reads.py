import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import event

from tests.identity.support import ADMIN, customer, identify
from tests.support import bearer, customer_token


async def test_profile_keeps_every_source_and_chooses_by_configured_rules(
    identity_client: httpx.AsyncClient,
) -> None:
    early = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    first = await identify(
        identity_client,
        ("email", "p@example.com"),
        traits={"name": "Min-jun Kim", "city": "Seoul"},
        source="shop",
    )
    await identify(identity_client, ("email", "p@example.com"), traits={"name": "김민준"}, source="crm")
    await identify(identity_client, ("email", "p@example.com"), traits={"city": "Busan"}, source="callcenter")
    body = {
        "identifiers": [{"type": "email", "value": "p@example.com"}],
        "traits": {"city": "Incheon"},
        "source": "store",
        "observed_at": early,
    }
    await identity_client.post("/v1/identify", json=body, headers=ADMIN)
    profile = (await customer(identity_client, first["customer_id"]))["profile"]
    # name: source priority (crm before shop); city: most recent observation, not the late-arriving old one.
    assert (profile["name"]["value"], profile["name"]["source"], profile["name"]["sources"]) == (
        "김민준",
        "crm",
        2,
    )
    assert (profile["city"]["value"], profile["city"]["source"]) == ("Busan", "callcenter")
    assert (await customer(identity_client, first["customer_id"]))["display_name"] == "김민준"


async def test_most_frequent_rule_picks_the_value_seen_most(identity_client: httpx.AsyncClient) -> None:
    first = await identify(
        identity_client, ("email", "f@example.com"), traits={"birth_date": "1990-01-02"}, source="a"
    )
    await identify(
        identity_client, ("email", "f@example.com"), traits={"birth_date": "1990-01-02"}, source="a"
    )
    await identify(
        identity_client, ("email", "f@example.com"), traits={"birth_date": "1990-02-01"}, source="b"
    )
    profile = (await customer(identity_client, first["customer_id"]))["profile"]
    assert profile["birth_date"]["value"] == "1990-01-02"


async def test_lookup_by_any_identifier_in_any_format(identity_client: httpx.AsyncClient) -> None:
    created = await identify(identity_client, ("phone", "+82 10 4321 8765"))
    response = await identity_client.get(
        "/v1/customers/lookup", params={"type": "phone", "value": "010-4321-8765"}, headers=ADMIN
    )
    assert response.status_code == 200
    assert response.json()["id"] == created["customer_id"]


async def test_search_by_name_email_or_phone_prefix_with_cursor(identity_client: httpx.AsyncClient) -> None:
    given = ["Ann", "Bob", "Cho", "Dan", "Eun"]  # names compare without digits, so distinct letters
    for n, name in enumerate(given):
        await identify(
            identity_client, ("email", f"searcher{n}@example.com"), traits={"name": f"Searchable {name}"}
        )
    await identify(identity_client, ("email", "other@example.com"), traits={"name": "Someone Else"})
    first = (
        await identity_client.get("/v1/customers/search", params={"q": "search", "limit": 3}, headers=ADMIN)
    ).json()
    rest = (
        await identity_client.get(
            "/v1/customers/search",
            params={"q": "search", "limit": 3, "after": first["next_cursor"]},
            headers=ADMIN,
        )
    ).json()
    names = [c["display_name"] for c in first["items"] + rest["items"]]
    assert names == [f"Searchable {name}" for name in given]
    assert rest["next_cursor"] is None
    by_email = (
        await identity_client.get("/v1/customers/search", params={"q": "other@"}, headers=ADMIN)
    ).json()
    assert [c["display_name"] for c in by_email["items"]] == ["Someone Else"]


async def test_batch_get_resolves_merged_ids_in_a_fixed_number_of_queries(
    identity_client: httpx.AsyncClient,
) -> None:
    created = [await identify(identity_client, ("device", f"batch-{n}")) for n in range(30)]
    engine = identity_client._transport.app.state.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        ids = [c["customer_id"] for c in created] + [str(uuid.uuid4())]
        response = await identity_client.get("/v1/customers", params={"ids": ids}, headers=ADMIN)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 30
    assert len(response.json()["missing"]) == 1
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) == 2  # survivors (recursive CTE) + customers, whatever the batch size


async def test_timeline_filters_by_channel_and_pages_newest_first(identity_client: httpx.AsyncClient) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    records = [
        {
            "identifiers": [{"type": "email", "value": "tl@example.com"}],
            "touchpoint": {
                "channel": "web" if n % 2 else "call_center",
                "type": "visit",
                "occurred_at": (base + timedelta(hours=n)).isoformat(),
            },
        }
        for n in range(7)
    ]
    body = (await identity_client.post("/v1/identify:batch", json={"records": records}, headers=ADMIN)).json()
    customer_id = body["items"][0]["result"]["customer_id"]
    web = (
        await identity_client.get(
            f"/v1/customers/{customer_id}/timeline", params={"channel": "web", "limit": 2}, headers=ADMIN
        )
    ).json()
    assert [t["occurred_at"][:13] for t in web["items"]] == ["2026-11-01T05", "2026-11-01T03"]
    more = (
        await identity_client.get(
            f"/v1/customers/{customer_id}/timeline",
            params={"channel": "web", "limit": 2, "after": web["next_cursor"]},
            headers=ADMIN,
        )
    ).json()
    assert [t["occurred_at"][:13] for t in more["items"]] == ["2026-11-01T01"]


async def test_a_repeated_touchpoint_from_a_source_is_recorded_once(
    identity_client: httpx.AsyncClient,
) -> None:
    touchpoint = {"channel": "partner", "type": "order_placed", "external_id": "order-77"}
    first = await identify(identity_client, ("email", "o@example.com"), source="shop", touchpoint=touchpoint)
    again = await identify(identity_client, ("email", "o@example.com"), source="shop", touchpoint=touchpoint)
    assert again["touchpoint_id"] == first["touchpoint_id"]
    timeline = (
        await identity_client.get(f"/v1/customers/{first['customer_id']}/timeline", headers=ADMIN)
    ).json()
    assert len(timeline["items"]) == 1


async def test_timeline_follows_the_customer_through_a_merge(identity_client: httpx.AsyncClient) -> None:
    a = await identify(
        identity_client, ("email", "tm@example.com"), touchpoint={"channel": "web", "type": "visit"}
    )
    b = await identify(
        identity_client, ("social:x", "tm"), touchpoint={"channel": "social", "type": "mention"}
    )
    await identify(identity_client, ("email", "tm@example.com"), ("social:x", "tm"))
    channels = {
        t["channel"]
        for t in (
            await identity_client.get(f"/v1/customers/{b['customer_id']}/timeline", headers=ADMIN)
        ).json()["items"]
    }
    assert channels == {"web", "social"}
    assert a["customer_id"] != b["customer_id"]


async def test_a_customer_token_reads_its_own_record_but_no_other(identity_client: httpx.AsyncClient) -> None:
    me = await identify(identity_client, ("email", "me@example.com"))
    other = await identify(identity_client, ("email", "other2@example.com"))
    token = bearer(customer_token(me["customer_id"]))
    assert (await identity_client.get(f"/v1/customers/{me['customer_id']}", headers=token)).status_code == 200
    assert (
        await identity_client.get(f"/v1/customers/{other['customer_id']}", headers=token)
    ).status_code == 403
    assert (
        await identity_client.get(f"/v1/customers/{other['customer_id']}/timeline", headers=token)
    ).status_code == 403
    assert (
        await identity_client.get("/v1/customers/search", params={"q": "o"}, headers=token)
    ).status_code == 403


async def test_control_characters_in_a_search_are_a_422_naming_the_parameter(
    identity_client: httpx.AsyncClient,
) -> None:
    response = await identity_client.get("/v1/customers/search", params={"q": "kim\u0000"}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.q"


async def test_a_nul_in_a_trait_is_refused_and_nothing_is_written(identity_client: httpx.AsyncClient) -> None:
    body = {"identifiers": [{"type": "email", "value": "nul@example.com"}], "traits": {"name": "a\u0000b"}}
    response = await identity_client.post("/v1/identify", json=body, headers=ADMIN)
    assert response.status_code == 422
    lookup = await identity_client.get(
        "/v1/customers/lookup", params={"type": "email", "value": "nul@example.com"}, headers=ADMIN
    )
    assert lookup.status_code == 404
