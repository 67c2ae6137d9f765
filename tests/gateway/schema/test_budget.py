"""Hostile documents are refused before any service is called."""

import uuid
from typing import Any

import pytest
from graphql.language import Lexer, Source, TokenKind

from gateway.schema import budget
from tests.gateway.support import ADMIN, Gateway

GRAPHQL_RESPONSE = {"Accept": "application/graphql-response+json"}


def nested_connections(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"ideas(first: 100) {{ nodes {{ author {{ {inner} }} }} }}"
    return f'{{ customers(search: "a", first: 100) {{ nodes {{ {inner} }} }} }}'


async def refused(gateway: Gateway, query: str, variables: dict[str, object] | None = None) -> dict:
    response = await gateway.query(query, variables)
    body = response.json()
    assert body.get("data") is None, body
    assert body["errors"], body
    assert gateway.requests_sent() == []
    return body


async def test_a_query_costing_more_than_the_budget_is_refused(gateway_alone: Gateway) -> None:
    body = await refused(gateway_alone, nested_connections(2))

    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_a_fragment_spread_many_times_is_counted_each_time(gateway_alone: Gateway) -> None:
    # One spread costs ~1,300 (within budget); twenty cost ~26,000.
    fragment = (
        "fragment F on Customer { ideas(first: 100) {"
        " nodes { author { id } comments(first: 10) { nodes { id } } } } }"
    )
    spreads = " ".join(
        f'c{n}: customer(id: "{"0" * 8}-0000-0000-0000-{n:012}") {{ ...F }}' for n in range(20)
    )
    body = await refused(gateway_alone, f"{{ {spreads} }} {fragment}")

    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_aliases_are_counted_after_fragment_expansion(gateway_alone: Gateway) -> None:
    fragment = "fragment F on Customer { " + " ".join(f"n{n}: displayName" for n in range(5)) + " }"
    body = await refused(
        gateway_alone,
        '{ customer(id: "00000000-0000-0000-0000-000000000001") { ...F ...F ...F ...F ...F } } ' + fragment,
    )

    assert body["errors"][0]["extensions"] == {"code": "TOO_MANY_ALIASES"}


@pytest.mark.parametrize("first", [0, 101, 100_000])
async def test_first_outside_the_page_bounds_is_refused(gateway_alone: Gateway, first: int) -> None:
    body = await refused(
        gateway_alone, 'query($n: Int) { customers(search: "a", first: $n) { nodes { id } } }', {"n": first}
    )

    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}


async def test_deep_nesting_is_refused(gateway_alone: Gateway) -> None:
    inner = "id"
    for _ in range(12):
        inner = f"votes {{ nodes {{ idea {{ author {{ {inner} }} }} }} }}"
    body = await refused(
        gateway_alone, f'{{ customer(id: "00000000-0000-0000-0000-000000000001") {{ {inner} }} }}'
    )

    assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_DEEP"}


async def test_a_document_of_too_many_tokens_is_refused_before_it_is_parsed(
    gateway_alone: Gateway,
) -> None:
    document = "{ " + "platform { name } " * 300 + "}"  # 1,200 tokens in 5 KB
    assert len(document) < budget.MAX_DOCUMENT_CHARS

    body = await refused(gateway_alone, document)

    [error] = body["errors"]
    assert "tokens" in error["message"]
    assert error["extensions"] == {"code": "QUERY_TOO_LARGE"}


OPERATION_WITH_FRAGMENT = """
query Q($id: UUID!, $n: Int = 10) { customer(id: $id) { ...F timeline(first: $n) { nodes { id } } } }
fragment F on Customer { id, displayName @include(if: true) }
"""


def lexer_tokens(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


@pytest.mark.parametrize(
    "document",
    [
        OPERATION_WITH_FRAGMENT,
        '{ a(s: "a \\"quoted\\" string", n: -1.5e3, l: [1, 2, 3], o: {k: null}) } # a comment',
        '{ a(s: """a block "string" over\nlines""") }',
        "{ " + "platform { name } " * 300 + "}",
    ],
)
def test_tokens_are_counted_as_the_parser_counts_them(document: str) -> None:
    assert budget.token_count(document, 10_000) == lexer_tokens(document)


async def test_a_document_too_long_is_refused_before_it_is_parsed(
    gateway_alone: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    monkeypatch.setattr(
        "strawberry.extensions.parser_cache._get_parse_cache",
        lambda maxsize: lambda query, **options: parsed.append(query),
    )
    document = "{ platform { name } }" + " " * budget.MAX_DOCUMENT_CHARS

    body = await refused(gateway_alone, document)

    assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_LARGE"}
    assert parsed == []


async def test_validation_errors_are_a_400_with_the_graphql_response_media_type(
    gateway_alone: Gateway,
) -> None:
    response = await gateway_alone.client.post(
        "/graphql",
        json={"query": nested_connections(2)},
        headers={**GRAPHQL_RESPONSE, **ADMIN},
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert gateway_alone.requests_sent() == []


async def test_a_reasonable_list_query_is_within_budget(gateway_alone: Gateway) -> None:
    body = (
        await gateway_alone.query(
            '{ customers(search: "a", first: 100) {'
            " nodes { id feedback(first: 10) { nodes { id } } segments { name } } } }"
        )
    ).json()

    # Within budget, so it ran: identity is down here, and says so.
    assert body["data"] == {"customers": None}
    assert body["errors"][0]["extensions"] == {"code": "UNAVAILABLE", "service": "identity"}


async def test_a_document_is_validated_once_for_every_request_that_sends_it(
    gateway_alone: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    validations: list[object] = []
    real_validate = budget.validate

    def counting_validate(*args: Any, **kwargs: Any) -> Any:
        validations.append(args[1])
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(budget, "validate", counting_validate)
    query = f"{{ platform {{ name }} }} # {uuid.uuid4()}"  # a text no earlier test validated

    for _ in range(3):
        body = (await gateway_alone.query(query)).json()
        assert [service["name"] for service in body["data"]["platform"]] == [
            "identity",
            "campaign",
            "feedback",
        ]

    assert len(validations) == 1


async def test_fragments_spreading_fragments_are_refused_before_they_expand(gateway_alone: Gateway) -> None:
    # Eight levels of ten spreads: 700 bytes that expand to 10^8 fields.
    fragments = ["fragment F0 on Customer { id displayName }"]
    for level in range(1, 9):
        fragments.append(f"fragment F{level} on Customer {{ " + f"...F{level - 1} " * 10 + "}")
    document = '{ customer(id: "00000000-0000-0000-0000-000000000001") { ...F8 } } ' + " ".join(fragments)

    body = await refused(gateway_alone, document)

    assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_LARGE"}


async def test_an_unknown_field_is_a_validation_error_with_its_code(gateway_alone: Gateway) -> None:
    body = await refused(gateway_alone, "{ platform { name shoeSize } }")

    [error] = body["errors"]
    assert "shoeSize" in error["message"]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
