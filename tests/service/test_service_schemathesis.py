"""Property-based API tests (schemathesis): no 5xx, responses match the OpenAPI schema.

Every operation is called with generated (valid and invalid) inputs, authenticated as a role
the operation is for, so that generation reaches past the authorization checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from svc_helpers import TINY, Started, login, setup_accounts, wait_job, write_bundle

EXAMPLES = int(os.environ.get("ECONPLAN_SCHEMATHESIS_EXAMPLES", "20"))

ROLE_FOR = {  # (method, path) → role to call it as (others: admin)
    ("POST", "/api/periods/{period_id}/needs"): "person",
    ("GET", "/api/periods/{period_id}/needs/mine"): "person",
    ("GET", "/api/periods/{period_id}/impact"): "person",
    ("GET", "/api/periods/{period_id}/needs/summary"): "council",
    ("PUT", "/api/periods/{period_id}/targets"): "council",
    ("POST", "/api/periods/{period_id}/plans"): "council",
    ("POST", "/api/periods/{period_id}/reports"): "workplace",
    ("GET", "/api/periods/{period_id}/reports/mine"): "workplace",
}


class Live:
    """The started app and a bearer header per role."""

    def __init__(self, started: Started, headers: dict[str, dict[str, str]]) -> None:
        self.started = started
        self.headers = headers


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live(request: Any, tmp_path_factory: Any) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'api.db'}"
    else:
        url = request.getfixturevalue("pg_server").new_database()
    started = Started(url, write_bundle(tmp / "b", TINY))
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    # some data so that ids 1 exist: a need, a report, a plan version
    c.post(
        "/api/periods/1/needs",
        json={"product": "bread", "quantity": 3},
        headers=acc.headers["person"],
    )
    c.post(
        "/api/periods/1/reports",
        json={"technique": "farm", "capacity": 50},
        headers=acc.headers["workplace"],
    )
    wait_job(
        c, c.post("/api/periods/1/plans", json={}, headers=acc.headers["council"]).json()["id"]
    )
    yield Live(started, acc.headers)
    started.close()


def test_api_conforms(live: Live) -> None:
    """Every operation, EXAMPLES generated cases each (schemathesis strategies + hypothesis)."""
    from hypothesis import given

    schema = schemathesis.openapi.from_asgi("/openapi.json", live.started.app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 20

    def make_run(operation: Any, op: tuple[str, str]) -> Any:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            if op == ("DELETE", "/api/session"):
                headers = login(live.started.client, "person1", "correct horse battery")
            else:
                headers = live.headers[ROLE_FOR.get(op, "admin")]
            case.call_and_validate(headers=headers, checks=checks)

        return run

    for operation in operations:
        op = (operation.method.upper(), operation.path)
        try:
            make_run(operation, op)()
        except Exception as e:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{op[0]} {op[1]}: {type(e).__name__}: {str(e)[:1500]}")
    assert not failures, "\n\n".join(failures)
