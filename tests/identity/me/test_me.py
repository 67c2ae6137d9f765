import httpx

from tests.identity.support import ADMIN, customer, identify, outbox_events
from tests.support import bearer, customer_token


async def test_customer_updates_own_profile_with_customer_provenance(
    identity_client: httpx.AsyncClient,
) -> None:
    me = await identify(
        identity_client, ("email", "self@example.com"), traits={"name": "Old Name"}, source="shop"
    )
    token = bearer(customer_token(me["customer_id"]))
    response = await identity_client.patch(
        "/v1/me", json={"traits": {"name": "New Name", "city": "Daegu"}}, headers=token
    )
    assert response.status_code == 200
    profile = response.json()["profile"]
    assert (profile["name"]["value"], profile["name"]["source"]) == ("New Name", "customer")
    assert (await customer(identity_client, me["customer_id"]))["display_name"] == "New Name"


async def test_customer_cannot_edit_fields_that_are_not_theirs_to_edit(
    identity_client: httpx.AsyncClient,
) -> None:
    me = await identify(identity_client, ("email", "self2@example.com"))
    token = bearer(customer_token(me["customer_id"]))
    response = await identity_client.patch("/v1/me", json={"traits": {"vip_tier": "gold"}}, headers=token)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.traits"


async def test_consents_per_channel_and_purpose_keep_their_provenance(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    me = await identify(identity_client, ("email", "consent@example.com"))
    token = bearer(customer_token(me["customer_id"]))
    body = {
        "consents": [
            {"channel": "email", "purpose": "marketing", "granted": True},
            {"channel": "sms", "purpose": "marketing", "granted": False},
        ]
    }
    response = await identity_client.put("/v1/me/consents", json=body, headers=token)
    assert response.status_code == 200
    current = {(c["channel"], c["purpose"]): c for c in response.json()}
    assert current[("email", "marketing")]["granted"] is True
    assert current[("email", "marketing")]["source"] == "self_service"
    assert current[("email", "marketing")]["actor"] == f"customer:{me['customer_id']}"
    # Withdraw; repeating the same answer writes nothing new.
    withdraw = {"consents": [{"channel": "email", "purpose": "marketing", "granted": False}]}
    await identity_client.put("/v1/me/consents", json=withdraw, headers=token)
    await identity_client.put("/v1/me/consents", json=withdraw, headers=token)
    final = {
        (c["channel"], c["purpose"]): c["granted"]
        for c in (await identity_client.get("/v1/me/consents", headers=token)).json()
    }
    assert final == {("email", "marketing"): False, ("sms", "marketing"): False}
    consent_events = [e for e in await outbox_events(identity_db) if "consents_changed" in e["payload"]]
    assert len(consent_events) == 2


async def test_staff_token_cannot_use_me(identity_client: httpx.AsyncClient) -> None:
    assert (await identity_client.get("/v1/me", headers=ADMIN)).status_code == 403


async def test_unknown_consent_channel_is_a_422_naming_it(identity_client: httpx.AsyncClient) -> None:
    me = await identify(identity_client, ("email", "c3@example.com"))
    token = bearer(customer_token(me["customer_id"]))
    body = {"consents": [{"channel": "pigeon", "purpose": "marketing", "granted": True}]}
    response = await identity_client.put("/v1/me/consents", json=body, headers=token)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.consents.0.channel"
