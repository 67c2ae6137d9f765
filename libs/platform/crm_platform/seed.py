"""`crm seed`: a small demo data set, loaded through the services' own APIs (so events flow too)."""

from __future__ import annotations

import httpx

from crm_common.auth import Role, TokenSigner
from crm_common.settings import PlatformSettings

DEMO_CUSTOMERS: list[dict[str, str | None]] = [
    {"display_name": "김서연", "email": "seoyeon.kim@example.com"},
    {"display_name": "Park Ji-hoon", "email": "jihoon.park@example.com"},
    {"display_name": "이민준", "email": "minjun.lee@example.kr"},
    {"display_name": "Choi Yuna", "email": "yuna.choi@example.com"},
    {"display_name": "Maria Schmidt", "email": "maria.schmidt@example.de"},
    {"display_name": "정하은", "email": None},
    {"display_name": "James O'Neill", "email": "james.oneill@example.com"},
    {"display_name": "한도윤", "email": "doyun.han@example.kr"},
]


def seed(identity_url: str, settings: PlatformSettings | None = None) -> list[str]:
    """Create the demo customers; returns their ids."""
    settings = settings or PlatformSettings()
    token = TokenSigner(settings.jwt_secret, settings.jwt_issuer).issue("crm-seed", Role.ADMIN)
    ids: list[str] = []
    with httpx.Client(
        base_url=identity_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        for customer in DEMO_CUSTOMERS:
            body = {k: v for k, v in customer.items() if v is not None}
            response = client.post("/v1/customers", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids
