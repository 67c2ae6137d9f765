from datetime import timedelta

import pytest
from starlette.types import Receive, Scope, Send

from crm_common.auth import Role, TokenSigner
from crm_common.settings import DEV_JWT_SECRET
from gateway.schema import MAX_ALIASES
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


async def test_queries_over_get_are_refused() -> None:
    async with running_gateway({}, production_settings()) as gateway:
        response = await gateway.client.get(
            "/graphql",
            params={"query": "{ platform { name } }"},
            headers={**PRODUCTION_ADMIN, "Accept": "application/json"},
        )

    assert response.status_code == 400
    assert "platform" not in response.text
