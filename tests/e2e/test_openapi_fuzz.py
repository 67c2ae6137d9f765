"""Schemathesis over every service's OpenAPI, against the running processes.

Bounded examples keep the suite fast. Every check schemathesis has runs: no 5xx, status codes,
content types, headers and bodies as documented, invalid data rejected.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.schemas import BaseSchema

from crm_common.auth import Role
from crm_platform.dev import Platform
from tests.support import bearer, staff_token

pytestmark = pytest.mark.e2e

ADMIN = bearer(staff_token(Role.ADMIN))
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


def _load(platform: Platform, service: str) -> BaseSchema:
    return schemathesis.openapi.from_url(platform.url(service) + "/openapi.json")


@pytest.fixture(scope="session")
def identity_api(platform: Platform) -> BaseSchema:
    return _load(platform, "identity")


@pytest.fixture(scope="session")
def campaign_api(platform: Platform) -> BaseSchema:
    return _load(platform, "campaign")


@pytest.fixture(scope="session")
def feedback_api(platform: Platform) -> BaseSchema:
    return _load(platform, "feedback")


identity_schema = schemathesis.pytest.from_fixture("identity_api")
campaign_schema = schemathesis.pytest.from_fixture("campaign_api")
feedback_schema = schemathesis.pytest.from_fixture("feedback_api")


@identity_schema.parametrize()
@FUZZ
def test_identity_api_conforms_to_its_openapi(case: Case) -> None:
    case.call_and_validate(headers=ADMIN)


@campaign_schema.parametrize()
@FUZZ
def test_campaign_api_conforms_to_its_openapi(case: Case) -> None:
    case.call_and_validate(headers=ADMIN)


@feedback_schema.parametrize()
@FUZZ
def test_feedback_api_conforms_to_its_openapi(case: Case) -> None:
    case.call_and_validate(headers=ADMIN)
