"""Request context: who is calling (session cookie or bearer token), roles and CSRF."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from econplan.service import store
from econplan.service.models import User
from econplan.service.security import same

SESSION_COOKIE = "econplan_session"
LOGIN_CSRF_COOKIE = "econplan_login_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Ctx:
    """The caller: user (None = anonymous), session CSRF token, and how they authenticated."""

    user: User | None
    csrf: str | None
    token: str | None
    via_cookie: bool

    @property
    def role(self) -> str | None:
        """The caller's role, or None when anonymous."""
        return self.user.role if self.user else None


def state(request: Request) -> Any:
    """The app's shared state (db, runner, settings)."""
    return request.app.state.econplan


def context(request: Request) -> Ctx:
    """Resolve the caller from ``Authorization: Bearer`` or the session cookie."""
    token, via_cookie = None, False
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        token = auth[7:].strip()
    elif request.cookies.get(SESSION_COOKIE):
        token, via_cookie = request.cookies[SESSION_COOKIE], True
    if not token:
        return Ctx(None, None, None, False)
    found = store.cached_session(state(request).db, token)
    if found is None:
        return Ctx(None, None, None, via_cookie)
    user, csrf = found
    return Ctx(user, csrf, token, via_cookie)


def check_api(request: Request, ctx: Ctx, roles: tuple[str, ...] | None) -> User:
    """Authorise an API call: 401 anonymous, 403 wrong role / password to change / bad CSRF."""
    if ctx.user is None:
        raise store.ServiceError(401, "log in first (POST /api/session)")
    if ctx.via_cookie and request.method in UNSAFE:
        if not same(request.headers.get("x-csrf-token"), ctx.csrf):
            raise store.ServiceError(403, "missing or wrong X-CSRF-Token header")
    if ctx.user.must_change_password and request.url.path not in (
        "/api/account/password",
        "/api/me",
        "/api/session",
    ):
        raise store.ServiceError(
            403, "change your one-time password first (POST /api/account/password)"
        )
    if roles is not None and ctx.user.role not in roles:
        raise store.ServiceError(403, f"this needs the role {' or '.join(roles)}")
    return ctx.user
