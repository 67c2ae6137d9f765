import httpx

from tests.identity.support import ADMIN, AGENT, customer, identifier_values, identify


async def _timeline_ids(client: httpx.AsyncClient, customer_id: str) -> set[str]:
    response = await client.get(f"/v1/customers/{customer_id}/timeline", headers=ADMIN)
    return {t["id"] for t in response.json()["items"]}


async def test_undo_restores_identifiers_traits_and_touchpoints_even_after_later_activity(
    identity_client: httpx.AsyncClient,
) -> None:
    web = await identify(
        identity_client,
        ("email", "jy@example.com"),
        traits={"name": "Jiyoung"},
        touchpoint={"channel": "web", "type": "page_view"},
    )
    call = await identify(
        identity_client,
        ("phone", "010-2222-3333"),
        traits={"city": "Busan"},
        source="callcenter",
        touchpoint={"channel": "call_center", "type": "call"},
    )
    before = await customer(identity_client, call["customer_id"])
    call_touchpoints = await _timeline_ids(identity_client, call["customer_id"])
    merged = await identify(identity_client, ("email", "jy@example.com"), ("phone", "010-2222-3333"))
    merge_id = merged["merge_ids"][0]
    # Later activity on the survivor, after the merge.
    await identify(
        identity_client,
        ("email", "jy@example.com"),
        ("device", "ios-1"),
        touchpoint={"channel": "mobile_app", "type": "open"},
    )

    response = await identity_client.post(f"/v1/merges/{merge_id}/undo", headers=AGENT)
    assert response.status_code == 200
    assert response.json()["undone_by"].startswith("agent:")

    restored = await customer(identity_client, call["customer_id"])
    assert restored["id"] == call["customer_id"] and restored["resolved_from"] is None
    assert identifier_values(restored) == identifier_values(before)
    assert restored["profile"] == before["profile"]
    assert await _timeline_ids(identity_client, call["customer_id"]) == call_touchpoints
    survivor = await customer(identity_client, web["customer_id"])
    assert identifier_values(survivor) == {("email", "jy@example.com"), ("device", "ios-1")}
    assert call_touchpoints.isdisjoint(await _timeline_ids(identity_client, web["customer_id"]))


async def test_undo_after_a_second_merge_takes_the_rows_back_from_wherever_they_went(
    identity_client: httpx.AsyncClient,
) -> None:
    a = await identify(identity_client, ("email", "a@example.com"))
    b = await identify(identity_client, ("phone", "010-1000-2000"))
    first = await identify(identity_client, ("email", "a@example.com"), ("phone", "010-1000-2000"))
    c = await identify(identity_client, ("device", "older-device"))
    # A person merges a's group into c by hand: b's rows now sit with c.
    manual = await identity_client.post(
        "/v1/merges", json={"survivor_id": c["customer_id"], "merged_id": a["customer_id"]}, headers=ADMIN
    )
    assert manual.status_code == 201
    undo = await identity_client.post(f"/v1/merges/{first['merge_ids'][0]}/undo", headers=ADMIN)
    assert undo.status_code == 200
    assert identifier_values(await customer(identity_client, b["customer_id"])) == {
        ("phone", "+821010002000")
    }
    assert identifier_values(await customer(identity_client, c["customer_id"])) == {
        ("device", "older-device"),
        ("email", "a@example.com"),
    }


async def test_an_undone_pair_is_not_merged_again_automatically(identity_client: httpx.AsyncClient) -> None:
    await identify(identity_client, ("email", "x@example.com"))
    await identify(identity_client, ("phone", "010-3000-4000"))
    merged = await identify(identity_client, ("email", "x@example.com"), ("phone", "010-3000-4000"))
    await identity_client.post(f"/v1/merges/{merged['merge_ids'][0]}/undo", headers=ADMIN)
    again = await identify(identity_client, ("email", "x@example.com"), ("phone", "010-3000-4000"))
    assert again["outcome"] == "conflict"
    assert again["merge_ids"] == []


async def test_undo_twice_is_a_409(identity_client: httpx.AsyncClient) -> None:
    await identify(identity_client, ("email", "y@example.com"))
    await identify(identity_client, ("phone", "010-5000-6000"))
    merged = await identify(identity_client, ("email", "y@example.com"), ("phone", "010-5000-6000"))
    merge_id = merged["merge_ids"][0]
    assert (await identity_client.post(f"/v1/merges/{merge_id}/undo", headers=ADMIN)).status_code == 200
    second = await identity_client.post(f"/v1/merges/{merge_id}/undo", headers=ADMIN)
    assert second.status_code == 409
    assert second.json()["type"].endswith("/merge-already-undone")


async def test_merge_history_shows_rule_evidence_and_actor(identity_client: httpx.AsyncClient) -> None:
    a = await identify(identity_client, ("email", "h@example.com"))
    await identify(identity_client, ("phone", "010-7000-8000"))
    await identify(identity_client, ("email", "h@example.com"), ("phone", "010-7000-8000"), source="shop")
    history = (await identity_client.get(f"/v1/customers/{a['customer_id']}/merges", headers=ADMIN)).json()
    assert len(history) == 1
    assert history[0]["rule"] == "identifier:phone"  # the identifier that tied in the merged customer
    assert history[0]["actor"] == "admin:staff-admin"
    assert history[0]["evidence"]["source"] == "shop"
    assert {"type": "phone", "value": "+821070008000"} in history[0]["evidence"]["shared_identifiers"]
    assert history[0]["evidence"]["moved"]["identifier"] == 1


async def test_never_merge_pair_refuses_a_manual_merge(identity_client: httpx.AsyncClient) -> None:
    a = await identify(identity_client, ("email", "n1@example.com"))
    b = await identify(identity_client, ("email", "n2@example.com"))
    pair = {"customer_id": a["customer_id"], "other_customer_id": b["customer_id"], "reason": "twins"}
    assert (await identity_client.post("/v1/never-merges", json=pair, headers=ADMIN)).status_code == 204
    response = await identity_client.post(
        "/v1/merges", json={"survivor_id": a["customer_id"], "merged_id": b["customer_id"]}, headers=ADMIN
    )
    assert response.status_code == 409


async def test_a_customer_token_cannot_merge(identity_client: httpx.AsyncClient) -> None:
    from tests.support import bearer, customer_token

    a = await identify(identity_client, ("email", "m1@example.com"))
    b = await identify(identity_client, ("email", "m2@example.com"))
    response = await identity_client.post(
        "/v1/merges",
        json={"survivor_id": a["customer_id"], "merged_id": b["customer_id"]},
        headers=bearer(customer_token(a["customer_id"])),
    )
    assert response.status_code == 403


async def test_undo_of_a_large_merge_returns_everything(identity_client: httpx.AsyncClient) -> None:
    await identify(identity_client, ("email", "big@example.com"))
    heavy = await identify(identity_client, ("phone", "010-6000-7000"))
    records = [
        {
            "identifiers": [{"type": "phone", "value": "010-6000-7000"}],
            "source": "web",
            "touchpoint": {"channel": "web", "type": "page_view", "external_id": f"pv-{n}"},
        }
        for n in range(300)
    ]
    await identity_client.post("/v1/identify:batch", json={"records": records}, headers=ADMIN)
    merged = await identify(identity_client, ("email", "big@example.com"), ("phone", "010-6000-7000"))
    assert (
        await identity_client.post(f"/v1/merges/{merged['merge_ids'][0]}/undo", headers=ADMIN)
    ).status_code == 200
    page = (
        await identity_client.get(
            f"/v1/customers/{heavy['customer_id']}/timeline", params={"limit": 200}, headers=ADMIN
        )
    ).json()
    second = (
        await identity_client.get(
            f"/v1/customers/{heavy['customer_id']}/timeline",
            params={"limit": 200, "after": page["next_cursor"]},
            headers=ADMIN,
        )
    ).json()
    assert len(page["items"]) + len(second["items"]) == 300
