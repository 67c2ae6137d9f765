"""Staff endpoints: the dead-letter list, a delivery's state, and requeueing a dead one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.auth import Role
from crm_common.pagination import encode_cursor
from identity.resolution import service as resolution
from identity.settings import IdentitySettings
from identity.webhooks.jobs import process_next
from tests.identity.webhooks.support import encoded, sample, signed_headers
from tests.support import bearer, staff_token

ADMIN = bearer(staff_token(Role.ADMIN))


async def _post(client: httpx.AsyncClient, source: str, payload: dict[str, Any], webhook_id: str) -> None:
    body = encoded(payload)
    response = await client.post(
        f"/v1/webhooks/{source}", content=body, headers=signed_headers(source, body, webhook_id=webhook_id)
    )
    assert response.status_code == 202, response.text


async def _dead_letter(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: IdentitySettings,
    source: str,
    webhook_id: str,
) -> None:
    """A delivery its mapping refuses, processed: dead at once."""
    await _post(client, source, {"unexpected": True}, webhook_id)
    assert await process_next(sessions, settings)


async def test_dead_letters_are_paged_newest_first_and_filtered_by_source(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
) -> None:
    for source, webhook_id in (("shop", "msg_a"), ("store", "msg_b"), ("shop", "msg_c")):
        await _dead_letter(identity_client, sessions, worker_settings, source, webhook_id)

    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 1}
        if after:
            params["after"] = after
        page = (await identity_client.get("/v1/webhooks/dead-letters", params=params, headers=ADMIN)).json()
        seen += [item["webhook_id"] for item in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == ["msg_c", "msg_b", "msg_a"]

    shop = (await identity_client.get("/v1/webhooks/dead-letters?source=shop", headers=ADMIN)).json()
    assert [item["webhook_id"] for item in shop["items"]] == ["msg_c", "msg_a"]
    assert all("order_id: Field required" in item["last_error"] for item in shop["items"])


async def test_a_cursor_the_api_did_not_issue_is_a_422_naming_after(
    identity_client: httpx.AsyncClient,
) -> None:
    forged = encode_cursor({"r": "2026-11-23T00:00:00+00:00", "s": "shop\u0000", "w": "msg_1"})
    for cursor in ("not-base64!", encode_cursor({"x": 1}), forged):
        response = await identity_client.get(
            "/v1/webhooks/dead-letters", params={"after": cursor}, headers=ADMIN
        )
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["query.after"]


@pytest.mark.parametrize("role", [Role.MARKETER, Role.AGENT, Role.ANALYST])
async def test_staff_endpoints_need_the_admin_role(identity_client: httpx.AsyncClient, role: Role) -> None:
    token = bearer(staff_token(role))
    for method, path in (
        ("GET", "/v1/webhooks/dead-letters"),
        ("GET", "/v1/webhooks/deliveries/shop/msg_1"),
        ("POST", "/v1/webhooks/deliveries/shop/msg_1/retry"),
    ):
        assert (await identity_client.request(method, path, headers=token)).status_code == 403
        assert (await identity_client.request(method, path)).status_code == 401


async def test_retry_requeues_a_dead_delivery_with_fresh_attempts_and_it_is_processed(
    identity_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    worker_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = resolution.identify

    async def database_away(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database away")

    monkeypatch.setattr(resolution, "identify", database_away)
    settings = worker_settings.model_copy(update={"webhook_max_attempts": 1})
    await _post(identity_client, "shop", sample("order"), "msg_retry")
    assert await process_next(sessions, settings)
    dead = (await identity_client.get("/v1/webhooks/deliveries/shop/msg_retry", headers=ADMIN)).json()
    assert (dead["status"], dead["attempts"]) == ("dead", 1)

    requeued = await identity_client.post("/v1/webhooks/deliveries/shop/msg_retry/retry", headers=ADMIN)

    assert requeued.status_code == 200, requeued.text
    assert (requeued.json()["status"], requeued.json()["attempts"]) == ("pending", 0)
    assert requeued.json()["last_error"] == "gave up after 1 attempt(s): ConnectionError: database away"
    listed = (await identity_client.get("/v1/webhooks/dead-letters", headers=ADMIN)).json()
    assert listed["items"] == []

    monkeypatch.setattr(resolution, "identify", real)
    assert await process_next(sessions, settings)
    done = (await identity_client.get("/v1/webhooks/deliveries/shop/msg_retry", headers=ADMIN)).json()
    assert (done["status"], done["attempts"]) == ("done", 1)
    assert done["result"]["touchpoint_id"] is not None


async def test_only_a_dead_delivery_can_be_retried(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _post(identity_client, "shop", sample("order"), "msg_pending")

    pending = await identity_client.post("/v1/webhooks/deliveries/shop/msg_pending/retry", headers=ADMIN)
    missing = await identity_client.post("/v1/webhooks/deliveries/shop/msg_nope/retry", headers=ADMIN)

    assert pending.status_code == 409
    assert pending.json()["type"].endswith("/webhook-delivery-not-dead")
    assert missing.status_code == 404


async def test_a_delivery_shows_its_payload_and_an_unknown_one_is_404(
    identity_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _post(identity_client, "social", sample("social_mention"), "msg_mention")

    found = await identity_client.get("/v1/webhooks/deliveries/social/msg_mention", headers=ADMIN)
    missing = await identity_client.get("/v1/webhooks/deliveries/shop/msg_mention", headers=ADMIN)

    assert found.status_code == 200
    assert found.json()["body"] == sample("social_mention")
    assert (found.json()["status"], found.json()["result"]) == ("pending", None)
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/webhook-delivery-not-found")


async def test_names_and_ids_that_cannot_exist_are_422_not_a_database_error(
    identity_client: httpx.AsyncClient,
) -> None:
    # Found by probing: a NUL in a path or query reached PostgreSQL and failed with a 500.
    for method, path in (
        ("GET", "/v1/webhooks/deliveries/%00/msg_1"),
        ("GET", "/v1/webhooks/deliveries/shop/msg%00"),
        ("POST", "/v1/webhooks/deliveries/shop/msg%00/retry"),
        ("GET", "/v1/webhooks/dead-letters?source=%00"),
    ):
        response = await identity_client.request(method, path, headers=ADMIN)
        assert response.status_code == 422, (path, response.text)
