import asyncio
import uuid

import httpx

from tests.identity.support import ADMIN, customer, identifier_values, identify, ids, outbox_events


async def test_new_identifiers_create_a_customer_with_normalized_identifiers(
    identity_client: httpx.AsyncClient,
) -> None:
    result = await identify(identity_client, ("email", "MJ@Example.com"), ("phone", "010-2345-6789"))
    assert result["outcome"] == "created"
    record = await customer(identity_client, result["customer_id"])
    assert identifier_values(record) == {("email", "mj@example.com"), ("phone", "+821023456789")}


async def test_a_known_identifier_in_another_format_matches_the_same_customer(
    identity_client: httpx.AsyncClient,
) -> None:
    first = await identify(identity_client, ("phone", "010-2345-6789"))
    second = await identify(identity_client, ("phone", "+82 10 2345 6789"), ("device", "ABC-123"))
    assert second["outcome"] == "matched"
    assert second["rule"] == "identifier:phone"
    assert second["customer_id"] == first["customer_id"]
    assert ("device", "abc-123") in identifier_values(await customer(identity_client, first["customer_id"]))


async def test_identifiers_seen_together_merge_two_customers_into_the_oldest(
    identity_client: httpx.AsyncClient,
) -> None:
    web = await identify(identity_client, ("email", "seoyeon@example.com"), traits={"name": "김서연"})
    social = await identify(identity_client, ("social:instagram", "@seoyeon_k"))
    call = await identify(
        identity_client, ("email", "seoyeon@example.com"), ("social:instagram", "seoyeon_k")
    )
    assert call["outcome"] == "merged"
    assert call["customer_id"] == web["customer_id"]
    assert call["merged_customer_ids"] == [social["customer_id"]]
    survivor = await customer(identity_client, web["customer_id"])
    assert identifier_values(survivor) == {
        ("email", "seoyeon@example.com"),
        ("social:instagram", "seoyeon_k"),
    }


async def test_a_merged_away_id_keeps_resolving_to_its_survivor(identity_client: httpx.AsyncClient) -> None:
    a = await identify(identity_client, ("email", "a@example.com"))
    b = await identify(identity_client, ("phone", "010-1111-2222"))
    await identify(identity_client, ("email", "a@example.com"), ("phone", "010-1111-2222"))
    resolved = await customer(identity_client, b["customer_id"])
    assert resolved["id"] == a["customer_id"]
    assert resolved["resolved_from"] == b["customer_id"]


async def test_invalid_identifier_is_a_422_naming_the_field_and_writes_nothing(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    body = {"identifiers": ids(("email", "ok@example.com"), ("phone", "12"))}
    response = await identity_client.post("/v1/identify", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.identifiers.1.value"]
    assert await outbox_events(identity_db) == []
    lookup = await identity_client.get(
        "/v1/customers/lookup", params={"type": "email", "value": "ok@example.com"}, headers=ADMIN
    )
    assert lookup.status_code == 404


async def test_unknown_identifier_type_is_a_422_naming_the_type(identity_client: httpx.AsyncClient) -> None:
    response = await identity_client.post(
        "/v1/identify", json={"identifiers": ids(("fax", "123"))}, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.identifiers.0.type"


async def test_blocked_values_are_ignored_and_reported(identity_client: httpx.AsyncClient) -> None:
    first = await identify(identity_client, ("email", "info@acme.com"), ("phone", "010-3333-4444"))
    second = await identify(identity_client, ("email", "info@acme.com"), ("phone", "010-5555-6666"))
    assert second["customer_id"] != first["customer_id"]  # the shared address linked nobody
    assert [i["reason"] for i in second["ignored_identifiers"]] == ["shared_address"]


async def test_only_blocked_identifiers_is_a_422(identity_client: httpx.AsyncClient) -> None:
    response = await identity_client.post(
        "/v1/identify", json={"identifiers": ids(("external:shop", "null"))}, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "no_usable_identifier"


async def test_merge_that_breaks_a_per_type_limit_becomes_a_conflict(
    identity_client: httpx.AsyncClient,
) -> None:
    one = await identify(identity_client, ("external:shop", "C-1"), ("email", "one@example.com"))
    two = await identify(identity_client, ("external:shop", "C-2"), ("phone", "010-7777-8888"))
    both = await identify(identity_client, ("email", "one@example.com"), ("phone", "010-7777-8888"))
    assert both["outcome"] == "conflict"
    assert both["merge_ids"] == []
    conflicts = (await identity_client.get("/v1/merge-conflicts", headers=ADMIN)).json()["items"]
    assert [c["reason"] for c in conflicts] == ["identifier_limit:external:shop"]
    assert {conflicts[0]["customer_id"], conflicts[0]["other_customer_id"]} == {
        one["customer_id"],
        two["customer_id"],
    }
    # The two stay apart.
    assert (await customer(identity_client, two["customer_id"]))["id"] == two["customer_id"]


async def test_resolving_a_conflict_by_merging_overrides_the_guardrail_on_the_record(
    identity_client: httpx.AsyncClient,
) -> None:
    await identify(identity_client, ("external:shop", "C-1"), ("email", "one@example.com"))
    await identify(identity_client, ("external:shop", "C-2"), ("phone", "010-7777-8888"))
    await identify(identity_client, ("email", "one@example.com"), ("phone", "010-7777-8888"))
    conflict = (await identity_client.get("/v1/merge-conflicts", headers=ADMIN)).json()["items"][0]
    response = await identity_client.post(
        f"/v1/merge-conflicts/{conflict['id']}/resolve", json={"action": "merge"}, headers=ADMIN
    )
    assert response.status_code == 200
    assert response.json()["merge"]["rule"] == "conflict_override"
    again = await identity_client.post(
        f"/v1/merge-conflicts/{conflict['id']}/resolve", json={"action": "merge"}, headers=ADMIN
    )
    assert again.status_code == 409


async def test_merges_stop_at_the_cap_per_customer(
    identity_client: httpx.AsyncClient, identity_settings
) -> None:  # type: ignore[no-untyped-def]
    cap = identity_settings.max_merges_per_customer
    hub = await identify(identity_client, ("email", "hub@example.com"))
    outcomes = []
    for n in range(cap + 1):
        await identify(identity_client, ("device", f"dev-{n}"))
        outcomes.append(
            (await identify(identity_client, ("email", "hub@example.com"), ("device", f"dev-{n}")))["outcome"]
        )
    assert outcomes[:cap] == ["merged"] * cap
    assert outcomes[cap] == "conflict"
    assert (await customer(identity_client, hub["customer_id"]))["id"] == hub["customer_id"]


async def test_concurrent_identifies_sharing_an_identifier_create_one_customer(
    identity_client: httpx.AsyncClient,
) -> None:
    shared = f"{uuid.uuid4().hex[:8]}@example.com"
    results = await asyncio.gather(
        *(identify(identity_client, ("email", shared), ("device", f"d{n}")) for n in range(12))
    )
    assert len({r["customer_id"] for r in results}) == 1
    assert sorted(r["outcome"] for r in results) == ["created"] + ["matched"] * 11


async def test_batch_reports_per_record_and_one_bad_record_does_not_sink_the_others(
    identity_client: httpx.AsyncClient,
) -> None:
    records = [
        {"identifiers": ids(("email", "b1@example.com"))},
        {"identifiers": ids(("email", "not-an-email"))},
        {"identifiers": [{"type": "email"}]},
        {"identifiers": ids(("email", "b1@example.com"), ("phone", "010-4444-5555"))},
    ]
    response = await identity_client.post("/v1/identify:batch", json={"records": records}, headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert [item["status"] for item in body["items"]] == [200, 422, 422, 200]
    assert body["items"][1]["problem"]["errors"][0]["field"] == "body.records.1.identifiers.0.value"
    assert body["items"][2]["problem"]["errors"][0]["field"] == "body.records.2.identifiers.0.value"
    assert body["items"][3]["result"]["customer_id"] == body["items"][0]["result"]["customer_id"]
    assert (body["resolved"], body["failed"]) == (2, 2)


async def test_batch_over_the_size_limit_is_413(
    identity_client: httpx.AsyncClient, identity_settings
) -> None:  # type: ignore[no-untyped-def]
    records = [
        {"identifiers": ids(("device", f"x{n}"))} for n in range(identity_settings.max_batch_records + 1)
    ]
    response = await identity_client.post("/v1/identify:batch", json={"records": records}, headers=ADMIN)
    assert response.status_code == 413


async def test_events_carry_the_ids_consumers_need(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    a = await identify(
        identity_client,
        ("email", "ev@example.com"),
        traits={"name": "Ev"},
        touchpoint={"channel": "web", "type": "page_view"},
    )
    b = await identify(identity_client, ("phone", "010-9999-0000"))
    merged = await identify(identity_client, ("email", "ev@example.com"), ("phone", "010-9999-0000"))
    types = [(e["type"], e["payload"].get("customer_id")) for e in await outbox_events(identity_db)]
    assert ("customer.created", a["customer_id"]) in types
    assert ("touchpoint.recorded", a["customer_id"]) in types
    assert ("customer.created", b["customer_id"]) in types
    assert ("customer.merged", a["customer_id"]) in types
    merge_event = next(e for e in await outbox_events(identity_db) if e["type"] == "customer.merged")
    assert merge_event["payload"]["merged_id"] == b["customer_id"]
    assert merge_event["payload"]["merge_id"] == merged["merge_ids"][0]
    created = next(e for e in await outbox_events(identity_db) if e["type"] == "customer.created")
    assert created["payload"]["display_name"] == "Ev"
    assert created["payload"]["email"] == "ev@example.com"
