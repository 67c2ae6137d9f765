import json
from datetime import timedelta

import pytest
from starlette.types import Receive, Scope, Send

from crm_common.auth import Role, TokenSigner
from crm_common.settings import DEV_JWT_SECRET
from gateway.endpoint import response_media_type
from gateway.schema.budget import MAX_ALIASES
from gateway.schema.errors import MASKED_MESSAGE
from gateway.settings import GatewaySettings
from tests.gateway.conftest import closed_port_url, running_gateway
from tests.gateway.support import ADMIN, Gateway
from tests.support import bearer

PRODUCTION_SECRET = "a-production-signing-secret-of-forty-chars"


def production_settings() -> GatewaySettings:
    return GatewaySettings(
        environment="production",
        jwt_secret=PRODUCTION_SECRET,
        log_json=False,
        identity_url=closed_port_url(),
        campaign_url=closed_port_url(),
        feedback_url=closed_port_url(),
    )


PRODUCTION_ADMIN = bearer(TokenSigner(PRODUCTION_SECRET).issue("staff-admin", Role.ADMIN))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage"),
        pytest.param(
            bearer(TokenSigner("another-secret-" * 3).issue("staff-admin", Role.ADMIN)), id="foreign"
        ),
        pytest.param(
            bearer(TokenSigner(DEV_JWT_SECRET).issue("staff-admin", Role.ADMIN, ttl=timedelta(seconds=-1))),
            id="expired",
        ),
    ],
)
async def test_request_without_a_valid_token_is_a_401_problem(
    gateway_alone: Gateway, headers: dict[str, str]
) -> None:
    response = await gateway_alone.query("{ platform { name } }", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/unauthorized")


@pytest.mark.parametrize(
    ("query", "message_start"),
    [
        pytest.param('{ customer(id: "', "Syntax Error", id="syntax"),
        pytest.param(
            "{ customer(id: $id) { nickname } platform { name } }",
            "Variable '$id' is not defined",
            id="invalid",
        ),
        pytest.param(
            '{ customer(id: "not-a-uuid") { id } }', "Value cannot represent a UUID", id="bad-literal"
        ),
    ],
)
async def test_invalid_query_is_a_graphql_error_and_calls_no_service(
    gateway: Gateway, query: str, message_start: str
) -> None:
    response = await gateway.query(query)

    assert response.status_code == 200  # strawberry answers application/json, where the spec allows 200
    body = response.json()
    assert body.get("data") is None
    assert body["errors"][0]["message"].startswith(message_start)
    assert gateway.requests_sent() == []


async def test_too_many_aliases_are_refused_before_any_service_is_called(gateway: Gateway) -> None:
    aliased = " ".join(f"c{i}: platform {{ name }}" for i in range(MAX_ALIASES + 1))

    body = (await gateway.query(f"{{ {aliased} }}")).json()

    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"]
    assert gateway.requests_sent() == []


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_is_open_in_dev(gateway_alone: Gateway) -> None:
    body = (await gateway_alone.query(INTROSPECTION)).json()

    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_introspection_is_refused_outside_dev() -> None:
    async with running_gateway({}, production_settings()) as gateway:
        body = (await gateway.query(INTROSPECTION, headers=PRODUCTION_ADMIN)).json()

    assert body.get("data") is None
    assert "introspection" in body["errors"][0]["message"].lower()


async def test_graphiql_is_served_in_dev_without_a_token(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_not_served_outside_dev() -> None:
    async with running_gateway({}, production_settings()) as gateway:
        anonymous = await gateway.client.get("/graphql", headers={"Accept": "text/html"})
        admin = await gateway.client.get("/graphql", headers={"Accept": "text/html", **PRODUCTION_ADMIN})

    assert anonymous.status_code == 401
    assert admin.status_code == 404


async def crashing_service(scope: Scope, receive: Receive, send: Send) -> None:
    """A downstream call that blows up inside the gateway's process (a bug, not an HTTP answer)."""
    raise RuntimeError("connection to postgresql://crm:hunter2@db/crm failed")


async def test_unexpected_error_is_masked_with_the_request_id_to_quote() -> None:
    async with running_gateway({"identity": crashing_service}) as gateway:
        response = await gateway.client.post(
            "/graphql",
            json={"query": '{ customer(id: "6f1c3c1e-58a4-4a53-9d5c-1f0a3f0a2b7e") { id } }'},
            headers={**ADMIN, "X-Request-ID": "masking-check"},
        )

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"customer": None}
    [error] = body["errors"]
    assert error["message"] == MASKED_MESSAGE
    assert error["extensions"] == {"code": "INTERNAL", "request_id": "masking-check"}
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


async def test_graphql_answers_carry_the_request_id(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.post(
        "/graphql", json={"query": "{ platform { name } }"}, headers={**ADMIN, "X-Request-ID": "echo-check"}
    )

    assert response.headers["x-request-id"] == "echo-check"


async def test_query_over_get_runs_with_its_variables_and_operation_name(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.get(
        "/graphql",
        params={
            "query": "query First($skip: Boolean!) { a: __typename @skip(if: $skip) } "
            "query Second { b: __typename }",
            "variables": json.dumps({"skip": False}),
            "operationName": "First",
        },
        headers={**ADMIN, "Accept": "application/json"},
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"a": "Query"}}


async def test_mutation_over_get_is_405_and_runs_nothing(gateway: Gateway) -> None:
    response = await gateway.client.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={**ADMIN, "Accept": "application/json"},
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert gateway.requests_sent() == []


async def test_query_over_get_needs_a_token(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.get("/graphql", params={"query": "{ __typename }"})

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_subscription_without_a_stream_is_refused(gateway_alone: Gateway) -> None:
    response = await gateway_alone.query(
        'subscription { ideaVotes(ideaId: "6f1c3c1e-58a4-4a53-9d5c-1f0a3f0a2b7e") { upCount } }'
    )

    assert response.status_code == 400
    assert "WebSocket" in response.json()["errors"][0]["message"]


GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_graphql_response_json_is_answered_in_that_media_type(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={**ADMIN, "Accept": GRAPHQL_RESPONSE}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param('{ customer(id: "', id="syntax"),
        pytest.param("{ customer(id: $id) { nickname } }", id="invalid"),
    ],
)
async def test_document_failing_before_execution_is_400_without_data_for_graphql_response_json(
    gateway: Gateway, query: str
) -> None:
    response = await gateway.client.post(
        "/graphql", json={"query": query}, headers={**ADMIN, "Accept": GRAPHQL_RESPONSE}
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert body["errors"]
    assert gateway.requests_sent() == []


async def test_variables_that_do_not_fit_are_400_for_graphql_response_json(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.post(
        "/graphql",
        json={"query": "query($id: UUID!) { customer(id: $id) { id } }", "variables": {"id": "nope"}},
        headers={**ADMIN, "Accept": GRAPHQL_RESPONSE},
    )

    assert response.status_code == 400
    assert "data" not in response.json()


async def test_document_failing_validation_is_200_for_legacy_json(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.post(
        "/graphql",
        json={"query": "{ nickname }"},
        headers={**ADMIN, "Accept": f"{GRAPHQL_RESPONSE};q=0.5, application/json"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["data"] is None


async def test_partly_failed_execution_is_200_for_graphql_response_json() -> None:
    async with running_gateway({"identity": crashing_service}) as gateway:
        response = await gateway.client.post(
            "/graphql",
            json={"query": '{ customer(id: "6f1c3c1e-58a4-4a53-9d5c-1f0a3f0a2b7e") { id } }'},
            headers={**ADMIN, "Accept": GRAPHQL_RESPONSE},
        )

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["path"] == ["customer"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE};q=0.8", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
    ],
)
def test_response_media_type_negotiation(accept: str | None, expected: str) -> None:
    assert response_media_type(accept) == expected


async def test_batch_up_to_the_limit_runs_every_operation(gateway_alone: Gateway) -> None:
    limit = GatewaySettings().max_batch_operations
    batch = [{"query": f"{{ n{i}: __typename }}"} for i in range(limit)]

    response = await gateway_alone.client.post("/graphql", json=batch, headers=ADMIN)

    assert response.status_code == 200
    assert response.json() == [{"data": {f"n{i}": "Query"}} for i in range(limit)]


async def test_batch_over_the_limit_is_refused_whole_before_any_service_is_called(gateway: Gateway) -> None:
    limit = GatewaySettings().max_batch_operations
    query = '{ customer(id: "6f1c3c1e-58a4-4a53-9d5c-1f0a3f0a2b7e") { id } }'

    response = await gateway.client.post("/graphql", json=[{"query": query}] * (limit + 1), headers=ADMIN)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BATCH_LIMIT_EXCEEDED"}
    assert f"1 to {limit} operations" in error["message"]
    assert gateway.requests_sent() == []


async def test_body_that_is_not_json_is_a_graphql_error(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.post(
        "/graphql", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
