"""Idempotency-Key: a retried POST creates nothing twice and gets the first answer, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from pydantic import BaseModel, Field
from sqlalchemy import Column, String, Table, Uuid, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.auth import CurrentPrincipal, Principal
from crm_common.db import SessionDep, new_metadata
from crm_common.errors import BadRequest, problem_responses
from crm_common.idempotency import (
    IdempotencyDep,
    add_idempotency_table,
    purge_expired_records,
    purge_job,
)
from crm_common.service_app import create_service_app
from crm_common.settings import ServiceSettings
from tests.conftest import Servers
from tests.support import bearer, create_database, customer_token, drop_database, running_app, wait_until

METADATA = new_metadata()
RECORDS = add_idempotency_table(METADATA)
THINGS = Table(
    "thing",
    METADATA,
    Column("id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("owner", String(200), nullable=False),
)


class ThingCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class ThingPublic(BaseModel):
    id: uuid.UUID
    name: str
    owner: str


@dataclass
class Hold:
    """Parks the first action for a name inside its transaction until the test releases it."""

    fail: bool = False
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


HOLDS: dict[str, Hold] = {}


async def create_thing(session: AsyncSession, body: ThingCreate, principal: Principal) -> ThingPublic:
    thing = ThingPublic(id=uuid.uuid4(), name=body.name, owner=principal.subject)
    await session.execute(insert(THINGS).values(**thing.model_dump()))
    hold = HOLDS.pop(body.name, None)
    if hold is not None:
        hold.entered.set()
        await hold.release.wait()
        if hold.fail:
            # after the write: the rollback must take the thing and the key away
            raise BadRequest("The held request was told to fail.")
    return thing


router = APIRouter()


@router.post("/things", status_code=201, response_model=ThingPublic, responses=problem_responses(400, 409))
async def post_thing(
    body: ThingCreate, session: SessionDep, principal: CurrentPrincipal, idempotency: IdempotencyDep
) -> Response:
    return await idempotency.run(lambda: create_thing(session, body, principal), status_code=201)


@router.post("/pings", status_code=202, responses=problem_responses(409))
async def post_ping(idempotency: IdempotencyDep) -> Response:
    async def ping() -> None:
        return None

    return await idempotency.run(ping, status_code=202)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient

    async def things_of(self, owner: str) -> list[str]:
        async with self.app.state.engine.connect() as conn:
            rows = await conn.execute(select(THINGS.c.name).where(THINGS.c.owner == owner))
            return [row.name for row in rows]

    async def records_of(self, caller: str) -> list[str]:
        async with self.app.state.engine.connect() as conn:
            rows = await conn.execute(select(RECORDS.c.key).where(RECORDS.c.caller == caller))
            return sorted(row.key for row in rows)

    async def requests_waiting_on_a_lock(self) -> int:
        async with self.app.state.engine.connect() as conn:
            count = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            return int(count or 0)


@pytest.fixture(scope="module")
async def service(servers: Servers) -> AsyncIterator[Service]:
    url = await create_database(servers.database_url, "crm_idempotency")
    settings = ServiceSettings(
        service_name="things", database_url=url, nats_url=servers.nats_url, environment="dev", log_json=False
    )
    app = create_service_app(
        settings=settings, metadata=METADATA, routers=[router], title="t", description="t", version="1"
    )
    try:
        async with running_app(app) as client:
            async with app.state.engine.begin() as conn:
                await conn.run_sync(METADATA.create_all)
            yield Service(app=app, client=client)
    finally:
        await drop_database(servers.database_url, url)


def new_customer() -> tuple[str, dict[str, str]]:
    """A fresh caller: its subject and headers carrying its token."""
    customer_id = uuid.uuid4()
    return str(customer_id), bearer(customer_token(customer_id))


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_retry_with_the_same_key_gets_the_first_answer_marked_replayed(service: Service) -> None:
    _, auth = new_customer()
    first = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, "k-1"))
    retry = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, "k-1"))

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


async def test_retry_with_the_same_key_creates_nothing_more(service: Service) -> None:
    owner, auth = new_customer()
    for _ in range(3):
        response = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, "k-1"))
        assert response.status_code == 201

    assert await service.things_of(owner) == ["lamp"]


@pytest.mark.parametrize(
    ("path", "body"),
    [("/things", {"name": "chair"}), ("/things?variant=2", {"name": "lamp"}), ("/pings", None)],
    ids=["different-body", "different-query", "different-path"],
)
async def test_same_key_for_a_different_request_is_409_and_writes_nothing(
    service: Service, path: str, body: dict[str, str] | None
) -> None:
    owner, auth = new_customer()
    first = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, "k-1"))
    assert first.status_code == 201

    reused = await service.client.post(path, json=body, headers=with_key(auth, "k-1"))

    assert reused.status_code == 409
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    assert "Idempotency-Key" in reused.json()["detail"]
    assert await service.things_of(owner) == ["lamp"]


async def test_same_key_from_two_callers_is_two_independent_requests(service: Service) -> None:
    alice, alice_auth = new_customer()
    bob, bob_auth = new_customer()

    for_alice = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(alice_auth, "k"))
    for_bob = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(bob_auth, "k"))

    assert for_alice.status_code == for_bob.status_code == 201
    assert "idempotent-replayed" not in for_bob.headers
    assert for_bob.json()["id"] != for_alice.json()["id"]
    assert await service.things_of(alice) == await service.things_of(bob) == ["lamp"]


async def test_concurrent_requests_with_the_same_key_run_the_action_once(service: Service) -> None:
    owner, auth = new_customer()
    hold = HOLDS["desk"] = Hold()
    requests = [
        asyncio.create_task(
            service.client.post("/things", json={"name": "desk"}, headers=with_key(auth, "k"))
        )
        for _ in range(10)
    ]
    await hold.entered.wait()

    async def others_all_waiting() -> bool:
        return await service.requests_waiting_on_a_lock() == 9

    await wait_until(others_all_waiting)
    hold.release.set()
    responses = await asyncio.gather(*requests)

    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 9
    assert await service.things_of(owner) == ["desk"]


async def test_failed_action_leaves_no_record_and_a_retry_runs_again(service: Service) -> None:
    owner, auth = new_customer()
    HOLDS["lamp"] = Hold(fail=True)
    HOLDS["lamp"].release.set()  # no waiting: the first try just fails, after writing its thing
    failed = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, "k"))
    assert failed.status_code == 400
    assert await service.records_of(f"customer:{owner}") == []

    retry = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, "k"))

    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert await service.things_of(owner) == ["lamp"]


async def test_request_waiting_on_a_first_that_fails_runs_the_action_itself(service: Service) -> None:
    owner, auth = new_customer()
    hold = HOLDS["vase"] = Hold(fail=True)
    first = asyncio.create_task(
        service.client.post("/things", json={"name": "vase"}, headers=with_key(auth, "k"))
    )
    await hold.entered.wait()
    second = asyncio.create_task(
        service.client.post("/things", json={"name": "vase"}, headers=with_key(auth, "k"))
    )

    async def second_is_waiting() -> bool:
        return await service.requests_waiting_on_a_lock() == 1

    await wait_until(second_is_waiting)
    hold.release.set()

    assert (await first).status_code == 400
    answer = await second
    assert answer.status_code == 201
    assert "idempotent-replayed" not in answer.headers
    assert await service.things_of(owner) == ["vase"]


@pytest.mark.parametrize(
    "key",
    [b"", b"k" * 256, b"two words", b"tab\tkey", "café".encode()],
    ids=["empty", "too-long", "space", "control", "non-ascii"],
)
async def test_invalid_key_is_422_naming_the_header(service: Service, key: bytes) -> None:
    owner, auth = new_customer()
    headers = [(name.encode(), value.encode()) for name, value in auth.items()] + [(b"Idempotency-Key", key)]
    response = await service.client.post("/things", json={"name": "lamp"}, headers=headers)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["header.Idempotency-Key"]
    assert await service.things_of(owner) == []


async def test_longest_valid_key_is_accepted(service: Service) -> None:
    _, auth = new_customer()
    key = ("".join(chr(c) for c in range(0x21, 0x7F)) * 3)[:255]  # every visible ASCII character

    response = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, key))

    assert response.status_code == 201


async def test_without_a_key_every_request_runs(service: Service) -> None:
    owner, auth = new_customer()
    first = await service.client.post("/things", json={"name": "lamp"}, headers=auth)
    second = await service.client.post("/things", json={"name": "lamp"}, headers=auth)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers
    assert await service.things_of(owner) == ["lamp", "lamp"]
    assert await service.records_of(f"customer:{owner}") == []


async def test_empty_answer_is_replayed_with_its_status_and_no_body(service: Service) -> None:
    _, auth = new_customer()
    first = await service.client.post("/pings", headers=with_key(auth, "k"))
    retry = await service.client.post("/pings", headers=with_key(auth, "k"))

    assert first.status_code == retry.status_code == 202
    assert first.content == retry.content == b""
    assert retry.headers["idempotent-replayed"] == "true"


async def test_expired_record_is_treated_as_absent(service: Service) -> None:
    owner, auth = new_customer()
    first = await service.client.post("/things", json={"name": "lamp"}, headers=with_key(auth, "k"))
    async with service.app.state.engine.begin() as conn:
        await conn.execute(
            RECORDS.update()
            .where(RECORDS.c.caller == f"customer:{owner}")
            .values(created_at=func.now() - timedelta(hours=24, seconds=1))
        )

    later = await service.client.post("/things", json={"name": "chair"}, headers=with_key(auth, "k"))

    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert sorted(await service.things_of(owner)) == ["chair", "lamp"]


async def _add_record(service: Service, caller: str, key: str, age: timedelta) -> None:
    async with service.app.state.engine.begin() as conn:
        await conn.execute(
            insert(RECORDS).values(
                caller=caller,
                key=key,
                fingerprint=b"f",
                status_code=201,
                response_body={},
                created_at=func.now() - age,
            )
        )


async def test_purge_removes_only_expired_records(service: Service) -> None:
    caller = f"customer:{uuid.uuid4()}"
    await _add_record(service, caller, "expired", timedelta(hours=25))
    await _add_record(service, caller, "fresh", timedelta(hours=23))

    purged = await purge_expired_records(service.app.state.session_factory, METADATA, ttl=timedelta(hours=24))

    assert purged >= 1
    assert await service.records_of(caller) == ["fresh"]


async def test_purge_deletes_in_batches_until_none_is_left(service: Service) -> None:
    caller = f"customer:{uuid.uuid4()}"
    for n in range(5):
        await _add_record(service, caller, f"expired-{n}", timedelta(hours=25))

    await purge_expired_records(
        service.app.state.session_factory, METADATA, ttl=timedelta(hours=24), batch_size=2
    )

    assert await service.records_of(caller) == []


async def test_purge_job_purges_until_stopped(service: Service) -> None:
    caller = f"customer:{uuid.uuid4()}"
    stop = asyncio.Event()
    job = asyncio.ensure_future(
        purge_job(METADATA, timedelta(hours=1), interval_seconds=0.05)(
            service.app.state.session_factory, stop
        )
    )
    await _add_record(service, caller, "expired", timedelta(hours=2))

    async def purged() -> bool:
        return await service.records_of(caller) == []

    await wait_until(purged)
    stop.set()
    await asyncio.wait_for(job, timeout=5)


async def test_idempotency_key_header_and_response_model_are_in_the_openapi(service: Service) -> None:
    operation = (await service.client.get("/openapi.json")).json()["paths"]["/things"]["post"]

    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["required"] is False
    schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ThingPublic"}
