"""The customer-centric graph through real processes: what a frontend, an agent's desk and the mobile app
ask the gateway, answered from identity, campaign and feedback — and what is left when one of them is
down.

The test that stops the feedback service is the last in the module (and restarts it), so the others
see every service up whatever order pytest picks within the file.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from crm_common.auth import Role
from crm_platform.dev import Platform
from tests.support import bearer, customer_token, staff_token

pytestmark = pytest.mark.e2e

ADMIN = bearer(staff_token(Role.ADMIN))
AGENT = bearer(staff_token(Role.AGENT))

T = TypeVar("T")

CUSTOMER_360 = """
query Customer360($id: UUID!) {
  customer(id: $id) {
    id
    resolvedFrom
    displayName
    email
    phone
    profile { name value source }
    identifiers { type value source }
    timeline(first: 20) { nodes { id channel type source payload } }
    ideas(first: 10) { nodes { id title authorId } }
    feedback(first: 10) { nodes { id kind nps comment touchpoint } }
    experience { latestNps npsResponses }
  }
}
"""

# The fields of the 360 that only the feedback service can answer.
FEEDBACK_FIELDS = ("ideas", "feedback", "experience")

SUBMIT_IDEA = """
mutation Submit($input: IdeaInput!) {
  submitIdea(input: $input) {
    __typename
    ... on Idea { id title upCount }
    ... on MutationRejected { code message fields { field message } }
  }
}
"""

GIVE_FEEDBACK = """
mutation Give($input: FeedbackInput!) {
  giveFeedback(input: $input) {
    __typename
    ... on Feedback { id kind nps }
    ... on MutationRejected { code message fields { field message } }
  }
}
"""

VOTE = """
mutation Vote($idea: UUID!) {
  vote(ideaId: $idea, direction: UP) {
    __typename
    ... on VoteState { ideaId direction upCount downCount }
    ... on MutationRejected { code message }
  }
}
"""


def graphql(
    platform: Platform, query: str, variables: dict[str, Any] | None = None, *, headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(
        platform.url("gateway") + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=10,
    )


def answer(platform: Platform, query: str, variables: dict[str, Any], headers: dict[str, str]) -> Any:
    """The ``data`` of an answer that must have no errors."""
    response = graphql(platform, query, variables, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy (events reach other services asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def identify(platform: Platform, name: str, *, touchpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new customer through identity, with an email and a phone seen together."""
    tag = uuid.uuid4().hex[:10]
    record: dict[str, Any] = {
        "identifiers": [
            {"type": "email", "value": f"gw-{tag}@example.com"},
            # 010-1xxx-xxxx: every such number is a valid Korean mobile (010-5… are not).
            {"type": "phone", "value": f"+82101{int(tag[:8], 16) % 10**7:07d}"},
        ],
        "traits": {"name": name},
        "source": "shop",
    }
    if touchpoint is not None:
        record["touchpoint"] = touchpoint
    response = httpx.post(platform.url("identity") + "/v1/identify", json=record, headers=AGENT, timeout=10)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["outcome"] == "created", result
    return {"id": result["customer_id"], "email": record["identifiers"][0]["value"]}


def submit_idea(platform: Platform, customer_id: str, title: str) -> dict[str, Any]:
    data = answer(
        platform,
        SUBMIT_IDEA,
        {"input": {"title": title, "body": "Let me pick the delivery slot when I order."}},
        bearer(customer_token(customer_id)),
    )
    idea = data["submitIdea"]
    assert idea["__typename"] == "Idea", idea
    return dict(idea)


@pytest.fixture(scope="module")
def customer(platform: Platform) -> dict[str, Any]:
    """A customer who came in through the shop with an order, then gave an NPS and submitted an idea."""
    order = f"order-{uuid.uuid4().hex[:8]}"
    created = identify(
        platform,
        "Hana Seo",
        touchpoint={
            "channel": "web",
            "type": "order_placed",
            "external_id": order,
            "payload": {"total": 42000},
        },
    )
    own = bearer(customer_token(created["id"]))
    given = answer(
        platform,
        GIVE_FEEDBACK,
        {
            "input": {
                "kind": "nps",
                "channel": "web",
                "touchpoint": "checkout",
                "nps": 9,
                "comment": "Quick and friendly checkout",
            }
        },
        own,
    )["giveFeedback"]
    assert given["__typename"] == "Feedback", given
    idea = submit_idea(platform, created["id"], f"Delivery slots {uuid.uuid4().hex[:6]}")
    return {**created, "order": order, "feedback_id": given["id"], "idea": idea}


def customer_360(platform: Platform, customer_id: str) -> dict[str, Any]:
    return dict(answer(platform, CUSTOMER_360, {"id": customer_id}, AGENT)["customer"])


def complete_360(platform: Platform, customer: dict[str, Any]) -> dict[str, Any]:
    """The 360 once feedback's scores have caught up with the NPS."""

    def probe() -> dict[str, Any] | None:
        found = customer_360(platform, customer["id"])
        experience = found["experience"]
        return found if experience and experience["latestNps"] == 9 else None

    return eventually(probe, "the customer's NPS to reach their experience scores")


def test_one_query_answers_the_customer_360_from_every_service(
    platform: Platform, customer: dict[str, Any]
) -> None:
    found = complete_360(platform, customer)

    assert found["id"] == customer["id"]
    assert found["resolvedFrom"] is None
    assert found["displayName"] == "Hana Seo"
    assert found["email"] == customer["email"]
    assert found["phone"].startswith("+8210")
    assert {(i["type"], i["value"]) for i in found["identifiers"]} >= {
        ("email", customer["email"]),
        ("phone", found["phone"]),
    }
    assert {"name": "name", "value": "Hana Seo", "source": "shop"} in found["profile"]
    orders = [t for t in found["timeline"]["nodes"] if t["type"] == "order_placed"]
    assert [(t["channel"], t["payload"]) for t in orders] == [("web", {"total": 42000})]
    assert [i["id"] for i in found["ideas"]["nodes"]] == [customer["idea"]["id"]]
    assert found["ideas"]["nodes"][0]["authorId"] == customer["id"]
    assert [(f["id"], f["kind"], f["nps"], f["touchpoint"]) for f in found["feedback"]["nodes"]] == [
        (customer["feedback_id"], "nps", 9, "checkout")
    ]
    assert found["experience"] == {"latestNps": 9, "npsResponses": 1}


MY_IDEAS = "{ me { id displayName ideas { nodes { id title } } } }"
TOP_IDEAS = "{ ideas(sort: TOP, first: 100) { nodes { id title upCount } } }"
ONE_IDEA = "query Idea($id: UUID!) { idea(id: $id) { id upCount downCount myVote } }"


def test_the_mobile_app_reads_me_ranks_ideas_and_votes(platform: Platform, customer: dict[str, Any]) -> None:
    own = bearer(customer_token(customer["id"]))
    me = answer(platform, MY_IDEAS, {}, own)["me"]
    assert me["id"] == customer["id"]
    assert me["displayName"] == "Hana Seo"
    assert me["ideas"]["nodes"] == [{"id": customer["idea"]["id"], "title": customer["idea"]["title"]}]

    ranked = answer(platform, TOP_IDEAS, {}, own)["ideas"]["nodes"]
    assert customer["idea"]["id"] in [idea["id"] for idea in ranked]

    voter = identify(platform, "Minho Park")
    voter_token = bearer(customer_token(voter["id"]))
    before = answer(platform, ONE_IDEA, {"id": customer["idea"]["id"]}, voter_token)["idea"]
    voted = answer(platform, VOTE, {"idea": customer["idea"]["id"]}, voter_token)["vote"]
    assert voted["__typename"] == "VoteState", voted
    assert (voted["direction"], voted["upCount"]) == ("up", before["upCount"] + 1)
    after = answer(platform, ONE_IDEA, {"id": customer["idea"]["id"]}, voter_token)["idea"]
    assert (after["upCount"], after["downCount"], after["myVote"]) == (
        before["upCount"] + 1,
        before["downCount"],
        "up",
    )
    # Voting again changes nothing: one vote per customer per idea.
    again = answer(platform, VOTE, {"idea": customer["idea"]["id"]}, voter_token)["vote"]
    assert again["upCount"] == before["upCount"] + 1


def test_a_merged_away_id_resolves_to_the_survivor(platform: Platform) -> None:
    # The old account first: the golden name is the one seen last, the survivor's.
    duplicate = identify(platform, "Jiwoo Lee (old account)")
    survivor = identify(platform, "Jiwoo Lee")
    merged = httpx.post(
        platform.url("identity") + "/v1/merges",
        json={"survivor_id": survivor["id"], "merged_id": duplicate["id"], "reason": "same person"},
        headers=ADMIN,
        timeout=10,
    )
    assert merged.status_code == 201, merged.text

    found = answer(
        platform,
        "query C($id: UUID!) { customer(id: $id) { id resolvedFrom displayName identifiers { value } } }",
        {"id": duplicate["id"]},
        AGENT,
    )["customer"]
    assert found["id"] == survivor["id"]
    assert found["resolvedFrom"] == duplicate["id"]
    assert found["displayName"] == "Jiwoo Lee"
    assert {survivor["email"], duplicate["email"]} <= {i["value"] for i in found["identifiers"]}


def test_with_feedback_stopped_the_360_keeps_what_the_other_services_know(
    platform: Platform, customer: dict[str, Any]
) -> None:
    complete_360(platform, customer)  # everything there first, so what goes missing is the outage's doing
    feedback = platform.child("feedback")
    feedback.stop()
    try:
        response = graphql(platform, CUSTOMER_360, {"id": customer["id"]}, headers=AGENT)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"] is not None, body
        found = body["data"]["customer"]
        assert found is not None, body
        assert found["id"] == customer["id"]
        assert found["displayName"] == "Hana Seo"
        assert found["email"] == customer["email"]
        assert any(t["type"] == "order_placed" for t in found["timeline"]["nodes"])
        assert {name: found[name] for name in FEEDBACK_FIELDS} == dict.fromkeys(FEEDBACK_FIELDS)
        errors = body["errors"]
        assert sorted(tuple(e["path"]) for e in errors) == sorted(
            ("customer", name) for name in FEEDBACK_FIELDS
        )
        assert {(e["extensions"]["code"], e["extensions"]["service"]) for e in errors} == {
            ("UNAVAILABLE", "feedback")
        }
    finally:
        feedback.start()
        platform.wait_ready()

    restored = complete_360(platform, customer)
    assert [i["id"] for i in restored["ideas"]["nodes"]] == [customer["idea"]["id"]]
    assert [f["id"] for f in restored["feedback"]["nodes"]] == [customer["feedback_id"]]
