"""The behaviour every REST service inherits from create_service_app: errors, limits, health, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import text

from crm_common.auth import CurrentStaff
from crm_common.db import SessionDep, new_metadata
from crm_common.errors import Conflict
from crm_common.events import add_event_tables
from crm_common.service_app import create_service_app
from crm_common.settings import ServiceSettings
from tests.conftest import Servers
from tests.support import bearer, create_database, drop_database, running_app, staff_token

METADATA = new_metadata()
add_event_tables(METADATA)


class Widget(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    size: int = Field(ge=1)


router = APIRouter()


@router.post("/widgets", status_code=201)
async def create_widget(body: Widget, session: SessionDep, _: CurrentStaff) -> Widget:
    await session.execute(text("INSERT INTO widget (name) VALUES (:name)"), {"name": body.name})
    if body.name == "dup":
        raise Conflict("A widget named dup already exists.")
    if body.name == "boom":
        raise RuntimeError("SELECT password FROM staff -- internal detail")
    return body


@pytest.fixture
async def client(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    url = await create_database(servers.database_url, "crm_common")
    settings = ServiceSettings(
        service_name="widgets",
        database_url=url,
        nats_url=servers.nats_url,
        max_body_bytes=2048,
        log_json=False,
    )
    app = create_service_app(
        settings=settings, metadata=METADATA, routers=[router], title="t", description="t", version="9.9.9"
    )
    async with running_app(app) as client:
        async with app.state.engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)
            await conn.execute(text("CREATE TABLE widget (name text)"))
        yield client
    await drop_database(servers.database_url, url)


ADMIN = bearer(staff_token())


async def _widget_count(client: httpx.AsyncClient) -> int:
    app = client._transport.app  # type: ignore[attr-defined]
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM widget"))).scalar_one())


async def test_validation_error_names_each_field_as_problem_details(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", json={"name": "", "size": 0}, headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert sorted(e["field"] for e in body["errors"]) == ["body.name", "body.size"]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/widgets", content=b'{"name": "a",', headers={**ADMIN, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")


async def test_domain_error_rolls_back_the_partial_write(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", json={"name": "dup", "size": 1}, headers=ADMIN)
    assert response.status_code == 409
    assert response.json()["detail"] == "A widget named dup already exists."
    assert await _widget_count(client) == 0


async def test_unexpected_error_shows_a_request_id_and_no_trace_or_sql(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/widgets", json={"name": "boom", "size": 1}, headers={**ADMIN, "X-Request-ID": "req-42"}
    )
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == "req-42"
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert await _widget_count(client) == 0


async def test_success_commits_once_the_handler_returns(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", json={"name": "ok", "size": 1}, headers=ADMIN)
    assert response.status_code == 201
    assert await _widget_count(client) == 1


async def test_body_over_the_limit_is_413_and_writes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", json={"name": "x" * 4000, "size": 1}, headers=ADMIN)
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")
    assert await _widget_count(client) == 0


async def test_missing_token_is_401_and_bad_token_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.post("/widgets", json={"name": "a", "size": 1})).status_code == 401
    forged = await client.post("/widgets", json={"name": "a", "size": 1}, headers=bearer("not.a.jwt"))
    assert forged.status_code == 401
    assert forged.json()["type"].endswith("/unauthorized")
    assert forged.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_readyz_is_200_when_database_and_nats_are_reachable(client: httpx.AsyncClient) -> None:
    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    from tests.support import wait_until

    await wait_until(ready, timeout=10)
    body = (await client.get("/readyz")).json()
    assert body["checks"] == {"database": True, "nats": True}


async def test_readyz_names_nats_when_the_broker_is_unreachable(servers: Servers) -> None:
    url = await create_database(servers.database_url, "crm_common")
    settings = ServiceSettings(
        service_name="w", database_url=url, nats_url="nats://127.0.0.1:1", log_json=False
    )
    app = create_service_app(
        settings=settings, metadata=METADATA, routers=[], title="t", description="t", version="1"
    )
    try:
        async with running_app(app) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"] == {"database": True, "nats": False}
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await drop_database(servers.database_url, url)


async def test_metrics_expose_request_counts_latency_pool_and_outbox_lag(client: httpx.AsyncClient) -> None:
    await client.post("/widgets", json={"name": "m", "size": 1}, headers=ADMIN)
    text_body = (await client.get("/metrics")).text
    assert (
        'crm_http_requests_total{method="POST",route="/widgets",service="widgets",status="201"} 1.0'
        in text_body
    )
    assert "crm_http_request_duration_seconds_bucket" in text_body
    assert "crm_db_pool_checked_out" in text_body
    assert 'crm_outbox_pending_events{service="widgets"} 0.0' in text_body


async def test_text_the_database_cannot_store_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    # Found by fuzzing the webhooks and search: a NUL that no schema stopped reached PostgreSQL.
    response = await client.post("/widgets", json={"name": "nul\u0000", "size": 1}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/unstorable-text")
    assert await _widget_count(client) == 0
