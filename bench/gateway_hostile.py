"""Hostile documents against the GraphQL gateway: each must be refused quickly, with a GraphQL error
and the right HTTP status, before any service is called.

    .venv/bin/python bench/gateway_hostile.py [--repeat 200]

Starts the platform as real processes (as bench/gateway_360.py does), then sends each kind of
document ``--repeat`` times, one at a time on one keep-alive connection, with
``Accept: application/graphql-response+json`` (under which a refused request is HTTP 400):

- ``depth_50``: 50 nested fields (customer → ideas → nodes → author → ideas ...); the limit is 10;
- ``alias_bomb``: a fragment of 10 aliases spread 200 times (2,000 aliases; the limit is 20);
- ``fragment_fanout``: fragments spreading the one below ten times, six levels deep, no alias
  (10^5 fields once expanded, in a 600-byte document);
- ``document_200kb``: a 200,000-byte document, inside the body limit, over the 16,384-character
  document limit (refused before it is parsed);
- ``tokens_1200``: a 5 KB document of 1,200 tokens (the limit is 1,000; counted before parsing);
- ``body_over_limit``: a body over the gateway's request limit (256 KiB; refused by the HTTP layer with
  a 413 problem, before GraphQL sees it);
- ``batch_100``: a JSON array of 100 operations (the limit is 10);
- ``first_100000``: a connection asked for 100,000 items (pages hold 1..100);
- ``cost_bomb``: nested connections of 100 x 100 x 100 (the cost limit is in the thousands).

The services' own request counters (``crm_http_requests_total`` on each /metrics, operational routes
left out) are read before and after each kind: a refused document must have cost them nothing. A valid
query at the end shows the counters do see the gateway's calls. Target: rejection p99 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import _gateway
import _harness
import httpx
from _gateway import GRAPHQL_RESPONSE_JSON, RunningPlatform, staff_headers

from crm_common.auth import Role
from gateway.settings import GatewaySettings

HEADERS = {**staff_headers(Role.AGENT), "Accept": GRAPHQL_RESPONSE_JSON}
CUSTOMER = str(uuid.uuid4())
MAX_BODY_BYTES = GatewaySettings.model_fields["max_body_bytes"].default  # CRM_GATEWAY_MAX_BODY_BYTES


@dataclass(frozen=True)
class Kind:
    name: str
    body: bytes  # sent as is, with Content-Type: application/json
    status: int  # the HTTP status a refusal must have
    says: Callable[[dict[str, Any]], bool]  # what the answer must say
    repeat: int | None = None  # None: --repeat
    graphql_error: bool = True  # refused as {"errors": [...]} (else an RFC 9457 problem)


def _json(payload: object) -> bytes:
    import json

    return json.dumps(payload).encode()


def _errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors = body.get("errors")
    return errors if isinstance(errors, list) else []


def _code(code: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: any((e.get("extensions") or {}).get("code") == code for e in _errors(body))


def on_customer(selection: str) -> str:
    """A query of ``selection`` on ``customer(id: CUSTOMER)``."""
    return '{ customer(id: "' + CUSTOMER + '") { ' + selection + " } }"


def depth_document(levels: int) -> str:
    steps = ("ideas {", "nodes {", "author {")
    inner = " ".join(steps[i % 3] for i in range(levels))
    return on_customer(f"{inner} id {'}' * levels}")


def alias_bomb(spreads: int = 200, aliases: int = 10) -> str:
    fragment = "fragment F on Customer { " + " ".join(f"a{i}: id" for i in range(aliases)) + " }"
    return on_customer(" ".join(["...F"] * spreads)) + " " + fragment


def fragment_fanout(levels: int = 6, fan: int = 10) -> str:
    fragments = ["fragment F0 on Customer { id displayName }"]
    for level in range(1, levels):
        spreads = " ".join([f"...F{level - 1}"] * fan)
        fragments.append(f"fragment F{level} on Customer {{ {spreads} }}")
    return on_customer(f"...F{levels - 1}") + " " + " ".join(fragments)


def sized_document(size: int) -> str:
    bare = on_customer("")
    document = on_customer("id " * ((size - len(bare)) // 3))
    return document + " " * (size - len(document))


def kinds() -> list[Kind]:
    big = _json({"query": sized_document(200_000)})
    over = _json({"query": sized_document(MAX_BODY_BYTES)})
    return [
        Kind(
            "depth_50",
            _json({"query": depth_document(50)}),
            400,
            _code("QUERY_TOO_DEEP"),
        ),
        Kind("alias_bomb", _json({"query": alias_bomb()}), 400, _code("TOO_MANY_ALIASES")),
        Kind("fragment_fanout", _json({"query": fragment_fanout()}), 400, _code("QUERY_TOO_LARGE"), 10),
        # Within the body limit, over the document length limit: refused before the parser reads it.
        Kind("document_200kb", big, 400, _code("QUERY_TOO_LARGE"), 50),
        # Short enough, over the token limit: tokens are counted (by a regular expression) before parsing.
        Kind(
            "tokens_1200",
            _json({"query": "{ " + "platform { name } " * 300 + "}"}),
            400,
            _code("QUERY_TOO_LARGE"),
        ),
        Kind(
            "body_over_limit",
            over,
            413,
            lambda body: body.get("status") == 413 and "too large" in str(body.get("title", "")).lower(),
            50,
            graphql_error=False,
        ),
        Kind(
            "batch_100",
            _json([{"query": on_customer("id")}] * 100),
            400,
            _code("BATCH_LIMIT_EXCEEDED"),
        ),
        Kind(
            "first_100000",
            _json({"query": on_customer("timeline(first: 100000) { nodes { id } }")}),
            400,
            _code("BAD_USER_INPUT"),
        ),
        Kind(
            "cost_bomb",
            _json(
                {
                    "query": '{ customers(search: "a", first: 100) { nodes { ideas(first: 100) { nodes {'
                    " comments(first: 100) { nodes { id body } } } } } } }"
                }
            ),
            400,
            _code("QUERY_TOO_COMPLEX"),
        ),
    ]


def _shape(kind: Kind, response: httpx.Response) -> tuple[bool, str]:
    """Whether the answer is the refusal ``kind`` must get, and a one-line account of it."""
    try:
        body = response.json()
    except ValueError:
        return False, f"HTTP {response.status_code}, not JSON"
    if not isinstance(body, dict):
        return False, f"HTTP {response.status_code}, a JSON {type(body).__name__}"
    if kind.graphql_error:
        errors = _errors(body)
        account = f"HTTP {response.status_code}, " + "; ".join(
            f"{(e.get('extensions') or {}).get('code')}: {str(e.get('message'))[:80]}" for e in errors[:2]
        )
        refused = bool(errors) and "data" not in body
    else:
        account = f"HTTP {response.status_code}, problem {body.get('type')}: {body.get('title')}"
        refused = True
    return refused and response.status_code == kind.status and kind.says(body), account


async def run_kind(platform: RunningPlatform, kind: Kind, repeat: int) -> dict[str, Any]:
    accounts: list[str] = []

    async def call(client: httpx.AsyncClient, n: int) -> bool:
        response = await client.post(
            "/graphql", content=kind.body, headers={**HEADERS, "Content-Type": "application/json"}
        )
        right, account = _shape(kind, response)
        if not accounts or (not right and len(accounts) < 3):
            accounts.append(account)
        return right

    before = await asyncio.to_thread(_gateway.request_counts, platform)
    latencies, outcomes = await _gateway.sequential(platform.url("gateway"), call, count=repeat, warmup=2)
    after = await asyncio.to_thread(_gateway.request_counts, platform)
    calls = _gateway.calls_between(before, after)
    return {
        "document_bytes": len(kind.body),
        "requests": repeat,
        "refused_as_expected": outcomes.count(True),
        "expected": f"HTTP {kind.status}"
        + (" with a GraphQL error" if kind.graphql_error else ", a problem"),
        "answer": accounts[0] if accounts else None,
        "wrong_answers": accounts[1:],
        **_gateway.summary(latencies),
        "service_calls": calls,
        "meets_target": outcomes.count(True) == repeat
        and not any(calls.values())
        and _gateway.summary(latencies)["p99_ms"] <= 5.0,
    }


async def control(platform: RunningPlatform) -> dict[str, int]:
    """A valid query, to show the counters do see what the gateway asks of the services."""
    before = await asyncio.to_thread(_gateway.request_counts, platform)
    async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=10) as client:
        response = await client.post(
            "/graphql",
            json={"query": on_customer("id timeline { nodes { id } }")},
            headers=HEADERS,
        )
        response.raise_for_status()
    after = await asyncio.to_thread(_gateway.request_counts, platform)
    return _gateway.calls_between(before, after)


async def measure(platform: RunningPlatform, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for kind in kinds():
        if args.only and kind.name not in args.only:
            continue
        figures[kind.name] = await run_kind(platform, kind, kind.repeat or args.repeat)
    figures["control_valid_query_service_calls"] = await control(platform)
    figures["target"] = "every kind refused as expected, no service call, p99 <= 5 ms"
    figures["all_meet_target"] = all(
        value["meets_target"]
        for value in figures.values()
        if isinstance(value, dict) and "meets_target" in value
    )
    figures["engines"] = _harness.engines_in_use()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=200, help="requests per kind (fewer for the heavy ones)"
    )
    parser.add_argument("--only", nargs="*", help="run only these kinds")
    args = parser.parse_args()
    with (
        _harness.engines() as (server_url, nats_url),
        _gateway.running_platform(server_url, nats_url) as platform,
    ):
        figures = asyncio.run(measure(platform, args))
    _harness.report("gateway_hostile", figures)


if __name__ == "__main__":
    main()
