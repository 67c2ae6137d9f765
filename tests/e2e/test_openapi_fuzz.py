"""Schemathesis over every service's OpenAPI, against the running processes.

Bounded, derandomized examples keep the suite fast and repeatable. Schemathesis' checks run: no 5xx,
status codes, content types, headers and bodies as documented, schema-invalid data rejected. One is
left out: "schema-valid data accepted", because some rules are semantic and cannot be written in
JSON Schema (a phone number valid for its region, an identifier type from configuration); those
answer 422 naming the field, which the services' own tests assert.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

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
            case.call_and_validate(headers=ADMIN, excluded_checks=[positive_data_acceptance])

        conforms()
