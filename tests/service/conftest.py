"""Fixtures of the service tests: a store on SQLite or on a real local PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

_MISSING = []
for _mod in ("fastapi", "sqlalchemy", "alembic", "argon2", "multipart", "jinja2", "httpx"):
    try:
        __import__(_mod)
    except ImportError:
        _MISSING.append(_mod)
if _MISSING:  # the service extra is not installed: say so instead of failing on imports
    import warnings

    collect_ignore_glob = ["test_*.py"]
    warnings.warn(
        "service tests skipped: missing " + ", ".join(_MISSING) + " (install '.[service,test]')",
        pytest.PytestWarning,
        stacklevel=1,
    )


def pytest_report_header(config: Any) -> str | None:
    if _MISSING:
        return (
            "service tests skipped: missing " + ", ".join(_MISSING) + " (install '.[service,test]')"
        )
    return None


from svc_helpers import TINY, Started, write_bundle  # noqa: E402
from svc_pg import PgServer, why_not  # noqa: E402


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session (skips, saying why, if it cannot start)."""
    reason = why_not()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = PgServer()
    try:
        server.start()
    except Exception as e:  # noqa: BLE001
        server.stop()
        pytest.skip(f"PostgreSQL tests skipped: could not start a local server: {e}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: Any, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'econplan.db'}"
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """The tiny test economy as a bundle folder."""
    return write_bundle(tmp_path / "tiny", TINY)


@pytest.fixture
def started(db_url: str, bundle_dir: Path) -> Iterator[Started]:
    """The service on a fresh store with the tiny economy as its first period."""
    s = Started(db_url, bundle_dir)
    yield s
    s.close()
