"""Every mutation of the graph, end to end against the real in-process services.

Each write is checked where it landed, through the owning service's REST API; each typed failure
(invalid input, a missing target, a conflicting state) comes back as ``MutationRejected`` with the
service's field paths, and leaves nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from crm_common.auth import Role
from tests.gateway.support import ADMIN, Gateway
from tests.support import bearer, customer_token, staff_token

AGENT = bearer(staff_token(Role.AGENT))
MARKETER = bearer(staff_token(Role.MARKETER))

REJECTED = "... on MutationRejected { code message service problemType fields { field message } }"

SEOYEON = {
    "name": "김서연",
    "birth_date": "1990-04-12",
    "address": "테헤란로 152",
    "city": "서울",
    "postcode": "06236",
}
# One syllable off in the given name (연/영): probable, so identity files a suggestion for a person.
NEAR_SEOYEON = {"name": "김서영", "birth_date": "1990-04-12", "postcode": "06236"}


async def service_api(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}") as client:
        yield client


@pytest.fixture
async def feedback_api(feedback_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Feedback's REST API, to see what a mutation wrote."""
    async for client in service_api(feedback_app, "feedback"):
        yield client


@pytest.fixture
async def campaign_api(campaign_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Campaign's REST API, to see what a mutation wrote."""
    async for client in service_api(campaign_app, "campaign"):
        yield client


async def mutate(
    gateway: Gateway,
    document: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The one mutation field's result; the answer must carry no GraphQL error."""
    response = await gateway.query(document, variables, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    [result] = body["data"].values()
    assert isinstance(result, dict)
    return result


def assert_rejected(result: dict[str, Any], code: str, service: str) -> None:
    assert result["__typename"] == "MutationRejected", result
    assert (result["code"], result["service"]) == (code, service), result
    assert result["message"]


async def identify_via_rest(
    identity_api: httpx.AsyncClient, identifier: tuple[str, str], traits: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await identity_api.post(
        "/v1/identify",
        json={
            "identifiers": [{"type": identifier[0], "value": identifier[1]}],
            "traits": traits or {},
            "source": "crm",
        },
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def new_customer(identity_api: httpx.AsyncClient, name: str) -> str:
    created = await identify_via_rest(
        identity_api, ("email", f"{uuid.uuid4().hex[:10]}@example.com"), {"name": name}
    )
    return str(created["customer_id"])


async def get_customer(identity_api: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    response = await identity_api.get(f"/v1/customers/{customer_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    customer: dict[str, Any] = response.json()
    return customer


# --- identity ---------------------------------------------------------------------------------

IDENTIFY = f"""
mutation($input: IdentifyInput!) {{
  identify(input: $input) {{
    __typename
    ... on Identified {{ customerId outcome rule customer {{ id displayName email }} }}
    {REJECTED}
  }}
}}
"""


async def test_identify_creates_the_customer_in_identity(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    variables = {
        "input": {
            "identifiers": [{"type": "email", "value": "Mina.Park@Example.com"}],
            "traits": {"name": "Park Mina"},
            "source": "shop",
        }
    }

    result = await mutate(gateway, IDENTIFY, variables, headers=AGENT)

    assert result["__typename"] == "Identified"
    assert result["outcome"] == "created"
    assert result["customer"] == {
        "id": result["customerId"],
        "displayName": "Park Mina",
        "email": "mina.park@example.com",
    }
    stored = await get_customer(identity_api, result["customerId"])
    assert {(i["type"], i["value"], i["source"]) for i in stored["identifiers"]} == {
        ("email", "mina.park@example.com", "shop")
    }

    again = await mutate(gateway, IDENTIFY, variables, headers=AGENT)
    assert (again["outcome"], again["customerId"]) == ("matched", result["customerId"])


async def test_identify_reports_identifiers_it_left_out_and_keeps_when_they_were_seen(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    document = f"""
    mutation($input: IdentifyInput!) {{
      identify(input: $input) {{
        __typename
        ... on Identified {{ customerId outcome ignoredIdentifiers {{ type value reason }} }}
        {REJECTED}
      }}
    }}
    """
    variables = {
        "input": {
            "identifiers": [
                {"type": "email", "value": "jiwoo@example.com"},
                {"type": "email", "value": "info@example.com"},
            ],
            "observedAt": "2026-03-01T10:00:00+00:00",
        }
    }

    result = await mutate(gateway, document, variables, headers=AGENT)

    assert (result["__typename"], result["outcome"]) == ("Identified", "created")
    assert result["ignoredIdentifiers"] == [
        {"type": "email", "value": "info@example.com", "reason": "shared_address"}
    ]
    stored = await get_customer(identity_api, result["customerId"])
    assert [(i["value"], i["first_seen_at"]) for i in stored["identifiers"]] == [
        ("jiwoo@example.com", "2026-03-01T10:00:00Z")
    ]


async def test_identify_with_an_invalid_identifier_is_rejected_naming_it_and_writes_nothing(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    variables = {
        "input": {
            "identifiers": [
                {"type": "email", "value": "kept.out@example.com"},
                {"type": "", "value": "x"},
            ]
        }
    }

    result = await mutate(gateway, IDENTIFY, variables, headers=AGENT)

    assert_rejected(result, "INVALID_INPUT", "identity")
    assert [f["field"] for f in result["fields"]] == ["body.identifiers.1.type"]
    lookup = await identity_api.get(
        "/v1/customers/lookup", params={"type": "email", "value": "kept.out@example.com"}, headers=ADMIN
    )
    assert lookup.status_code == 404


MERGE = f"""
mutation($survivor: UUID!, $merged: UUID!) {{
  mergeCustomers(survivorId: $survivor, mergedId: $merged, reason: "same person, called in") {{
    __typename
    ... on Merge {{ id survivorId mergedId rule actor undoneAt }}
    {REJECTED}
  }}
}}
"""

UNDO = f"""
mutation($id: UUID!) {{
  undoMerge(mergeId: $id) {{
    __typename
    ... on Merge {{ id undoneAt undoneBy }}
    {REJECTED}
  }}
}}
"""


async def test_merge_customers_makes_the_merged_id_resolve_to_the_survivor(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    survivor = await new_customer(identity_api, "Han Jisoo")
    merged = await new_customer(identity_api, "Han Ji-soo")

    result = await mutate(gateway, MERGE, {"survivor": survivor, "merged": merged}, headers=AGENT)

    assert result["__typename"] == "Merge"
    assert (result["survivorId"], result["mergedId"], result["rule"]) == (survivor, merged, "manual")
    assert result["actor"] == "agent:staff-agent"
    assert result["undoneAt"] is None
    assert (await get_customer(identity_api, merged))["id"] == survivor
    read = await gateway.query("query($id: UUID!) { customer(id: $id) { id resolvedFrom } }", {"id": merged})
    assert read.json() == {"data": {"customer": {"id": survivor, "resolvedFrom": merged}}}


async def test_merging_an_unknown_customer_is_not_found(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    survivor = await new_customer(identity_api, "Only One")

    result = await mutate(gateway, MERGE, {"survivor": survivor, "merged": str(uuid.uuid4())}, headers=AGENT)

    assert_rejected(result, "NOT_FOUND", "identity")
    assert (await get_customer(identity_api, survivor))["status"] == "active"


async def test_undo_merge_brings_both_customers_back_and_cannot_be_repeated(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    survivor = await new_customer(identity_api, "Seo Jiho")
    merged = await new_customer(identity_api, "Seo Ji-ho")
    merge = await mutate(gateway, MERGE, {"survivor": survivor, "merged": merged}, headers=AGENT)

    undone = await mutate(gateway, UNDO, {"id": merge["id"]}, headers=AGENT)

    assert undone["__typename"] == "Merge"
    assert undone["id"] == merge["id"]
    assert undone["undoneAt"] is not None and undone["undoneBy"] == "agent:staff-agent"
    restored = await get_customer(identity_api, merged)
    assert (restored["id"], restored["status"], restored["display_name"]) == (merged, "active", "Seo Ji-ho")
    assert_rejected(await mutate(gateway, UNDO, {"id": merge["id"]}, headers=AGENT), "CONFLICT", "identity")


async def test_undo_of_an_unknown_merge_is_not_found(gateway: Gateway) -> None:
    result = await mutate(gateway, UNDO, {"id": str(uuid.uuid4())}, headers=AGENT)

    assert_rejected(result, "NOT_FOUND", "identity")


RESOLVE_SUGGESTION = f"""
mutation($id: UUID!, $accept: Boolean!) {{
  resolveMatchSuggestion(suggestionId: $id, accept: $accept) {{
    __typename
    ... on SuggestionDecision {{
      suggestion {{ id status decidedBy mergeId customer {{ id }} candidate {{ id }} }}
      merge {{ id survivorId mergedId }}
    }}
    {REJECTED}
  }}
}}
"""


async def arrange_suggestion(identity_api: httpx.AsyncClient) -> tuple[str, str, str]:
    """(suggestion id, customer id, candidate id): a probable duplicate waiting for a person."""
    first = await identify_via_rest(identity_api, ("email", "seoyeon@example.com"), SEOYEON)
    second = await identify_via_rest(identity_api, ("phone", "010-9876-5432"), NEAR_SEOYEON)
    assert second["outcome"] == "created"
    [suggestion_id] = second["suggestion_ids"]
    return suggestion_id, second["customer_id"], first["customer_id"]


async def test_accepting_a_match_suggestion_merges_the_pair(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    suggestion_id, customer_id, candidate_id = await arrange_suggestion(identity_api)

    result = await mutate(gateway, RESOLVE_SUGGESTION, {"id": suggestion_id, "accept": True}, headers=AGENT)

    assert result["__typename"] == "SuggestionDecision"
    suggestion, merge = result["suggestion"], result["merge"]
    assert (suggestion["id"], suggestion["status"]) == (suggestion_id, "accepted")
    assert suggestion["decidedBy"] == "agent:staff-agent"
    assert suggestion["mergeId"] == merge["id"]
    assert (merge["survivorId"], merge["mergedId"]) == (candidate_id, customer_id)
    assert (await get_customer(identity_api, customer_id))["id"] == candidate_id


async def test_a_rejected_match_suggestion_keeps_the_pair_apart_and_cannot_be_accepted(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    suggestion_id, customer_id, _ = await arrange_suggestion(identity_api)

    result = await mutate(gateway, RESOLVE_SUGGESTION, {"id": suggestion_id, "accept": False}, headers=AGENT)

    assert result["__typename"] == "SuggestionDecision"
    assert (result["suggestion"]["status"], result["merge"]) == ("rejected", None)
    assert (await get_customer(identity_api, customer_id))["id"] == customer_id
    accepted_later = await mutate(
        gateway, RESOLVE_SUGGESTION, {"id": suggestion_id, "accept": True}, headers=AGENT
    )
    assert_rejected(accepted_later, "CONFLICT", "identity")


UPDATE_PROFILE = f"""
mutation($traits: JSON!) {{
  updateMyProfile(traits: $traits) {{
    __typename
    ... on Customer {{ id displayName profile {{ name value source }} }}
    {REJECTED}
  }}
}}
"""


async def test_update_my_profile_records_the_customers_own_value(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(identity_api, "Kang Dahye")
    token = bearer(customer_token(customer_id))

    result = await mutate(gateway, UPDATE_PROFILE, {"traits": {"city": "부산"}}, headers=token)

    assert (result["__typename"], result["id"]) == ("Customer", customer_id)
    assert {"name": "city", "value": "부산", "source": "customer"} in result["profile"]
    stored = await get_customer(identity_api, customer_id)
    assert (stored["profile"]["city"]["value"], stored["profile"]["city"]["source"]) == ("부산", "customer")


async def test_updating_a_field_the_customer_may_not_edit_is_rejected_and_writes_nothing(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(identity_api, "Oh Sehun")
    token = bearer(customer_token(customer_id))

    result = await mutate(
        gateway, UPDATE_PROFILE, {"traits": {"city": "대구", "loyalty_tier": "gold"}}, headers=token
    )

    assert_rejected(result, "INVALID_INPUT", "identity")
    assert [f["field"] for f in result["fields"]] == ["body.traits"]
    assert "city" not in (await get_customer(identity_api, customer_id))["profile"]


SET_CONSENTS = f"""
mutation($consents: [ConsentInput!]!) {{
  setMyConsents(consents: $consents) {{
    __typename
    ... on ConsentsUpdated {{ consents {{ channel purpose granted source actor }} }}
    {REJECTED}
  }}
}}
"""


async def test_set_my_consents_keeps_each_consent_with_its_provenance(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(identity_api, "Yoon Hana")
    token = bearer(customer_token(customer_id))
    consents = [
        {"channel": "email", "purpose": "marketing", "granted": True},
        {"channel": "sms", "purpose": "marketing", "granted": False},
    ]

    result = await mutate(gateway, SET_CONSENTS, {"consents": consents}, headers=token)

    assert result["__typename"] == "ConsentsUpdated"
    given = {(c["channel"], c["purpose"], c["granted"]) for c in result["consents"]}
    assert {("email", "marketing", True), ("sms", "marketing", False)} <= given
    stored = await identity_api.get(f"/v1/customers/{customer_id}/consents", headers=ADMIN)
    by_channel = {(c["channel"], c["purpose"]): c for c in stored.json()}
    assert by_channel[("email", "marketing")]["granted"] is True
    assert by_channel[("sms", "marketing")]["granted"] is False
    assert by_channel[("email", "marketing")]["actor"] == f"customer:{customer_id}"


async def test_a_consent_for_an_unknown_channel_is_rejected_naming_it(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(identity_api, "Jung Minho")
    token = bearer(customer_token(customer_id))
    consents = [
        {"channel": "email", "purpose": "marketing", "granted": True},
        {"channel": "fax", "purpose": "marketing", "granted": True},
    ]

    result = await mutate(gateway, SET_CONSENTS, {"consents": consents}, headers=token)

    assert_rejected(result, "INVALID_INPUT", "identity")
    assert [f["field"] for f in result["fields"]] == ["body.consents.1.channel"]
    stored = await identity_api.get(f"/v1/customers/{customer_id}/consents", headers=ADMIN)
    assert ("email", "marketing", True) not in {
        (c["channel"], c["purpose"], c["granted"]) for c in stored.json()
    }


# --- feedback ---------------------------------------------------------------------------------

SUBMIT_IDEA = f"""
mutation($input: IdeaInput!) {{
  submitIdea(input: $input) {{
    __typename
    ... on Idea {{ id title body category tags status authorId upCount }}
    {REJECTED}
  }}
}}
"""

VOTE = f"""
mutation($idea: UUID!, $direction: VoteDirection!) {{
  vote(ideaId: $idea, direction: $direction) {{
    __typename
    ... on VoteState {{ ideaId direction upCount downCount score votesLeft }}
    {REJECTED}
  }}
}}
"""

WITHDRAW_VOTE = f"""
mutation($idea: UUID!) {{
  withdrawVote(ideaId: $idea) {{
    __typename
    ... on VoteState {{ ideaId direction upCount downCount }}
    {REJECTED}
  }}
}}
"""


def as_customer(customer_id: uuid.UUID | str | None = None) -> dict[str, str]:
    return bearer(customer_token(customer_id or uuid.uuid4()))


async def submit_idea(gateway: Gateway, author: dict[str, str], title: str = "Dark mode for the app") -> str:
    idea = await mutate(
        gateway,
        SUBMIT_IDEA,
        {"input": {"title": title, "body": "Easier on the eyes at night."}},
        headers=author,
    )
    assert idea["__typename"] == "Idea", idea
    return str(idea["id"])


async def get_idea(feedback_api: httpx.AsyncClient, idea_id: str) -> dict[str, Any]:
    response = await feedback_api.get(f"/v1/ideas/{idea_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    idea: dict[str, Any] = response.json()
    return idea


async def test_a_retried_submission_with_its_idempotency_key_creates_one_idea(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    author_id = uuid.uuid4()
    document = """
    mutation($input: IdeaInput!, $key: String) {
      submitIdea(input: $input, idempotencyKey: $key) { __typename ... on Idea { id } }
    }"""
    variables = {
        "input": {"title": "Pay with points", "body": "Loyalty points at checkout."},
        "key": "retry-1",
    }

    first = await mutate(gateway, document, variables, headers=as_customer(author_id))
    again = await mutate(gateway, document, variables, headers=as_customer(author_id))

    assert first["id"] == again["id"]
    listed = await feedback_api.get("/v1/ideas", params={"author_id": str(author_id)}, headers=ADMIN)
    assert [idea["id"] for idea in listed.json()["items"]] == [first["id"]]


async def test_submit_idea_stores_it_as_the_customers_own(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    author_id = uuid.uuid4()
    variables = {
        "input": {
            "title": "Split payments at checkout",
            "body": "Let two cards share one order.",
            "category": "payments",
            "tags": ["checkout", "cards"],
        }
    }

    result = await mutate(gateway, SUBMIT_IDEA, variables, headers=as_customer(author_id))

    assert result["__typename"] == "Idea"
    assert (result["title"], result["category"], result["tags"]) == (
        "Split payments at checkout",
        "payments",
        ["checkout", "cards"],
    )
    assert (result["status"], result["authorId"], result["upCount"]) == ("new", str(author_id), 0)
    stored = await get_idea(feedback_api, result["id"])
    assert (stored["title"], stored["body"], stored["author_id"]) == (
        "Split payments at checkout",
        "Let two cards share one order.",
        str(author_id),
    )


async def test_an_idea_without_a_title_is_rejected_naming_the_title_and_not_stored(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    author_id = uuid.uuid4()

    result = await mutate(
        gateway, SUBMIT_IDEA, {"input": {"title": "", "body": "No title."}}, headers=as_customer(author_id)
    )

    assert_rejected(result, "INVALID_INPUT", "feedback")
    assert [f["field"] for f in result["fields"]] == ["body.title"]
    listed = await feedback_api.get("/v1/ideas", params={"author_id": str(author_id)}, headers=ADMIN)
    assert listed.json()["items"] == []


async def test_vote_counts_on_the_idea_and_withdrawing_takes_it_back(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    idea_id = await submit_idea(gateway, as_customer())
    voter = as_customer()

    voted = await mutate(gateway, VOTE, {"idea": idea_id, "direction": "UP"}, headers=voter)

    assert voted["__typename"] == "VoteState"
    assert (voted["ideaId"], voted["direction"], voted["upCount"], voted["downCount"]) == (
        idea_id,
        "up",
        1,
        0,
    )
    assert voted["score"] > 0
    assert (await get_idea(feedback_api, idea_id))["up_count"] == 1

    changed = await mutate(gateway, VOTE, {"idea": idea_id, "direction": "DOWN"}, headers=voter)
    assert (changed["direction"], changed["upCount"], changed["downCount"]) == ("down", 0, 1)

    withdrawn = await mutate(gateway, WITHDRAW_VOTE, {"idea": idea_id}, headers=voter)

    assert withdrawn["__typename"] == "VoteState"
    assert (withdrawn["direction"], withdrawn["upCount"], withdrawn["downCount"]) == (None, 0, 0)
    stored = await get_idea(feedback_api, idea_id)
    assert (stored["up_count"], stored["down_count"]) == (0, 0)


async def test_voting_on_an_unknown_idea_is_not_found(gateway: Gateway) -> None:
    result = await mutate(
        gateway, VOTE, {"idea": str(uuid.uuid4()), "direction": "UP"}, headers=as_customer()
    )

    assert_rejected(result, "NOT_FOUND", "feedback")


async def test_withdrawing_a_vote_on_an_unknown_idea_is_not_found(gateway: Gateway) -> None:
    result = await mutate(gateway, WITHDRAW_VOTE, {"idea": str(uuid.uuid4())}, headers=as_customer())

    assert_rejected(result, "NOT_FOUND", "feedback")


COMMENT = f"""
mutation($idea: UUID!, $body: String!, $parent: UUID) {{
  comment(ideaId: $idea, body: $body, parentId: $parent) {{
    __typename
    ... on Comment {{ id ideaId parentId authorKind official body }}
    {REJECTED}
  }}
}}
"""


async def test_comments_and_replies_land_on_the_idea(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    idea_id = await submit_idea(gateway, as_customer())

    question = await mutate(
        gateway,
        COMMENT,
        {"idea": idea_id, "body": "Would this cover the web app too?"},
        headers=as_customer(),
    )
    answer = await mutate(
        gateway,
        COMMENT,
        {"idea": idea_id, "body": "Yes, both apps.", "parent": question["id"]},
        headers=AGENT,
    )

    assert question["__typename"] == answer["__typename"] == "Comment"
    assert (question["authorKind"], question["official"], question["parentId"]) == ("customer", False, None)
    assert (answer["authorKind"], answer["official"], answer["parentId"]) == ("staff", True, question["id"])
    threads = (await feedback_api.get(f"/v1/ideas/{idea_id}/comments", headers=ADMIN)).json()["items"]
    assert [(t["id"], t["body"], [r["body"] for r in t["replies"]]) for t in threads] == [
        (question["id"], "Would this cover the web app too?", ["Yes, both apps."])
    ]


async def test_commenting_on_an_unknown_idea_is_not_found(gateway: Gateway) -> None:
    result = await mutate(
        gateway, COMMENT, {"idea": str(uuid.uuid4()), "body": "Hello?"}, headers=as_customer()
    )

    assert_rejected(result, "NOT_FOUND", "feedback")


GIVE_FEEDBACK = f"""
mutation($input: FeedbackInput!) {{
  giveFeedback(input: $input) {{
    __typename
    ... on Feedback {{ id customerId kind channel touchpoint nps comment }}
    {REJECTED}
  }}
}}
"""


async def test_give_feedback_records_the_score_for_the_customer(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    customer_id = uuid.uuid4()
    variables = {
        "input": {
            "kind": "nps",
            "channel": "email",
            "touchpoint": "store_checkout",
            "nps": 9,
            "comment": "Quick and friendly.",
        }
    }

    result = await mutate(gateway, GIVE_FEEDBACK, variables, headers=as_customer(customer_id))

    assert result["__typename"] == "Feedback"
    assert (result["customerId"], result["kind"], result["touchpoint"], result["nps"]) == (
        str(customer_id),
        "nps",
        "store_checkout",
        9,
    )
    stored = await feedback_api.get(f"/v1/feedback/{result['id']}", headers=ADMIN)
    assert (stored.json()["nps"], stored.json()["comment"]) == (9, "Quick and friendly.")


async def test_an_nps_out_of_range_is_rejected_naming_it_and_not_stored(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    customer_id = uuid.uuid4()
    variables = {"input": {"kind": "nps", "channel": "email", "touchpoint": "store_checkout", "nps": 11}}

    result = await mutate(gateway, GIVE_FEEDBACK, variables, headers=as_customer(customer_id))

    assert_rejected(result, "INVALID_INPUT", "feedback")
    assert [f["field"] for f in result["fields"]] == ["body.nps"]
    stored = await feedback_api.get(f"/v1/customers/{customer_id}/feedback", headers=ADMIN)
    assert stored.json()["items"] == []


FILE_COMPLAINT = f"""
mutation($input: ComplaintInput!) {{
  fileComplaint(input: $input) {{
    __typename
    ... on Complaint {{ id customerId channel touchpoint text status assignee }}
    {REJECTED}
  }}
}}
"""

ASSIGN_COMPLAINT = f"""
mutation($id: UUID!, $assignee: String) {{
  assignComplaint(complaintId: $id, assignee: $assignee) {{
    __typename
    ... on Complaint {{ id assignee status }}
    {REJECTED}
  }}
}}
"""

SET_COMPLAINT_STATUS = f"""
mutation($id: UUID!, $status: ComplaintStatus!, $note: String) {{
  setComplaintStatus(complaintId: $id, status: $status, note: $note) {{
    __typename
    ... on Complaint {{ id status resolution reopenedCount resolvedAt }}
    {REJECTED}
  }}
}}
"""


async def file_complaint(gateway: Gateway, customer: dict[str, str]) -> dict[str, Any]:
    variables = {
        "input": {
            "channel": "call_center",
            "touchpoint": "call_center",
            "text": "I waited forty minutes on hold.",
        }
    }
    complaint = await mutate(gateway, FILE_COMPLAINT, variables, headers=customer)
    assert complaint["__typename"] == "Complaint", complaint
    return complaint


async def get_complaint(feedback_api: httpx.AsyncClient, complaint_id: str) -> dict[str, Any]:
    response = await feedback_api.get(f"/v1/complaints/{complaint_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    complaint: dict[str, Any] = response.json()
    return complaint


async def test_file_complaint_opens_a_case_for_the_customer(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    customer_id = uuid.uuid4()

    complaint = await file_complaint(gateway, as_customer(customer_id))

    assert (complaint["customerId"], complaint["touchpoint"], complaint["status"]) == (
        str(customer_id),
        "call_center",
        "open",
    )
    stored = await get_complaint(feedback_api, complaint["id"])
    assert (stored["customer_id"], stored["text"], stored["status"]) == (
        str(customer_id),
        "I waited forty minutes on hold.",
        "open",
    )


async def test_a_complaint_without_text_is_rejected_naming_it_and_not_stored(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    customer_id = uuid.uuid4()
    variables = {"input": {"channel": "call_center", "touchpoint": "call_center", "text": ""}}

    result = await mutate(gateway, FILE_COMPLAINT, variables, headers=as_customer(customer_id))

    assert_rejected(result, "INVALID_INPUT", "feedback")
    assert [f["field"] for f in result["fields"]] == ["body.text"]
    stored = await feedback_api.get(f"/v1/customers/{customer_id}/complaints", headers=ADMIN)
    assert stored.json()["items"] == []


async def test_assign_complaint_hands_the_case_to_an_agent_and_null_unassigns(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    complaint = await file_complaint(gateway, as_customer())

    assigned = await mutate(
        gateway, ASSIGN_COMPLAINT, {"id": complaint["id"], "assignee": "agent-jin"}, headers=AGENT
    )

    assert (assigned["__typename"], assigned["assignee"]) == ("Complaint", "agent-jin")
    assert (await get_complaint(feedback_api, complaint["id"]))["assignee"] == "agent-jin"
    unassigned = await mutate(
        gateway, ASSIGN_COMPLAINT, {"id": complaint["id"], "assignee": None}, headers=AGENT
    )
    assert unassigned["assignee"] is None
    assert (await get_complaint(feedback_api, complaint["id"]))["assignee"] is None


async def test_assigning_an_unknown_complaint_is_not_found(gateway: Gateway) -> None:
    result = await mutate(
        gateway, ASSIGN_COMPLAINT, {"id": str(uuid.uuid4()), "assignee": "agent-jin"}, headers=AGENT
    )

    assert_rejected(result, "NOT_FOUND", "feedback")


async def test_set_complaint_status_moves_the_case_and_resolving_needs_a_note(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    customer = as_customer()
    complaint = await file_complaint(gateway, customer)

    started = await mutate(
        gateway, SET_COMPLAINT_STATUS, {"id": complaint["id"], "status": "IN_PROGRESS"}, headers=AGENT
    )
    assert (started["__typename"], started["status"]) == ("Complaint", "in_progress")

    without_note = await mutate(
        gateway, SET_COMPLAINT_STATUS, {"id": complaint["id"], "status": "RESOLVED"}, headers=AGENT
    )
    assert_rejected(without_note, "INVALID_INPUT", "feedback")
    assert [f["field"] for f in without_note["fields"]] == ["body.note"]
    assert (await get_complaint(feedback_api, complaint["id"]))["status"] == "in_progress"

    resolved = await mutate(
        gateway,
        SET_COMPLAINT_STATUS,
        {"id": complaint["id"], "status": "RESOLVED", "note": "Called back and apologised."},
        headers=AGENT,
    )
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "Called back and apologised.")
    assert resolved["resolvedAt"] is not None
    stored = await get_complaint(feedback_api, complaint["id"])
    assert (stored["status"], stored["resolution"]) == ("resolved", "Called back and apologised.")

    # The customer who complained may reopen a resolved case themself.
    reopened = await mutate(
        gateway, SET_COMPLAINT_STATUS, {"id": complaint["id"], "status": "OPEN"}, headers=customer
    )
    assert (reopened["status"], reopened["reopenedCount"]) == ("open", 1)
    assert (await get_complaint(feedback_api, complaint["id"]))["status"] == "open"


async def test_a_customer_cannot_reopen_a_complaint_that_is_not_resolved(gateway: Gateway) -> None:
    customer = as_customer()
    complaint = await file_complaint(gateway, customer)

    result = await mutate(
        gateway, SET_COMPLAINT_STATUS, {"id": complaint["id"], "status": "OPEN"}, headers=customer
    )

    assert_rejected(result, "CONFLICT", "feedback")


SET_IDEA_STATUS = f"""
mutation($idea: UUID!, $status: String!, $response: String) {{
  setIdeaStatus(ideaId: $idea, status: $status, response: $response) {{
    __typename
    ... on IdeaStatusChange {{ ideaId fromStatus toStatus response changedBy }}
    {REJECTED}
  }}
}}
"""


async def test_set_idea_status_moves_the_idea_with_the_official_response(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    idea_id = await submit_idea(gateway, as_customer())

    result = await mutate(
        gateway,
        SET_IDEA_STATUS,
        {"idea": idea_id, "status": "planned", "response": "Coming this spring."},
        headers=AGENT,
    )

    assert result["__typename"] == "IdeaStatusChange"
    assert (result["ideaId"], result["fromStatus"], result["toStatus"], result["response"]) == (
        idea_id,
        "new",
        "planned",
        "Coming this spring.",
    )
    assert result["changedBy"] == "agent:staff-agent"
    assert (await get_idea(feedback_api, idea_id))["status"] == "planned"
    history = (await feedback_api.get(f"/v1/ideas/{idea_id}/status-history", headers=ADMIN)).json()
    assert [(h["to_status"], h["response"]) for h in history][-1] == ("planned", "Coming this spring.")


async def test_a_status_change_the_workflow_does_not_allow_is_a_conflict(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    idea_id = await submit_idea(gateway, as_customer())

    result = await mutate(gateway, SET_IDEA_STATUS, {"idea": idea_id, "status": "launched"}, headers=AGENT)

    assert_rejected(result, "CONFLICT", "feedback")
    assert (await get_idea(feedback_api, idea_id))["status"] == "new"


async def test_setting_the_status_of_an_unknown_idea_is_not_found(gateway: Gateway) -> None:
    result = await mutate(
        gateway, SET_IDEA_STATUS, {"idea": str(uuid.uuid4()), "status": "planned"}, headers=AGENT
    )

    assert_rejected(result, "NOT_FOUND", "feedback")


MERGE_IDEAS = f"""
mutation($idea: UUID!, $into: UUID!) {{
  mergeIdeas(ideaId: $idea, intoIdeaId: $into, response: "Tracked in the other idea.") {{
    __typename
    ... on IdeaMerge {{ id sourceIdeaId targetIdeaId sourcePriorStatus mergedBy movedVotes droppedVotes }}
    {REJECTED}
  }}
}}
"""


async def test_merge_ideas_moves_the_duplicates_votes_to_the_survivor(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    target = await submit_idea(gateway, as_customer(), "Dark mode for the mobile app")
    duplicate = await submit_idea(gateway, as_customer(), "Night theme please")
    for _ in range(2):
        await mutate(gateway, VOTE, {"idea": duplicate, "direction": "UP"}, headers=as_customer())

    result = await mutate(gateway, MERGE_IDEAS, {"idea": duplicate, "into": target}, headers=AGENT)

    assert result["__typename"] == "IdeaMerge"
    assert (result["sourceIdeaId"], result["targetIdeaId"], result["sourcePriorStatus"]) == (
        duplicate,
        target,
        "new",
    )
    assert (result["movedVotes"], result["droppedVotes"], result["mergedBy"]) == (2, 0, "agent:staff-agent")
    merged_away = await get_idea(feedback_api, duplicate)
    assert (merged_away["status"], merged_away["merged_into_id"]) == ("duplicate", target)
    assert (await get_idea(feedback_api, target))["up_count"] == 2


async def test_merging_an_idea_into_an_unknown_one_is_not_found(
    gateway: Gateway, feedback_api: httpx.AsyncClient
) -> None:
    duplicate = await submit_idea(gateway, as_customer())

    result = await mutate(gateway, MERGE_IDEAS, {"idea": duplicate, "into": str(uuid.uuid4())}, headers=AGENT)

    assert_rejected(result, "NOT_FOUND", "feedback")
    assert (await get_idea(feedback_api, duplicate))["status"] == "new"


# --- campaign ---------------------------------------------------------------------------------

CREATE_SEGMENT = f"""
mutation($name: String!, $rule: JSON!, $description: String) {{
  createSegment(name: $name, rule: $rule, description: $description) {{
    __typename
    ... on Segment {{ id name description rule explanation memberCount createdBy }}
    {REJECTED}
  }}
}}
"""

CREATE_CAMPAIGN = f"""
mutation($name: String!, $kind: CampaignKind!, $definition: JSON!) {{
  createCampaign(name: $name, kind: $kind, definition: $definition) {{
    __typename
    ... on Campaign {{ id name kind status definition createdBy launchedAt }}
    {REJECTED}
  }}
}}
"""

CAMPAIGN_ACTION = """
mutation($id: UUID!) {{
  {action}(campaignId: $id) {{
    __typename
    ... on Campaign {{ id status launchedAt pausedAt }}
    {rejected}
  }}
}}
"""

COHORT_RULE = {"field": "traits.cohort", "op": "eq", "value": "spring"}
# A journey entered on an event: launchable without an audience (no segment to check recipients in).
EVENT_JOURNEY = {
    "entry": {"type": "event", "event": "complaint.opened"},
    "steps": [
        {
            "id": "sorry",
            "type": "send",
            "channel": "email",
            "purpose": "service",
            "variants": [{"key": "A", "subject": "We are on it", "body": "Hi {{ customer.first_name }}"}],
        }
    ],
}


async def campaign_action(gateway: Gateway, action: str, campaign_id: str) -> dict[str, Any]:
    document = CAMPAIGN_ACTION.format(action=action, rejected=REJECTED)
    return await mutate(gateway, document, {"id": campaign_id}, headers=MARKETER)


async def create_campaign(gateway: Gateway) -> str:
    created = await mutate(
        gateway,
        CREATE_CAMPAIGN,
        {"name": "Complaint follow-up", "kind": "JOURNEY", "definition": EVENT_JOURNEY},
        headers=MARKETER,
    )
    assert created["__typename"] == "Campaign", created
    return str(created["id"])


async def get_campaign(campaign_api: httpx.AsyncClient, campaign_id: str) -> dict[str, Any]:
    response = await campaign_api.get(f"/v1/campaigns/{campaign_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    campaign: dict[str, Any] = response.json()
    return campaign


async def test_create_segment_stores_the_rule(gateway: Gateway, campaign_api: httpx.AsyncClient) -> None:
    result = await mutate(
        gateway,
        CREATE_SEGMENT,
        {"name": "Spring cohort", "rule": COHORT_RULE, "description": "Signed up in spring"},
        headers=MARKETER,
    )

    assert result["__typename"] == "Segment"
    assert (result["name"], result["description"], result["rule"]) == (
        "Spring cohort",
        "Signed up in spring",
        COHORT_RULE,
    )
    assert (result["memberCount"], result["createdBy"]) == (0, "staff-marketer")
    assert result["explanation"]
    stored = (await campaign_api.get(f"/v1/segments/{result['id']}", headers=ADMIN)).json()
    assert (stored["name"], stored["rule"]) == ("Spring cohort", COHORT_RULE)


async def test_an_invalid_segment_rule_is_rejected_naming_its_place_and_not_stored(
    gateway: Gateway, campaign_api: httpx.AsyncClient
) -> None:
    rule = {"and": [COHORT_RULE, {"field": "order_total", "op": "gte", "value": "many"}]}

    result = await mutate(gateway, CREATE_SEGMENT, {"name": "Broken", "rule": rule}, headers=MARKETER)

    assert_rejected(result, "INVALID_INPUT", "campaign")
    assert [f["field"] for f in result["fields"]] == ["body.rule.and.1.value"]
    assert (await campaign_api.get("/v1/segments", headers=ADMIN)).json()["items"] == []


async def test_create_campaign_stores_a_draft(gateway: Gateway, campaign_api: httpx.AsyncClient) -> None:
    result = await mutate(
        gateway,
        CREATE_CAMPAIGN,
        {"name": "Complaint follow-up", "kind": "JOURNEY", "definition": EVENT_JOURNEY},
        headers=MARKETER,
    )

    assert result["__typename"] == "Campaign"
    assert (result["name"], result["kind"], result["status"], result["launchedAt"]) == (
        "Complaint follow-up",
        "journey",
        "draft",
        None,
    )
    assert result["definition"]["entry"] == EVENT_JOURNEY["entry"]
    stored = await get_campaign(campaign_api, result["id"])
    assert (stored["name"], stored["status"], stored["created_by"]) == (
        "Complaint follow-up",
        "draft",
        "staff-marketer",
    )


async def test_an_invalid_campaign_definition_is_rejected_naming_the_step_and_not_stored(
    gateway: Gateway, campaign_api: httpx.AsyncClient
) -> None:
    definition = {**EVENT_JOURNEY, "steps": [{"id": "nap", "type": "wait", "hours": -1}]}

    result = await mutate(
        gateway,
        CREATE_CAMPAIGN,
        {"name": "Broken", "kind": "JOURNEY", "definition": definition},
        headers=MARKETER,
    )

    assert_rejected(result, "INVALID_INPUT", "campaign")
    assert result["fields"]
    assert all(f["field"].startswith("body.definition.steps.0") for f in result["fields"])
    assert (await campaign_api.get("/v1/campaigns", headers=ADMIN)).json()["items"] == []


async def test_launch_pause_and_resume_move_the_campaign_and_a_second_launch_conflicts(
    gateway: Gateway, campaign_api: httpx.AsyncClient
) -> None:
    campaign_id = await create_campaign(gateway)

    launched = await campaign_action(gateway, "launchCampaign", campaign_id)
    assert (launched["__typename"], launched["status"]) == ("Campaign", "running")
    assert launched["launchedAt"] is not None
    assert (await get_campaign(campaign_api, campaign_id))["status"] == "running"
    assert_rejected(await campaign_action(gateway, "launchCampaign", campaign_id), "CONFLICT", "campaign")

    paused = await campaign_action(gateway, "pauseCampaign", campaign_id)
    assert (paused["status"], paused["pausedAt"] is not None) == ("paused", True)
    assert (await get_campaign(campaign_api, campaign_id))["status"] == "paused"

    resumed = await campaign_action(gateway, "resumeCampaign", campaign_id)
    assert resumed["status"] == "running"
    assert (await get_campaign(campaign_api, campaign_id))["status"] == "running"


async def test_pausing_a_draft_is_a_conflict_and_leaves_it_a_draft(
    gateway: Gateway, campaign_api: httpx.AsyncClient
) -> None:
    campaign_id = await create_campaign(gateway)

    result = await campaign_action(gateway, "pauseCampaign", campaign_id)

    assert_rejected(result, "CONFLICT", "campaign")
    assert (await get_campaign(campaign_api, campaign_id))["status"] == "draft"


@pytest.mark.parametrize("action", ["launchCampaign", "pauseCampaign", "resumeCampaign"])
async def test_acting_on_an_unknown_campaign_is_not_found(gateway: Gateway, action: str) -> None:
    result = await campaign_action(gateway, action, str(uuid.uuid4()))

    assert_rejected(result, "NOT_FOUND", "campaign")


async def test_a_mutation_whose_service_is_down_is_null_beside_the_others(
    gateway_without_campaign: Gateway,
) -> None:
    document = """
    mutation {
      createSegment(name: "Anyone", rule: {field: "lifecycle_stage", op: "eq", value: "prospect"}) {
        __typename
      }
    }"""

    response = await gateway_without_campaign.query(document, headers=MARKETER)

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"createSegment": None}
    [error] = body["errors"]
    assert (error["path"], error["extensions"]) == (
        ["createSegment"],
        {"code": "UNAVAILABLE", "service": "campaign"},
    )
