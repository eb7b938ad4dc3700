"""100 parallel identical submissions are stored once; 100 different ones are all stored.

Real HTTP against uvicorn (in a thread) with 100 client threads, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from svc_helpers import TINY, ThreadServer, setup_accounts, write_bundle

from econplan.service.app import Settings, create_app
from econplan.service.models import AuditEntry, IdempotencyKey, Need, Report

N = 100


@pytest.fixture
def server(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    printed: list[str] = []
    app = create_app(
        Settings(db_url=db_url, bundle=write_bundle(tmp_path / "b", TINY), announce=printed.append)
    )
    with ThreadServer(app) as srv:
        srv.admin_password = printed[0].split("one-time password: ")[1].split()[0]
        srv.app = app
        yield srv


def _parallel(fn, n: int = N) -> list:  # type: ignore[no-untyped-def]
    """Run fn(0..n-1) on n threads at once (all start together, behind a barrier)."""
    import threading

    barrier = threading.Barrier(n)

    def go(i: int):  # type: ignore[no-untyped-def]
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_parallel_identical_and_different_submissions(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as c:
        acc = setup_accounts(c, server.admin_password)
    h, hw = acc.headers["person1"], acc.headers["workplace"]
    import httpx

    shared = server.client(limits=httpx.Limits(max_connections=N, max_keepalive_connections=N))
    body = {"product": "bread", "quantity": 7.5}

    def same(_i: int) -> tuple[int, dict, str | None]:
        r = shared.post("/api/periods/1/needs", json=body, headers={**h, "Idempotency-Key": "k-1"})
        return r.status_code, r.json(), r.headers.get("Idempotent-Replayed")

    results = _parallel(same)
    assert {status for status, _, _ in results} == {201}, results[:3]
    assert len({r["id"] for _, r, _ in results}) == 1  # every answer names the one stored need
    assert sum(1 for *_, replay in results if replay is None) == 1  # exactly one did the write

    def different(i: int) -> int:
        r = shared.post(
            "/api/periods/1/needs",
            json={"product": "care", "quantity": i},
            headers={**h, "Idempotency-Key": f"d-{i}"},
        )
        return r.status_code

    assert _parallel(different) == [201] * N

    def reports(i: int) -> int:
        r = shared.post(
            "/api/periods/1/reports",
            json={"technique": "farm", "actual_output": i % 10},
            headers={**hw, "Idempotency-Key": f"r-{i % 10}"},
        )
        return r.status_code

    assert _parallel(reports, 30) == [201] * 30  # 30 requests, 10 keys: 10 reports

    # the same key with another body is refused, not stored
    with server.client() as c:
        r = c.post(
            "/api/periods/1/needs",
            json={"product": "bread", "quantity": 8},
            headers={**h, "Idempotency-Key": "k-1"},
        )
        assert r.status_code == 409

    with server.app.state.econplan.db.read() as s:
        assert s.query(Need).filter_by(product="bread").count() == 1
        assert s.query(Need).filter_by(product="care").count() == N
        assert sorted(n.quantity for n in s.query(Need).filter_by(product="care")) == list(range(N))
        assert s.query(Report).count() == 10
        assert s.query(IdempotencyKey).count() == 1 + N + 10
        assert s.query(AuditEntry).filter_by(entity="need").count() == 1 + N
        assert s.query(AuditEntry).filter_by(entity="report").count() == 10
