"""No N+1: a list of customers costs one call per service and nested field, whatever its length."""

from collections import Counter

import httpx

from tests.gateway.support import ADMIN, Gateway
from tests.support import bearer, customer_token

CUSTOMERS = 100

LIST_QUERY = """
query($q: String!) {
  customers(search: $q, first: 100) {
    nodes {
      id displayName email
      timeline(first: 3) { nodes { type } }
      segments { name }
      messages(first: 5) { nodes { id } }
      feedback(first: 5) { nodes { nps } }
      ideas(first: 5) { nodes { title } }
      votes(first: 3) { nodes { direction idea { title } } }
      experience { npsResponses }
      advocate { tier }
    }
  }
}
"""


def calls(gateway: Gateway) -> Counter[tuple[str, str]]:
    """(service, path) of every request the gateway sent, counted."""
    return Counter(
        (service, request.url.path)
        for service, recording in gateway.sent.items()
        for request in recording.requests
    )


async def test_listing_customers_makes_one_call_per_service_per_field(
    gateway: Gateway, identity_api: httpx.AsyncClient
) -> None:
    records = [
        {
            "identifiers": [{"type": "email", "value": f"listed{n:03}@example.com"}],
            "traits": {"name": f"Listed Customer {n:03}"},
            "source": "web",
            "touchpoint": {"channel": "web", "type": "page_view", "payload": {}},
        }
        for n in range(CUSTOMERS)
    ]
    response = await identity_api.post("/v1/identify:batch", json={"records": records}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == 0

    body = (await gateway.query(LIST_QUERY, {"q": "Listed"})).json()

    assert "errors" not in body, body["errors"]
    nodes = body["data"]["customers"]["nodes"]
    assert len(nodes) == CUSTOMERS
    assert {node["email"] for node in nodes} == {f"listed{n:03}@example.com" for n in range(CUSTOMERS)}
    assert all(node["timeline"]["nodes"] == [{"type": "page_view"}] for node in nodes)
    assert calls(gateway) == {
        ("identity", "/v1/customers/search"): 1,
        ("identity", "/v1/customers:batch"): 1,
        ("identity", "/v1/customers:timelines"): 1,
        ("campaign", "/v1/customers:segments"): 1,
        ("campaign", "/v1/customers:messages"): 1,
        ("feedback", "/v1/customers:feedback"): 1,
        ("feedback", "/v1/customers:ideas"): 1,
        ("feedback", "/v1/customers:votes"): 1,
        ("feedback", "/v1/customers:scores"): 1,
        ("feedback", "/v1/customers:advocate-scores"): 1,
    }
    # One customer's batch carries every id of the page.
    [timelines] = [r for r in gateway.sent["identity"].requests if r.url.path == "/v1/customers:timelines"]
    assert len(timelines.url.params.get_list("ids")) == CUSTOMERS


async def test_nested_lists_are_batched_per_level(
    gateway: Gateway, identity_api: httpx.AsyncClient, feedback_app: object
) -> None:
    transport = httpx.ASGITransport(app=feedback_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://feedback") as feedback_api:
        author = (
            await identity_api.post(
                "/v1/identify",
                json={"identifiers": [{"type": "email", "value": "author@example.com"}], "source": "web"},
                headers=ADMIN,
            )
        ).json()["customer_id"]
        idea_ids = []
        for n in range(3):
            created = await feedback_api.post(
                "/v1/ideas",
                json={"title": f"Nested idea number {n}", "body": "A body long enough."},
                headers=bearer(customer_token(author)),
            )
            assert created.status_code == 201, created.text
            idea_ids.append(created.json()["id"])
        voters = []
        for n in range(4):
            voter = (
                await identity_api.post(
                    "/v1/identify",
                    json={
                        "identifiers": [{"type": "email", "value": f"voter{n}@example.com"}],
                        "source": "web",
                    },
                    headers=ADMIN,
                )
            ).json()["customer_id"]
            voters.append(voter)
            for idea_id in idea_ids:
                vote = await feedback_api.put(
                    f"/v1/ideas/{idea_id}/vote",
                    json={"direction": "up"},
                    headers=bearer(customer_token(voter)),
                )
                assert vote.status_code == 200, vote.text

    selection = "votes { nodes { idea { title author { displayName } } } }"
    query = (
        "{ "
        + " ".join(
            f'{alias}: customer(id: "{voter}") {{ {selection} }}'
            for alias, voter in zip("abc", voters, strict=False)
        )
        + " }"
    )
    body = (await gateway.query(query)).json()

    assert "errors" not in body, body["errors"]
    for alias in "abc":
        titles = sorted(n["idea"]["title"] for n in body["data"][alias]["votes"]["nodes"])
        assert titles == [f"Nested idea number {n}" for n in range(3)]
    # Level 1: the three customers; level 2: their votes; level 3: the ideas; level 4: the authors.
    assert calls(gateway) == {
        ("identity", "/v1/customers:batch"): 2,
        ("feedback", "/v1/customers:votes"): 1,
        ("feedback", "/v1/ideas:batch"): 1,
    }
