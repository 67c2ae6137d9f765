"""POST /v1/webhooks/{source}: verified before anything is stored, answered 202 at once, stored once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.identity.webhooks.support import delivery, delivery_count, encoded, sample, signed_headers

OTHER_SECRET = "whsec_" + base64.b64encode(b"not-the-shop-secret-at-all-0123").decode()


async def test_a_correctly_signed_event_is_stored_pending_and_answered_202(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    headers = signed_headers("shop", body, webhook_id="msg_order_1")

    response = await identity_client.post("/v1/webhooks/shop", content=body, headers=headers)

    assert response.status_code == 202, response.text
    assert response.json() == {
        "source": "shop",
        "webhook_id": "msg_order_1",
        "duplicate": False,
        "status": "pending",
    }
    stored = await delivery(sessions, "shop", "msg_order_1")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.body) == ("pending", 0, sample("order"))


async def test_a_bad_signature_is_401_and_stores_nothing(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    headers = signed_headers("shop", body, secret=OTHER_SECRET)

    response = await identity_client.post("/v1/webhooks/shop", content=body, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await delivery_count(sessions) == 0


async def test_a_body_changed_after_signing_is_401_and_stores_nothing(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    headers = signed_headers("shop", body)

    response = await identity_client.post(
        "/v1/webhooks/shop", content=body.replace(b"128000", b"1"), headers=headers
    )

    assert response.status_code == 401
    assert await delivery_count(sessions) == 0


async def test_a_timestamp_six_minutes_old_is_401_and_stores_nothing(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    headers = signed_headers("shop", body, at=datetime.now(UTC) - timedelta(minutes=6))

    response = await identity_client.post("/v1/webhooks/shop", content=body, headers=headers)

    assert response.status_code == 401
    assert "too old" in response.json()["detail"]
    assert await delivery_count(sessions) == 0


async def test_an_unknown_source_is_answered_exactly_like_a_bad_signature(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    headers = signed_headers("shop", body, secret=OTHER_SECRET)

    unknown = await identity_client.post("/v1/webhooks/acme", content=body, headers=headers)
    bad_signature = await identity_client.post("/v1/webhooks/shop", content=body, headers=headers)

    assert unknown.status_code == bad_signature.status_code == 401
    same = ("type", "title", "status", "detail")
    assert {k: unknown.json()[k] for k in same} == {k: bad_signature.json()[k] for k in same}
    assert unknown.headers.get("www-authenticate") == bad_signature.headers.get("www-authenticate")
    assert await delivery_count(sessions) == 0


async def test_missing_signature_headers_are_401(identity_client: httpx.AsyncClient) -> None:
    response = await identity_client.post("/v1/webhooks/shop", json=sample("order"))
    assert response.status_code == 401


async def test_a_malformed_signature_header_or_a_body_that_is_not_utf8_is_401_not_500(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    unsplittable = {**signed_headers("shop", body), "webhook-signature": "v1"}
    not_base64 = {**signed_headers("shop", body), "webhook-signature": "v1,***"}
    latin1 = '{"name": "Müller"}'.encode("latin-1")

    for content, headers in (
        (body, unsplittable),
        (body, not_base64),
        (latin1, signed_headers("shop", b"{}")),
    ):
        response = await identity_client.post("/v1/webhooks/shop", content=content, headers=headers)
        assert response.status_code == 401, response.text
    assert await delivery_count(sessions) == 0


async def test_a_repeated_webhook_id_is_accepted_again_but_stored_once(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    first = await identity_client.post(
        "/v1/webhooks/shop", content=body, headers=signed_headers("shop", body, webhook_id="msg_twice")
    )
    # A sender's retry signs again (new timestamp), with the same id.
    again = await identity_client.post(
        "/v1/webhooks/shop", content=body, headers=signed_headers("shop", body, webhook_id="msg_twice")
    )

    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["duplicate"] is False
    assert again.json() == {
        "source": "shop",
        "webhook_id": "msg_twice",
        "duplicate": True,
        "status": "pending",
    }
    assert await delivery_count(sessions) == 1


async def test_a_forged_extra_webhook_id_header_cannot_store_the_event_under_another_id(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # A replay with a second webhook-id in front of the signed one must not dodge de-duplication.
    body = encoded(sample("order"))
    signed = signed_headers("shop", body, webhook_id="msg_signed")
    headers = [("webhook-id", "msg_forged"), *signed.items()]

    response = await identity_client.post("/v1/webhooks/shop", content=body, headers=headers)

    assert response.status_code == 202
    assert response.json()["webhook_id"] == "msg_signed"
    assert await delivery(sessions, "shop", "msg_forged") is None


async def test_the_same_webhook_id_from_another_source_is_another_delivery(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for source, mapping in (("shop", "order"), ("store", "store_visit")):
        body = encoded(sample(mapping))
        response = await identity_client.post(
            f"/v1/webhooks/{source}",
            content=body,
            headers=signed_headers(source, body, webhook_id="msg_same"),
        )
        assert response.json()["duplicate"] is False
    assert await delivery_count(sessions) == 2


async def test_a_correctly_signed_body_that_is_not_json_is_400_and_stores_nothing(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for body in (b'{"order_id": "A-1",', b"NaN", b"[" * 100_000, b'{"total": 1e999}'):
        response = await identity_client.post(
            "/v1/webhooks/shop", content=body, headers=signed_headers("shop", body)
        )
        assert response.status_code == 400, (body[:20], response.text)
        assert response.json()["type"].endswith("/malformed-json")
    assert await delivery_count(sessions) == 0


async def test_a_signed_json_body_that_is_not_an_object_or_not_storable_is_422_naming_the_body(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # PostgreSQL's jsonb cannot hold NUL or an unpaired surrogate: refused here, not a 500 at INSERT.
    for body in (b"[1, 2]", b'"order"', b'{"note": "a\\u0000b"}', b'{"note": "\\ud800"}'):
        response = await identity_client.post(
            "/v1/webhooks/shop", content=body, headers=signed_headers("shop", body)
        )
        assert response.status_code == 422, (body, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["body"]
    assert await delivery_count(sessions) == 0


async def test_a_webhook_id_that_cannot_be_addressed_is_422_naming_the_header(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded(sample("order"))
    for webhook_id in ("msg/1", "m" * 201, "msg 1"):
        response = await identity_client.post(
            "/v1/webhooks/shop", content=body, headers=signed_headers("shop", body, webhook_id=webhook_id)
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["header.webhook-id"]
    assert await delivery_count(sessions) == 0


async def test_a_body_over_the_size_limit_is_413_and_stores_nothing(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = encoded({**sample("order"), "padding": "x" * 1_100_000})
    response = await identity_client.post(
        "/v1/webhooks/shop", content=body, headers=signed_headers("shop", body)
    )
    assert response.status_code == 413
    assert await delivery_count(sessions) == 0


async def test_openapi_documents_the_signed_body_and_headers(identity_client: httpx.AsyncClient) -> None:
    operation = (await identity_client.get("/openapi.json")).json()["paths"]["/v1/webhooks/{source}"]["post"]

    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    shapes = operation["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    assert [shape["title"] for shape in shapes] == [
        "OrderWebhook",
        "CallRecordWebhook",
        "SocialMentionWebhook",
        "StoreVisitWebhook",
    ]
    assert "$ref" not in str(shapes)
    assert {"202", "400", "401", "413", "422"} <= set(operation["responses"])
