"""Who may read and write what through the graph, role by role.

A role the gateway refuses gets a FORBIDDEN error on the field, and the service behind the field is
never called. A role the gateway lets through gets an answer without errors: the service, which checks
the forwarded token itself, agrees with the gateway (a 403 there would surface as an error naming it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from crm_common.auth import Role
from tests.gateway.support import ADMIN, Gateway
from tests.support import bearer, customer_token, staff_token

CUSTOMER, AGENT, MARKETER, ANALYST, PARTNER = (
    Role.CUSTOMER,
    Role.AGENT,
    Role.MARKETER,
    Role.ANALYST,
    Role.PARTNER,
)
STAFF = frozenset({Role.ADMIN, AGENT, MARKETER, ANALYST})
DESK = frozenset({Role.ADMIN, AGENT})
CAMPAIGN_READERS = frozenset({Role.ADMIN, MARKETER, ANALYST})
CAMPAIGN_MANAGERS = frozenset({Role.ADMIN, MARKETER})

EVENT_JOURNEY = {
    "entry": {"type": "event", "event": "complaint.opened"},
    "steps": [
        {
            "id": "sorry",
            "type": "send",
            "channel": "email",
            "purpose": "service",
            "variants": [{"key": "A", "subject": "We are on it", "body": "Hello"}],
        }
    ],
}


@dataclass(frozen=True)
class World:
    """What the documents refer to: a customer in identity and a draft campaign in campaign."""

    customer_id: str
    campaign_id: str

    def headers(self, role: Role) -> dict[str, str]:
        if role is Role.CUSTOMER:
            return bearer(customer_token(self.customer_id))
        return bearer(staff_token(role))


@pytest.fixture
async def world(gateway: Gateway, identity_api: httpx.AsyncClient) -> World:
    identified = await identity_api.post(
        "/v1/identify",
        json={
            "identifiers": [{"type": "email", "value": "kim.access@example.com"}],
            "traits": {"name": "Kim"},
        },
        headers=ADMIN,
    )
    assert identified.status_code == 200, identified.text
    created = await gateway.query(
        """mutation($definition: JSON!) {
             createCampaign(name: "Access", kind: JOURNEY, definition: $definition) { ... on Campaign { id } }
           }""",
        {"definition": EVENT_JOURNEY},
    )
    campaign_id = created.json()["data"]["createCampaign"]["id"]
    for recording in gateway.sent.values():
        recording.requests.clear()  # the arrangement is not what the case under test sent
    return World(customer_id=identified.json()["customer_id"], campaign_id=campaign_id)


@dataclass(frozen=True)
class Case:
    """One field or mutation: who may use it, and which service it calls (and must not, when refused)."""

    name: str
    document: str
    service: str
    allowed: frozenset[Role]
    variables: Callable[[World], dict[str, Any]] = field(default=lambda _: {})
    # Services that must not be called at all when the field is refused (the case's own by default).
    untouched: tuple[str, ...] = ()
    roles: tuple[Role, ...] = tuple(Role)

    @property
    def top_field(self) -> str:
        """Where a refusal sits: the top-level field, which the name starts with ("customer.segments")."""
        return self.name.split()[0].split(".")[0]


def _random_id(_: World) -> dict[str, Any]:
    return {"id": str(uuid.uuid4())}


CASES = [
    # --- reads ---
    Case("me", "query { me { id displayName } }", "identity", frozenset({CUSTOMER})),
    Case(
        "customer",
        "query($id: UUID!) { customer(id: $id) { id displayName } }",
        "identity",
        STAFF,
        variables=lambda w: {"id": w.customer_id},
    ),
    Case("customers", 'query { customers(search: "Kim") { nodes { id } } }', "identity", STAFF),
    Case(
        "customer.segments",
        "query($id: UUID!) { customer(id: $id) { id segments { segmentId name } } }",
        "campaign",
        STAFF,
        variables=lambda w: {"id": w.customer_id},
        untouched=("identity", "campaign"),
    ),
    Case(
        "ideas",
        "query { ideas { nodes { id title } } }",
        "feedback",
        STAFF | {CUSTOMER},
    ),
    Case("matchSuggestions", "query { matchSuggestions { nodes { id } } }", "identity", DESK),
    Case("complaints", "query { complaints { nodes { id } } }", "feedback", STAFF),
    Case("segments", "query { segments { nodes { id } } }", "campaign", CAMPAIGN_READERS),
    Case("campaigns", "query { campaigns { nodes { id status } } }", "campaign", CAMPAIGN_READERS),
    Case(
        "campaign.results",
        "query($id: UUID!) { campaign(id: $id) { id results { campaignId method } } }",
        "campaign",
        CAMPAIGN_READERS,
        variables=lambda w: {"id": w.campaign_id},
    ),
    # --- writes ---
    Case(
        "identify",
        'mutation { identify(input: {identifiers: [{type: "email", value: "new.one@example.com"}]}) '
        "{ __typename } }",
        "identity",
        DESK | {PARTNER},
    ),
    Case(
        "mergeCustomers",
        "mutation($id: UUID!, $other: UUID!) { mergeCustomers(survivorId: $id, mergedId: $other) "
        "{ __typename } }",
        "identity",
        DESK,
        variables=lambda w: {"id": w.customer_id, "other": str(uuid.uuid4())},
    ),
    Case(
        "updateMyProfile",
        'mutation { updateMyProfile(traits: {city: "Seoul"}) { __typename } }',
        "identity",
        frozenset({CUSTOMER}),
    ),
    Case(
        "submitIdea",
        'mutation { submitIdea(input: {title: "Gift wrapping", body: "At checkout."}) { __typename } }',
        "feedback",
        frozenset({CUSTOMER}),
    ),
    Case(
        "comment",
        'mutation($id: UUID!) { comment(ideaId: $id, body: "Me too") { __typename } }',
        "feedback",
        frozenset({CUSTOMER, Role.ADMIN, AGENT, MARKETER}),
        variables=_random_id,
    ),
    Case(
        "setIdeaStatus",
        'mutation($id: UUID!) { setIdeaStatus(ideaId: $id, status: "planned") { __typename } }',
        "feedback",
        DESK,
        variables=_random_id,
    ),
    Case(
        "setComplaintStatus in progress",
        "mutation($id: UUID!) { setComplaintStatus(complaintId: $id, status: IN_PROGRESS) { __typename } }",
        "feedback",
        DESK,
        variables=_random_id,
    ),
    Case(
        "setComplaintStatus reopen",
        "mutation($id: UUID!) { setComplaintStatus(complaintId: $id, status: OPEN) { __typename } }",
        "feedback",
        DESK | {CUSTOMER},
        variables=_random_id,
    ),
    Case(
        "createSegment",
        'mutation { createSegment(name: "Seoul", rule: {field: "city", op: "eq", value: "Seoul"}) '
        "{ __typename } }",
        "campaign",
        CAMPAIGN_MANAGERS,
    ),
    Case(
        "createCampaign",
        "mutation($definition: JSON!) { "
        'createCampaign(name: "Hello", kind: JOURNEY, definition: $definition) { __typename } }',
        "campaign",
        CAMPAIGN_MANAGERS,
        variables=lambda _: {"definition": EVENT_JOURNEY},
    ),
    Case(
        "launchCampaign",
        "mutation($id: UUID!) { launchCampaign(campaignId: $id) { __typename } }",
        "campaign",
        CAMPAIGN_MANAGERS,
        variables=lambda w: {"id": w.campaign_id},
    ),
]


def _outcome(gateway: Gateway, case: Case, role: Role, body: dict[str, Any]) -> str | None:
    """What is wrong with the answer ``role`` got, or None."""
    if role in case.allowed:
        if "errors" in body or body.get("data") is None:
            return f"allowed, but answered {body}"
        if not gateway.sent[case.service].requests:
            return f"allowed, but {case.service} was not asked"
        return None
    refusals = [e for e in body.get("errors", []) if e.get("path") == [case.top_field]]
    # The gateway's own refusal: a service's 403 would name the service in the extensions.
    if [e.get("extensions") for e in refusals] != [{"code": "FORBIDDEN"}]:
        return f"not refused with FORBIDDEN on {case.top_field}: {body}"
    for service in case.untouched or (case.service,):
        sent = [f"{r.method} {r.url.path}" for r in gateway.sent[service].requests]
        if sent:
            return f"refused, but {service} was called: {sent}"
    return None


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_each_role_gets_what_it_may_and_a_refusal_costs_no_call(
    gateway: Gateway, world: World, case: Case
) -> None:
    wrong: dict[str, str] = {}
    for role in case.roles:
        for recording in gateway.sent.values():
            recording.requests.clear()
        response = await gateway.query(case.document, case.variables(world), headers=world.headers(role))
        assert response.status_code == 200, response.text
        problem = _outcome(gateway, case, role, response.json())
        if problem is not None:
            wrong[role.value] = problem

    assert wrong == {}


async def test_a_partner_is_refused_the_idea_board_without_a_call(gateway: Gateway, world: World) -> None:
    body = (await gateway.query("query { ideas { nodes { id } } }", headers=world.headers(PARTNER))).json()

    [error] = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert gateway.sent["feedback"].requests == []


async def test_a_customer_token_sees_its_own_record_but_not_its_segments(
    gateway: Gateway, world: World
) -> None:
    document = "query { record: me { id displayName } withSegments: me { segments { segmentId } } }"

    body = (await gateway.query(document, headers=world.headers(CUSTOMER))).json()

    assert body["data"] == {
        "record": {"id": world.customer_id, "displayName": "Kim"},
        "withSegments": {"segments": None},
    }
    [error] = body["errors"]
    assert (error["path"], error["extensions"]) == (["withSegments", "segments"], {"code": "FORBIDDEN"})
    assert gateway.sent["identity"].requests, "me is read from identity"
    assert gateway.sent["campaign"].requests == []


async def test_an_agent_sees_a_customers_campaigns_but_not_the_campaigns_themselves(
    gateway: Gateway, world: World
) -> None:
    document = """query($id: UUID!, $campaign: UUID!) {
      customer(id: $id) { id campaigns { campaignId } }
      campaign(id: $campaign) { id }
    }"""
    variables = {"id": world.customer_id, "campaign": world.campaign_id}

    body = (await gateway.query(document, variables, headers=world.headers(AGENT))).json()

    assert body["data"]["customer"] == {"id": world.customer_id, "campaigns": []}
    [error] = body["errors"]
    assert (error["path"], error["extensions"]) == (["campaign"], {"code": "FORBIDDEN"})
    assert [r.url.path for r in gateway.sent["campaign"].requests] == ["/v1/customers:campaigns"]


async def test_a_partner_may_resolve_identifiers_but_not_read_the_customer_they_resolved_to(
    gateway: Gateway, world: World
) -> None:
    document = """mutation {
      identify(input: {identifiers: [{type: "email", value: "kim.access@example.com"}], source: "partner"}) {
        ... on Identified { customerId outcome customer { displayName } }
      }
    }"""

    body = (await gateway.query(document, headers=world.headers(PARTNER))).json()

    identified = body["data"]["identify"]
    assert (identified["customerId"], identified["outcome"]) == (world.customer_id, "matched")
    assert identified["customer"] is None
    [error] = body["errors"]
    assert (error["path"], error["extensions"]) == (["identify", "customer"], {"code": "FORBIDDEN"})
    assert [r.url.path for r in gateway.sent["identity"].requests] == ["/v1/identify"]
