"""`crm seed`: a small demo data set, loaded through the services' own APIs (so events flow too)."""

from __future__ import annotations

from typing import Any

import httpx

from crm_common.auth import Role, TokenSigner
from crm_common.settings import PlatformSettings

# Each entry is an identify record: what a channel saw together. Some people appear on several
# channels, so the demo shows resolution (and a merge) at work.
DEMO_RECORDS: list[dict[str, Any]] = [
    {
        "identifiers": [
            {"type": "email", "value": "seoyeon.kim@example.com"},
            {"type": "phone", "value": "010-2345-6789"},
        ],
        "traits": {"name": "김서연", "birth_date": "1990-04-12", "city": "서울"},
        "source": "crm",
    },
    {
        "identifiers": [{"type": "social:instagram", "value": "@seoyeon_k"}],
        "traits": {"name": "Kim Seo-yeon"},
        "source": "social",
        "touchpoint": {"channel": "social", "type": "mention", "payload": {"text": "배송이 너무 늦어요"}},
    },
    {
        "identifiers": [
            {"type": "phone", "value": "+82 10 2345 6789"},
            {"type": "social:instagram", "value": "seoyeon_k"},
        ],
        "source": "callcenter",
        "touchpoint": {"channel": "call_center", "type": "call", "payload": {"outcome": "missed"}},
    },
    {
        "identifiers": [{"type": "email", "value": "jihoon.park@example.com"}],
        "traits": {"name": "Park Ji-hoon", "postcode": "06236"},
        "source": "shop",
        "touchpoint": {
            "channel": "web",
            "type": "order_placed",
            "external_id": "demo-order-1",
            "payload": {"total": 59000, "currency": "KRW"},
        },
    },
    {
        "identifiers": [{"type": "email", "value": "minjun.lee@example.kr"}],
        "traits": {"name": "이민준"},
        "source": "crm",
    },
    {
        "identifiers": [{"type": "email", "value": "yuna.choi@example.com"}],
        "traits": {"name": "Choi Yuna"},
        "source": "crm",
    },
    {
        "identifiers": [{"type": "email", "value": "maria.schmidt@example.de"}],
        "traits": {"name": "Maria Schmidt"},
        "source": "crm",
    },
    {
        "identifiers": [{"type": "loyalty", "value": "L-100200"}],
        "traits": {"name": "정하은"},
        "source": "store",
        "touchpoint": {"channel": "store", "type": "visit", "payload": {"store": "gangnam"}},
    },
    {
        "identifiers": [{"type": "email", "value": "james.oneill@example.com"}],
        "traits": {"name": "James O'Neill"},
        "source": "crm",
    },
    {
        "identifiers": [{"type": "email", "value": "doyun.han@example.kr"}],
        "traits": {"name": "한도윤"},
        "source": "crm",
    },
]


def seed(identity_url: str, settings: PlatformSettings | None = None) -> list[str]:
    """Resolve the demo records through the identity API; returns the customer ids, one per person."""
    settings = settings or PlatformSettings()
    token = TokenSigner(settings.jwt_secret, settings.jwt_issuer).issue("crm-seed", Role.ADMIN)
    ids: list[str] = []
    with httpx.Client(
        base_url=identity_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        response = client.post("/v1/identify:batch", json={"records": DEMO_RECORDS})
        response.raise_for_status()
        for item in response.json()["items"]:
            if item["status"] != 200:
                raise RuntimeError(f"demo record {item['index']} was refused: {item['problem']}")
            ids.append(item["result"]["customer_id"])
    return list(dict.fromkeys(ids))
