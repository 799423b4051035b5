"""Schemathesis generates requests from the OpenAPI document: none may end in a 5xx.

Driven through Hypothesis directly: schemathesis' pytest plugin does not support pytest 9 yet.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from timeline_support import ADMIN_TOKEN, Service, Tenant, new_tenant


@pytest.fixture(scope="module")
def fuzz_tenant(service: Service) -> Iterator[Tenant]:
    tenant = new_tenant(service)
    tenant.schema()
    subject = tenant.subject()
    tenant.append(subject)
    yield tenant
    tenant.http.close()


def test_no_generated_request_makes_the_server_fail(service: Service, fuzz_tenant: Tenant) -> None:
    api = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    headers = {
        "Authorization": fuzz_tenant.http.headers["Authorization"],
        "X-Admin-Token": ADMIN_TOKEN,
    }
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=service.url, headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")

        run()
    assert failures == []
