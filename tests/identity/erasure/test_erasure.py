import httpx

from tests.identity.support import ADMIN, AGENT, identify, outbox_events


async def test_erasure_removes_personal_data_and_replays_do_not_bring_the_person_back(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    a = await identify(
        identity_client,
        ("email", "gone@example.com"),
        traits={"name": "Gone"},
        touchpoint={"channel": "web", "type": "visit"},
    )
    b = await identify(identity_client, ("phone", "010-8888-1111"))
    await identify(identity_client, ("email", "gone@example.com"), ("phone", "010-8888-1111"))
    response = await identity_client.delete(f"/v1/customers/{a['customer_id']}", headers=ADMIN)
    assert response.status_code == 204
    assert (await identity_client.get(f"/v1/customers/{a['customer_id']}", headers=ADMIN)).status_code == 404
    assert (await identity_client.get(f"/v1/customers/{b['customer_id']}", headers=ADMIN)).status_code == 404
    lookup = await identity_client.get(
        "/v1/customers/lookup", params={"type": "email", "value": "gone@example.com"}, headers=ADMIN
    )
    assert lookup.status_code == 404
    replay = await identify(identity_client, ("phone", "010-8888-1111"), traits={"name": "Gone"})
    assert replay["outcome"] == "suppressed"
    assert replay["customer_id"] is None
    erased = [e for e in await outbox_events(identity_db) if e["type"] == "customer.erased"]
    assert [(e["payload"]["customer_id"], e["payload"]["merged_ids"]) for e in erased] == [
        (a["customer_id"], [b["customer_id"]])
    ]
    history = (await identity_client.get(f"/v1/customers/{a['customer_id']}/merges", headers=ADMIN)).json()
    assert all(m["evidence"] == {"erased": True} for m in history)


async def test_only_admins_erase(identity_client: httpx.AsyncClient) -> None:
    a = await identify(identity_client, ("email", "keep@example.com"))
    assert (
        await identity_client.delete(f"/v1/customers/{a['customer_id']}", headers=AGENT)
    ).status_code == 403
