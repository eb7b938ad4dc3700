"""The FastAPI application: JSON API + server-rendered pages over one store."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from econplan.service import store
from econplan.service.db import (
    Database,
    bootstrap_admin,
    get_or_create_secret,
    make_engine,
    migrate,
)
from econplan.service.planning import PlanRunner

HERE = Path(__file__).resolve().parent
log = logging.getLogger("econplan.service")


@dataclass
class Settings:
    """Service settings. ``bundle``: an economy loaded as the first period on a fresh store."""

    db_url: str | None = None
    bundle: Path | None = None
    secure_cookies: bool = False
    announce: Any = field(default=print)


@dataclass
class AppState:
    """What every request handler shares."""

    db: Database
    runner: PlanRunner
    settings: Settings
    secret: str


class PageRedirect(Exception):
    """Raised by page handlers to redirect (e.g. to the login page)."""

    def __init__(self, url: str) -> None:
        self.url = url


def start(settings: Settings) -> AppState:
    """Open the database, migrate, bootstrap admin/secret/demo period, recover jobs."""
    # check the bundle first: a bad one must stop the start before anything is created
    files = store.read_bundle_dir(settings.bundle) if settings.bundle is not None else None
    engine = make_engine(settings.db_url)
    migrate(engine)
    db = Database(engine)
    secret = get_or_create_secret(db, "session")
    password = bootstrap_admin(db)
    if password is not None:
        settings.announce(
            "econplan: created the admin account. Username: admin  one-time password: "
            f"{password}\n(shown once; you will be asked to change it at first login)"
        )
    if files is not None and settings.bundle is not None:
        with db.write() as s:
            if store.latest_period(s) is None:
                store.create_period(s, None, Path(settings.bundle).name, files)
    runner = PlanRunner(db)
    runner.recover()
    return AppState(db=db, runner=runner, settings=settings, secret=secret)


class SecurityHeaders:
    """Pure ASGI middleware adding nosniff / referrer / frame headers to every response."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"SAMEORIGIN"),
    ]

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database is opened (and migrated) at startup."""
    from econplan.service import api, pages

    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        from starlette.concurrency import run_in_threadpool

        if not hasattr(app.state, "econplan"):
            app.state.econplan = await run_in_threadpool(start, settings)
        yield
        await run_in_threadpool(app.state.econplan.runner.shutdown)
        await run_in_threadpool(app.state.econplan.db.close)

    app = FastAPI(
        title="econplan participation service",
        version="0.1.0",
        description=(
            "People state needs, councils set targets and run the plan, workplaces report "
            "capacities and output; every plan version is public with its certificate."
        ),
        lifespan=lifespan,
    )
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    # handlers that may render a page (which reads the session from the database) are plain
    # functions: Starlette runs them in its thread pool, off the event loop
    @app.exception_handler(store.ServiceError)
    def service_error(request: Request, exc: store.ServiceError) -> Any:
        if is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        if exc.status == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return pages.error_page(request, exc.status, exc.detail)

    @app.exception_handler(PageRedirect)
    async def page_redirect(request: Request, exc: PageRedirect) -> Any:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(RequestValidationError)
    def validation_error(request: Request, exc: RequestValidationError) -> Any:
        if is_api(request):
            # where, what and why, not the input itself: NaN, Infinity (Python's JSON reads
            # them) or a lone surrogate cannot be written back as JSON (an outside check,
            # session 26: each was a 500), and a rejected password should not be echoed
            def text(x: Any) -> Any:  # (a key may hold a lone surrogate too)
                return x if isinstance(x, int) else str(x).encode(
                    "utf-8", "backslashreplace").decode("utf-8")

            detail = [{"loc": [text(x) for x in e.get("loc", [])],
                       "msg": text(e.get("msg", "")), "type": text(e.get("type", ""))}
                      for e in exc.errors()]
            return JSONResponse({"detail": detail}, status_code=422)
        return pages.error_page(request, 400, pages.bad_form(exc.errors(), skip=1))

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if is_api(request) or request.url.path.startswith("/static"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return pages.error_page(request, exc.status_code, str(exc.detail))

    app.add_middleware(SecurityHeaders)

    return app
