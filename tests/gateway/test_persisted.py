import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.persisted import PersistedQueries, document_hash, main
from gateway.settings import GatewaySettings
from tests.gateway.conftest import closed_port_url, running_gateway
from tests.gateway.support import ADMIN, Gateway

TYPENAME = "query Typename { __typename }\n"
UNKNOWN_HASH = "0" * 64
GRAPHQL_RESPONSE = "application/graphql-response+json"


def apollo(sha256: str) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


@pytest.fixture
def persisted_map(tmp_path: Path) -> Path:
    (tmp_path / "typename.graphql").write_text(TYPENAME)
    out = tmp_path / "persisted.json"
    out.write_text(json.dumps({document_hash(TYPENAME): TYPENAME}))
    return out


def gateway_settings(persisted_map: Path, *, only: bool) -> GatewaySettings:
    return GatewaySettings(
        environment="dev",
        log_json=False,
        identity_url=closed_port_url(),
        campaign_url=closed_port_url(),
        feedback_url=closed_port_url(),
        persisted_queries_path=persisted_map,
        persisted_queries_only=only,
    )


@pytest.fixture
async def with_persisted(persisted_map: Path) -> AsyncIterator[Gateway]:
    async with running_gateway({}, gateway_settings(persisted_map, only=False)) as gateway:
        yield gateway


@pytest.fixture
async def allow_list_only(persisted_map: Path) -> AsyncIterator[Gateway]:
    async with running_gateway({}, gateway_settings(persisted_map, only=True)) as gateway:
        yield gateway


async def test_persisted_query_runs_by_its_hash_alone(with_persisted: Gateway) -> None:
    response = await with_persisted.client.post(
        "/graphql", json={"extensions": apollo(document_hash(TYPENAME))}, headers=ADMIN
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_persisted_query_runs_over_get(with_persisted: Gateway) -> None:
    response = await with_persisted.client.get(
        "/graphql",
        params={"extensions": json.dumps(apollo(document_hash(TYPENAME)))},
        headers={**ADMIN, "Accept": "application/json"},
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_persisted_document_runs_by_its_document_id(with_persisted: Gateway) -> None:
    document_id = f"sha256:{document_hash(TYPENAME)}"

    posted = await with_persisted.client.post("/graphql", json={"documentId": document_id}, headers=ADMIN)
    got = await with_persisted.client.get(
        "/graphql", params={"documentId": document_id}, headers={**ADMIN, "Accept": "application/json"}
    )

    assert posted.json() == got.json() == {"data": {"__typename": "Query"}}


async def test_unknown_hash_is_persisted_query_not_found(with_persisted: Gateway) -> None:
    legacy = await with_persisted.client.post(
        "/graphql", json={"extensions": apollo(UNKNOWN_HASH)}, headers=ADMIN
    )
    spec = await with_persisted.client.post(
        "/graphql",
        json={"extensions": apollo(UNKNOWN_HASH)},
        headers={**ADMIN, "Accept": GRAPHQL_RESPONSE},
    )

    assert (legacy.status_code, spec.status_code) == (200, 400)
    for response in (legacy, spec):
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}
        assert "data" not in response.json()


async def test_hash_that_is_not_the_querys_is_refused(with_persisted: Gateway) -> None:
    response = await with_persisted.client.post(
        "/graphql",
        json={"query": "{ __typename }", "extensions": apollo(document_hash(TYPENAME))},
        headers=ADMIN,
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


async def test_free_form_query_runs_when_not_in_allow_list_mode(with_persisted: Gateway) -> None:
    response = await with_persisted.query("{ other: __typename }")

    assert response.json() == {"data": {"other": "Query"}}


async def test_allow_list_mode_refuses_a_free_form_query(allow_list_only: Gateway) -> None:
    response = await allow_list_only.query("{ other: __typename }")

    assert response.status_code == 403
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "PERSISTED_QUERY_REQUIRED"}


async def test_allow_list_mode_refuses_a_free_form_query_over_get(allow_list_only: Gateway) -> None:
    response = await allow_list_only.client.get(
        "/graphql", params={"query": "{ other: __typename }"}, headers={**ADMIN, "Accept": "application/json"}
    )

    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


async def test_allow_list_mode_runs_the_exact_text_of_a_listed_document(allow_list_only: Gateway) -> None:
    by_text = await allow_list_only.query(TYPENAME)
    by_hash = await allow_list_only.client.post(
        "/graphql", json={"extensions": apollo(document_hash(TYPENAME))}, headers=ADMIN
    )

    assert by_text.json() == by_hash.json() == {"data": {"__typename": "Query"}}


async def test_allow_list_mode_refuses_a_listed_hash_sent_with_other_text_in_a_batch(
    allow_list_only: Gateway,
) -> None:
    batch = [{"extensions": apollo(document_hash(TYPENAME))}, {"query": "{ __typename }"}]

    response = await allow_list_only.client.post("/graphql", json=batch, headers=ADMIN)

    assert response.status_code == 403


def test_allow_list_mode_needs_a_map() -> None:
    with pytest.raises(ValueError, match="PERSISTED_QUERIES_PATH"):
        GatewaySettings(persisted_queries_only=True)


def test_map_whose_key_is_not_the_documents_hash_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "persisted.json"
    path.write_text(json.dumps({UNKNOWN_HASH: TYPENAME}))

    with pytest.raises(ValueError, match="not the sha256 of its document"):
        PersistedQueries.load(path)


def test_map_with_a_document_that_does_not_parse_is_refused_at_load(tmp_path: Path) -> None:
    broken = "{ __typename "
    path = tmp_path / "persisted.json"
    path.write_text(json.dumps({document_hash(broken): broken}))

    with pytest.raises(ValueError, match="does not parse"):
        PersistedQueries.load(path)


def test_build_prints_the_map_the_gateway_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.graphql", tmp_path / "b.graphql"
    first.write_text(TYPENAME)
    second.write_text("query Other { other: __typename }")

    assert main(["build", str(first), str(second)]) == 0

    out = tmp_path / "persisted.json"
    out.write_text(capsys.readouterr().out)
    loaded = PersistedQueries.load(out)
    assert dict(loaded.documents) == {
        document_hash(TYPENAME): TYPENAME,
        document_hash(second.read_text()): second.read_text(),
    }
