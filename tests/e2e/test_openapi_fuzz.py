"""Schemathesis over every service's OpenAPI, against the running processes.

Bounded, derandomized examples keep the suite fast and repeatable. All of schemathesis' checks run:
no 5xx, status codes, content types, headers and bodies as documented, invalid data rejected.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from crm_common.auth import Role
from crm_platform.dev import Platform
from tests.support import bearer, staff_token

pytestmark = pytest.mark.e2e

ADMIN = bearer(staff_token(Role.ADMIN))
EXAMPLES_PER_OPERATION = 25


@pytest.mark.parametrize("service", ["identity", "campaign", "feedback"])
def test_service_api_conforms_to_its_openapi(platform: Platform, service: str) -> None:
    schema = schemathesis.openapi.from_url(platform.url(service) + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} documents no operation"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: Case) -> None:
            case.call_and_validate(headers=ADMIN)

        conforms()
