import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.auth import Role
from identity.database import metadata
from tests.support import bearer, customer_token, staff_token

ADMIN = bearer(staff_token(Role.ADMIN))


async def _outbox_count(database_url: str) -> int:
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as conn:
            return int(
                (
                    await conn.execute(select(func.count()).select_from(metadata.tables["outbox_event"]))
                ).scalar_one()
            )
    finally:
        await engine.dispose()


async def test_create_customer_records_created_event_in_outbox(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    response = await identity_client.post(
        "/v1/customers", json={"display_name": " Kim  Min-jun ", "email": "MJ@Example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["display_name"] == "Kim Min-jun"
    assert body["email"] == "mj@example.com"
    assert await _outbox_count(identity_db) == 1


async def test_invalid_email_is_rejected_naming_the_field_and_writes_nothing(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    response = await identity_client.post(
        "/v1/customers", json={"display_name": "A", "email": "not-an-email"}, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["body.email"]
    assert await _outbox_count(identity_db) == 0


async def test_customer_token_reads_only_its_own_customer(identity_client: httpx.AsyncClient) -> None:
    created = (
        await identity_client.post("/v1/customers", json={"display_name": "Lee"}, headers=ADMIN)
    ).json()
    own = await identity_client.get(
        f"/v1/customers/{created['id']}", headers=bearer(customer_token(created["id"]))
    )
    assert own.status_code == 200
    other = await identity_client.get(
        f"/v1/customers/{created['id']}", headers=bearer(customer_token(uuid.uuid4()))
    )
    assert other.status_code == 403
    assert other.json()["type"].endswith("/forbidden")


async def test_control_characters_in_a_name_are_a_422_naming_the_field(
    identity_client: httpx.AsyncClient,
) -> None:
    # Found by schemathesis: a NUL reached PostgreSQL and failed the INSERT with a 500.
    response = await identity_client.post("/v1/customers", json={"display_name": "Kim\u0000"}, headers=ADMIN)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.display_name"]


async def test_request_id_travels_into_the_event_it_causes(
    identity_client: httpx.AsyncClient, identity_db: str
) -> None:
    response = await identity_client.post(
        "/v1/customers", json={"display_name": "Traced"}, headers={**ADMIN, "X-Request-ID": "req-trace-1"}
    )
    assert response.headers["x-request-id"] == "req-trace-1"
    engine = create_async_engine(make_url(identity_db).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as conn:
            envelope = (await conn.execute(select(metadata.tables["outbox_event"].c.envelope))).scalar_one()
    finally:
        await engine.dispose()
    assert envelope["correlation_id"] == "req-trace-1"
    assert envelope["type"] == "customer.created"
    assert envelope["payload"]["customer_id"] == response.json()["id"]
