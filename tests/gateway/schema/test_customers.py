"""The customer at the centre: one query reads what identity, campaign and feedback know."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from crm_common.auth import Role
from gateway.settings import GatewaySettings
from tests.gateway.conftest import closed_port_url, running_gateway
from tests.gateway.support import ADMIN, Gateway
from tests.support import bearer, customer_token, staff_token

MARKETER = bearer(staff_token(Role.MARKETER))

CUSTOMER_360 = """
query Customer360($id: UUID!) {
  customer(id: $id) {
    id resolvedFrom displayName email phone status createdAt
    profile { name value source sources }
    identifiers { type value source }
    consents { channel purpose granted }
    timeline(first: 20) {
      edges { node { channel type occurredAt payload } cursor }
      pageInfo { hasNextPage endCursor }
    }
    segments { name enteredAt segment { id memberCount } }
    messages(first: 10) { nodes { id status } }
    campaignAudience { lifecycleStage valueTier }
    lifecycleStage valueTier
    ideas { nodes { id title upCount } }
    feedback { nodes { kind nps touchpoint } }
    complaints { nodes { id status } }
    experience { latestNps npsResponses averageCsat csatResponses }
    advocate { score tier }
    merges { id }
  }
}
"""


@pytest.fixture
async def feedback_api(feedback_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=feedback_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://feedback") as client:
        yield client


@pytest.fixture
async def campaign_api(campaign_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=campaign_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://campaign") as client:
        yield client


async def identify(
    identity_api: httpx.AsyncClient, name: str, email: str, *, phone: str | None = None, visits: int = 0
) -> str:
    identifiers = [{"type": "email", "value": email}]
    if phone:
        identifiers.append({"type": "phone", "value": phone})
    customer_id: str | None = None
    for visit in range(max(visits, 1)):
        body: dict[str, Any] = {"identifiers": identifiers, "traits": {"name": name}, "source": "web"}
        if visits:
            body["touchpoint"] = {"channel": "web", "type": "page_view", "payload": {"page": f"/p/{visit}"}}
        response = await identity_api.post("/v1/identify", json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
        customer_id = response.json()["customer_id"]
    assert customer_id is not None
    return customer_id


async def test_customer_360_joins_the_three_services(
    gateway: Gateway,
    identity_api: httpx.AsyncClient,
    feedback_api: httpx.AsyncClient,
    campaign_api: httpx.AsyncClient,
    project_into_campaign: Callable[[str], Awaitable[None]],
) -> None:
    customer_id = await identify(
        identity_api, "Kim Min-jun", "mj@example.com", phone="010-2345-6789", visits=3
    )
    me = bearer(customer_token(customer_id))
    idea = await feedback_api.post(
        "/v1/ideas", json={"title": "Dark mode for the app", "body": "Evenings are bright."}, headers=me
    )
    assert idea.status_code == 201, idea.text
    nps = await feedback_api.post(
        "/v1/feedback",
        json={"kind": "nps", "channel": "web", "touchpoint": "checkout", "nps": 9},
        headers=me,
    )
    assert nps.status_code == 201, nps.text
    await project_into_campaign(customer_id)
    segment = await campaign_api.post(
        "/v1/segments",
        json={"name": "Prospects", "rule": {"field": "lifecycle_stage", "op": "eq", "value": "prospect"}},
        headers=MARKETER,
    )
    assert segment.status_code == 201, segment.text

    response = await gateway.query(CUSTOMER_360, {"id": customer_id})

    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body["errors"]
    customer = body["data"]["customer"]
    assert (customer["id"], customer["resolvedFrom"], customer["displayName"]) == (
        customer_id,
        None,
        "Kim Min-jun",
    )
    assert (customer["email"], customer["phone"]) == ("mj@example.com", "+821023456789")
    assert {(i["type"], i["value"]) for i in customer["identifiers"]} == {
        ("email", "mj@example.com"),
        ("phone", "+821023456789"),
    }
    assert {"name": "name", "value": "Kim Min-jun", "source": "web", "sources": 1} in customer["profile"]
    timeline = customer["timeline"]
    assert [edge["node"]["payload"]["page"] for edge in timeline["edges"]] == ["/p/2", "/p/1", "/p/0"]
    assert timeline["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    [membership] = customer["segments"]
    assert membership["name"] == "Prospects"
    assert membership["segment"]["id"] == segment.json()["id"]
    assert customer["messages"] == {"nodes": []}
    assert (customer["lifecycleStage"], customer["valueTier"]) == ("prospect", "low")
    assert [i["title"] for i in customer["ideas"]["nodes"]] == ["Dark mode for the app"]
    assert customer["feedback"]["nodes"] == [{"kind": "nps", "nps": 9, "touchpoint": "checkout"}]
    assert customer["experience"]["latestNps"] == 9
    assert customer["experience"]["npsResponses"] == 1
    assert customer["complaints"] == {"nodes": []}
    assert customer["merges"] == []


async def test_timeline_pages_continue_from_the_end_cursor(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Page Turner", "pages@example.com", visits=5)
    query = """
    query($id: UUID!, $after: String) {
      customer(id: $id) { timeline(first: 2, after: $after) {
        nodes { payload } pageInfo { hasNextPage endCursor } } }
    }"""

    seen: list[str] = []
    after: str | None = None
    for _ in range(5):
        body = (await gateway.query(query, {"id": customer_id, "after": after})).json()
        assert "errors" not in body, body
        timeline = body["data"]["customer"]["timeline"]
        seen += [node["payload"]["page"] for node in timeline["nodes"]]
        after = timeline["pageInfo"]["endCursor"]
        if not timeline["pageInfo"]["hasNextPage"]:
            break

    assert seen == ["/p/4", "/p/3", "/p/2", "/p/1", "/p/0"]
    assert after is None


async def test_merged_away_id_resolves_to_the_survivor(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    survivor = await identify(identity_api, "Survivor Park", "survivor@example.com")
    merged = await identify(identity_api, "Merged Park", "merged@example.com")
    merge = await identity_api.post(
        "/v1/merges", json={"survivor_id": survivor, "merged_id": merged}, headers=ADMIN
    )
    assert merge.status_code == 201, merge.text

    body = (
        await gateway.query(
            "query($id: UUID!) { customer(id: $id) { id resolvedFrom identifiers { value } merges { id } } }",
            {"id": merged},
        )
    ).json()

    assert "errors" not in body, body
    customer = body["data"]["customer"]
    assert (customer["id"], customer["resolvedFrom"]) == (survivor, merged)
    assert {i["value"] for i in customer["identifiers"]} == {"survivor@example.com", "merged@example.com"}
    assert [m["id"] for m in customer["merges"]] == [merge.json()["id"]]


async def test_erased_customer_is_null_in_every_entry_point(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Erase Me", "erase@example.com")
    erased = await identity_api.delete(f"/v1/customers/{customer_id}", headers=ADMIN)
    assert erased.status_code == 204, erased.text

    body = (
        await gateway.query(
            """query($id: UUID!) {
              customer(id: $id) { id }
              customerByIdentifier(type: "email", value: "erase@example.com") { id }
              customers(search: "Erase") { nodes { id } }
            }""",
            {"id": customer_id},
        )
    ).json()

    assert body == {"data": {"customer": None, "customerByIdentifier": None, "customers": {"nodes": []}}}


async def test_customer_by_identifier_normalizes_the_value(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Phone Owner", "owner@example.com", phone="010-9876-5432")

    body = (
        await gateway.query(
            '{ customerByIdentifier(type: "phone", value: "+82 10 9876 5432") { id displayName } }'
        )
    ).json()

    assert body == {"data": {"customerByIdentifier": {"id": customer_id, "displayName": "Phone Owner"}}}


async def test_unknown_customer_is_null_without_an_error(gateway: Gateway) -> None:
    body = (
        await gateway.query("query($id: UUID!) { customer(id: $id) { id } }", {"id": str(uuid.uuid4())})
    ).json()

    assert body == {"data": {"customer": None}}


async def test_me_is_the_customer_of_the_token(
    gateway: Gateway, identity_api: httpx.AsyncClient, feedback_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Alice Kang", "alice@example.com")
    token = bearer(customer_token(customer_id))
    submitted = await feedback_api.post(
        "/v1/ideas", json={"title": "Gift wrapping", "body": "At checkout, please."}, headers=token
    )
    assert submitted.status_code == 201, submitted.text

    body = (
        await gateway.query(
            "{ me { id displayName email ideas { nodes { title } } feedback { nodes { id } } } }",
            headers=token,
        )
    ).json()

    assert body == {
        "data": {
            "me": {
                "id": customer_id,
                "displayName": "Alice Kang",
                "email": "alice@example.com",
                "ideas": {"nodes": [{"title": "Gift wrapping"}]},
                "feedback": {"nodes": []},
            }
        }
    }


async def test_callers_token_and_request_id_are_forwarded_to_the_service(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Choi Yuna", "yuna@example.com")
    token = customer_token(customer_id)

    headers = {**bearer(token), "X-Request-ID": "gateway-forwarding-check"}
    await gateway.query("{ me { id } }", headers=headers)

    [sent] = gateway.sent["identity"].requests
    assert sent.url.path == f"/v1/customers/{customer_id}"
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert sent.headers["x-request-id"] == "gateway-forwarding-check"


async def test_campaign_down_leaves_the_customer_intact_and_names_campaign_in_the_error(
    gateway_without_campaign: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Partial Failure", "pf@example.com")

    response = await gateway_without_campaign.query(
        "query($id: UUID!) { customer(id: $id) {"
        " displayName email segments { name } ideas { nodes { id } } } }",
        {"id": customer_id},
    )

    assert response.status_code == 200
    body = response.json()
    customer = body["data"]["customer"]
    assert (customer["displayName"], customer["email"]) == ("Partial Failure", "pf@example.com")
    assert customer["segments"] is None
    assert customer["ideas"] == {"nodes": []}
    [error] = body["errors"]
    assert error["path"] == ["customer", "segments"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "service": "campaign"}


def slowed(app: FastAPI, seconds: float) -> ASGIApp:
    """The app, answering every request ``seconds`` late (a service under load or a hung worker)."""

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return slow


async def test_a_service_slower_than_its_timeout_nulls_only_its_fields(
    identity_app: FastAPI, feedback_app: FastAPI, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Patient Person", "patient@example.com")
    settings = GatewaySettings(
        environment="dev",
        log_json=False,
        identity_url=closed_port_url(),
        campaign_url=closed_port_url(),
        feedback_url=closed_port_url(),
        service_timeout_seconds=0.3,
    )
    apps = {"identity": identity_app, "feedback": slowed(feedback_app, 5.0)}

    async with running_gateway(apps, settings) as gateway:
        response = await gateway.query(
            "query($id: UUID!) { customer(id: $id) { displayName feedback { nodes { id } } } }",
            {"id": customer_id},
        )

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"customer": {"displayName": "Patient Person", "feedback": None}}
    [error] = body["errors"]
    assert (error["path"], error["extensions"]) == (
        ["customer", "feedback"],
        {"code": "TIMEOUT", "service": "feedback"},
    )


async def test_customers_in_a_segment_are_its_members(
    gateway: Gateway,
    identity_api: httpx.AsyncClient,
    campaign_api: httpx.AsyncClient,
    project_into_campaign: Callable[[str], Awaitable[None]],
) -> None:
    member = await identify(identity_api, "Seoul Member", "seoul@example.com")
    await identify(identity_api, "Not Projected", "elsewhere@example.com")
    await project_into_campaign(member)
    segment = await campaign_api.post(
        "/v1/segments",
        json={
            "name": "Everyone known",
            "rule": {"field": "lifecycle_stage", "op": "eq", "value": "prospect"},
        },
        headers=MARKETER,
    )
    assert segment.status_code == 201, segment.text

    body = (
        await gateway.query(
            "query($s: UUID!) { customers(inSegment: $s) { nodes { id displayName } } }",
            {"s": segment.json()["id"]},
        )
    ).json()

    assert body == {"data": {"customers": {"nodes": [{"id": member, "displayName": "Seoul Member"}]}}}


async def test_customers_needs_exactly_one_of_search_and_segment(gateway: Gateway) -> None:
    body = (
        await gateway.query(
            'query($s: UUID!) { customers(search: "kim", inSegment: $s) { nodes { id } } }',
            {"s": str(uuid.uuid4())},
        )
    ).json()

    assert body["data"] == {"customers": None}
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert gateway.requests_sent() == []


async def test_an_erased_author_leaves_no_trace_on_their_idea(
    gateway: Gateway, identity_api: httpx.AsyncClient, feedback_api: httpx.AsyncClient
) -> None:
    author = await identify(identity_api, "Gone Author", "gone@example.com")
    submitted = await feedback_api.post(
        "/v1/ideas",
        json={"title": "Reusable bags at checkout", "body": "Offer them by default."},
        headers=bearer(customer_token(author)),
    )
    assert submitted.status_code == 201, submitted.text
    query = "query($id: UUID!) { idea(id: $id) { title author { id displayName } } }"
    before = (await gateway.query(query, {"id": submitted.json()["id"]})).json()
    assert before["data"]["idea"]["author"] == {"id": author, "displayName": "Gone Author"}

    erased = await identity_api.delete(f"/v1/customers/{author}", headers=ADMIN)
    assert erased.status_code == 204, erased.text
    after = (await gateway.query(query, {"id": submitted.json()["id"]})).json()

    assert after == {"data": {"idea": {"title": "Reusable bags at checkout", "author": None}}}


def answering_after(app: FastAPI, other_calls_started: asyncio.Event, gave_up: list[bool]) -> ASGIApp:
    """Identity that answers the gateway only once another service has been asked (or gives up after
    5 s and answers anyway, noting it in ``gave_up``)."""

    async def wait_then_answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/customers:batch"):
            try:
                await asyncio.wait_for(other_calls_started.wait(), timeout=5)
            except TimeoutError:
                gave_up.append(True)
        await app(scope, receive, send)

    return wait_then_answer


def noticing(app: FastAPI, started: asyncio.Event) -> ASGIApp:
    async def notice(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/customers:"):
            started.set()
        await app(scope, receive, send)

    return notice


async def test_the_other_services_are_asked_while_identity_resolves_the_id(
    identity_app: FastAPI, campaign_app: FastAPI, feedback_app: FastAPI, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await identify(identity_api, "Quick Reader", "quick@example.com", visits=2)
    feedback_asked = asyncio.Event()
    gave_up: list[bool] = []
    apps = {
        "identity": answering_after(identity_app, feedback_asked, gave_up),
        "campaign": campaign_app,
        "feedback": noticing(feedback_app, feedback_asked),
    }

    async with running_gateway(apps) as gateway:
        body = (await gateway.query(CUSTOMER_360, {"id": customer_id})).json()

        # Had feedback been asked only after identity answered, identity would have given up waiting.
        assert gave_up == []
        assert "errors" not in body, body["errors"]
        assert len(body["data"]["customer"]["timeline"]["edges"]) == 2
        # Read ahead under the id as asked, and found by the fields: each read made once.
        paths = [request.url.path for recording in gateway.sent.values() for request in recording.requests]
        assert sorted(paths) == sorted(set(paths))


async def test_reads_ahead_for_a_merged_away_id_give_way_to_the_survivors(
    gateway: Gateway, identity_api: httpx.AsyncClient, feedback_api: httpx.AsyncClient
) -> None:
    survivor = await identify(identity_api, "Staying Lee", "staying@example.com")
    merged = await identify(identity_api, "Leaving Lee", "leaving@example.com")
    given = await feedback_api.post(
        "/v1/feedback",
        json={"kind": "nps", "channel": "web", "touchpoint": "checkout", "nps": 10},
        headers=bearer(customer_token(survivor)),
    )
    assert given.status_code == 201, given.text
    merge = await identity_api.post(
        "/v1/merges", json={"survivor_id": survivor, "merged_id": merged}, headers=ADMIN
    )
    assert merge.status_code == 201, merge.text

    body = (
        await gateway.query(
            "query($id: UUID!) { customer(id: $id) { id feedback { nodes { nps } } } }", {"id": merged}
        )
    ).json()

    assert body == {"data": {"customer": {"id": survivor, "feedback": {"nodes": [{"nps": 10}]}}}}
    asked = [r.url.params.get_list("ids") for r in gateway.sent["feedback"].requests]
    assert asked == [[merged], [survivor]]  # the read ahead, then the survivor's
