"""The econplan participation service (``econplan serve``).

People state needs, councils turn them into targets and run the plan, workplaces report
capacities and output, everyone sees each plan version, its certificate and how their input
moved it. FastAPI + SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL by URL.

Needs the ``service`` extra: ``pip install 'econplan[service]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

DEMO_BUNDLE = Path(__file__).resolve().parent.parent / "examples" / "small"


def create_app(
    db_url: str | None = None, bundle: str | Path | None = None, secure_cookies: bool = False
) -> FastAPI:
    """Build the ASGI app for ``db_url`` (default ``sqlite:///econplan.db`` in the working dir).

    ``bundle``: an economy bundle loaded as the first planning period when the store is empty.
    """
    from econplan.service.app import Settings
    from econplan.service.app import create_app as _create

    return _create(
        Settings(
            db_url=db_url,
            bundle=Path(bundle) if bundle else None,
            secure_cookies=secure_cookies,
        )
    )


def run(
    db_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    bundle: str | Path | None = None,
    access_log: bool = True,
) -> None:
    """Serve with uvicorn (blocking): ``econplan serve [--db URL] [--host H] [--port P]``.

    On a fresh store this creates the schema, the secrets and an admin account whose one-time
    password is printed once. ``bundle`` defaults to the demo economy when it exists.
    """
    import uvicorn
    from sqlalchemy.exc import ArgumentError, OperationalError

    from econplan.errors import EconplanError
    from econplan.service.app import Settings, start
    from econplan.service.app import create_app as _create
    from econplan.service.store import ServiceError

    if bundle is None and DEMO_BUNDLE.exists():
        bundle = DEMO_BUNDLE
    settings = Settings(db_url=db_url, bundle=Path(bundle) if bundle else None)
    app = _create(settings)
    try:  # open, migrate and bootstrap before serving, so errors are one line, not a trace
        app.state.econplan = start(settings)
    except ServiceError as e:
        raise EconplanError(e.detail) from None
    except (ArgumentError, OperationalError, ModuleNotFoundError) as e:
        raise EconplanError(f"database {db_url or 'sqlite:///econplan.db'}: {e}") from None
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        proxy_headers=True,
    )


__all__ = ["create_app", "run", "DEMO_BUNDLE"]
