"""Server-rendered pages (Jinja2, no JavaScript needed; phone-first CSS).

Forms carry the session's CSRF token (login: a double-submit cookie). Submissions of needs and
reports carry an idempotency key generated when the form is drawn, so a double click or a
re-sent form is stored once.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from econplan.service import store
from econplan.service.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Ctx,
    context,
    state,
)
from econplan.service.models import AuditEntry, Job, User
from econplan.service.security import check_signed, same, signed_token

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
HOME = {"admin": "/admin", "person": "/needs", "council": "/council", "workplace": "/workplace"}


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, int | float):
        if x != x:
            return "–"
        return f"{x:.{digits}g}"
    return str(x)


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}%"


templates.env.filters["num"] = _fmt
templates.env.filters["pct"] = _pct


def render(request: Request, name: str, ctx: Ctx, status: int = 200, **kw: Any) -> HTMLResponse:
    """Render a page with the caller and CSRF token in the context."""
    return templates.TemplateResponse(
        request,
        name,
        {"me": ctx.user, "csrf": ctx.csrf or "", "home": HOME, **kw},
        status_code=status,
    )


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """An error page with the one-line reason."""
    try:
        ctx = context(request)
    except Exception:  # noqa: BLE001 - the error page must render whatever failed
        ctx = Ctx(None, None, None, False)
    return render(request, "error.html", ctx, status=status, status_code=status, detail=detail)


def page_user(request: Request, ctx: Ctx, *roles: str) -> User:
    """The logged-in user with one of ``roles``; redirects to login / password change."""
    from econplan.service.app import PageRedirect

    if ctx.user is None:
        raise PageRedirect(f"/login?next={quote(request.url.path)}")
    if ctx.user.must_change_password and request.url.path != "/account/password":
        raise PageRedirect("/account/password")
    if roles and ctx.user.role not in roles:
        raise store.ServiceError(403, f"this page is for the role {' or '.join(roles)}")
    return ctx.user


def role(*roles: str) -> Any:
    """Dependency: the logged-in caller with one of ``roles`` (any role if none given).

    As a dependency it runs before the form is validated, so an anonymous caller is sent to
    the login page and a wrong role gets 403 whatever the form holds.
    """

    def dep(request: Request, ctx: Ctx = Depends(context)) -> User:
        return page_user(request, ctx, *roles)

    return Depends(dep)


def check_csrf(ctx: Ctx, token: str | None) -> None:
    """Refuse a form whose CSRF token is not the session's."""
    if not same(token, ctx.csrf):
        raise store.ServiceError(403, "the form expired or came from elsewhere (CSRF); reload")


def _period_or_404(s: Any) -> Any:
    p = store.latest_period(s)
    if p is None:
        raise store.ServiceError(404, "no planning period yet: an admin loads an economy first")
    return p


# --------------------------------------------------------------------------- public


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """Front page: the current period and its latest plan."""
    with state(request).db.read() as s:
        period = store.latest_period(s)
        plans = store.plans_of(s, period.id) if period else []
        latest = store.plan_out(plans[0], tables=True) if plans else None
        tg = store.targets(s, period) if period else []
    return render(request, "home.html", ctx, period=period, plan=latest, targets=tg)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", ctx: Ctx = Depends(context)) -> HTMLResponse:
    """The login form."""
    token = signed_token(state(request).secret)
    resp = render(request, "login.html", ctx, login_csrf=token, next=_safe_next(next), error=None)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return resp


def _safe_next(url: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else "/"


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the password, start a session (cookie), go on."""
    if not same(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)) or not check_signed(
        state(request).secret, csrf_token
    ):
        raise store.ServiceError(403, "the login form expired (CSRF); reload the page")
    with state(request).db.write() as s:
        user = store.authenticate(s, username, password)
        if user is not None:
            token, _csrf = store.create_session(s, user)
            role, must = user.role, user.must_change_password
    if user is None:
        ctx = Ctx(None, None, None, False)
        return render(
            request,
            "login.html",
            ctx,
            status=401,
            login_csrf=csrf_token,
            next=_safe_next(next),
            error="Wrong username or password.",
        )
    target = "/account/password" if must else (_safe_next(next) if next != "/" else HOME[role])
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=state(request).settings.secure_cookies or request.url.scheme == "https",
        max_age=int(store.SESSION_LIFETIME.total_seconds()),
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(
    request: Request,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    ctx: Ctx = Depends(context),
) -> Response:
    """End the session."""
    if ctx.user is not None:
        check_csrf(ctx, csrf_token)
        with state(request).db.write() as s:
            store.end_session(s, ctx.token or "")
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """Change-password form (forced after a one-time password)."""
    page_user(request, ctx)
    return render(request, "password.html", ctx, error=None)


@router.post("/account/password")
def password_change(
    request: Request,
    old_password: Annotated[str, Form(max_length=1000)],
    new_password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=200)],
    ctx: Ctx = Depends(context),
    user: User = role(),
) -> Response:
    """Change the password."""
    check_csrf(ctx, csrf_token)
    try:
        with state(request).db.write() as s:
            u = s.get(User, user.id)
            assert u is not None
            store.change_password(s, u, old_password, new_password)
    except store.ServiceError as e:
        return render(request, "password.html", ctx, status=e.status, error=e.detail)
    return RedirectResponse(HOME[user.role], status_code=303)


# --------------------------------------------------------------------------- admin


def _admin_page(request: Request, ctx: Ctx, **kw: Any) -> HTMLResponse:
    with state(request).db.read() as s:
        users = [(u, store.techniques_of(s, u)) for u in s.scalars(select(User).order_by(User.id))]
        periods = list(reversed(list(s.scalars(select(store.Period).order_by(store.Period.id)))))
        audit_rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(30)))
    return render(request, "admin.html", ctx, users=users, periods=periods, audit=audit_rows, **kw)


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """Accounts, economies and the audit log."""
    page_user(request, ctx, "admin")
    return _admin_page(request, ctx, created=None, error=None)


@router.post("/admin/users", response_class=HTMLResponse)
def admin_create_user(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form(max_length=200)],
    display_name: Annotated[str, Form(max_length=200)] = "",
    techniques: Annotated[str, Form(max_length=20000)] = "",
    ctx: Ctx = Depends(context),
    admin_user: User = role("admin"),
) -> HTMLResponse:
    """Create an account and show its one-time password once."""
    check_csrf(ctx, csrf_token)
    try:
        with state(request).db.write() as s:
            u, password = store.create_user(
                s, admin_user, username, role, display_name, techniques.replace(",", " ").split()
            )
            created = {"username": u.username, "role": u.role, "password": password}
    except store.ServiceError as e:
        return _admin_page(request, ctx, created=None, error=e.detail)
    return _admin_page(request, ctx, created=created, error=None)


@router.post("/admin/users/{user_id}/active")
def admin_set_active(
    request: Request,
    user_id: Id,
    active: Annotated[bool, Form()],
    csrf_token: Annotated[str, Form(max_length=200)],
    ctx: Ctx = Depends(context),
    admin_user: User = role("admin"),
) -> Response:
    """Activate / deactivate an account."""
    check_csrf(ctx, csrf_token)
    with state(request).db.write() as s:
        store.set_active(s, admin_user, user_id, active)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
def admin_reset_password(
    request: Request,
    user_id: Id,
    csrf_token: Annotated[str, Form(max_length=200)],
    ctx: Ctx = Depends(context),
    admin_user: User = role("admin"),
) -> HTMLResponse:
    """Give an account a new one-time password and show it once."""
    check_csrf(ctx, csrf_token)
    with state(request).db.write() as s:
        u, password = store.reset_password(s, admin_user, user_id)
        created = {"username": u.username, "role": u.role, "password": password}
    return _admin_page(request, ctx, created=created, error=None)


@router.post("/admin/periods", response_class=HTMLResponse)
def admin_create_period(
    request: Request,
    name: Annotated[str, Form(max_length=200)],
    bundle: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=200)],
    ctx: Ctx = Depends(context),
    admin_user: User = role("admin"),
) -> Response:
    """Load an economy bundle (zip) as a new planning period."""
    check_csrf(ctx, csrf_token)
    try:
        files = store.read_bundle_zip(bundle.file.read(store.MAX_BUNDLE_BYTES + 1))
        with state(request).db.write() as s:
            store.create_period(s, admin_user, name, files)
    except store.ServiceError as e:
        return _admin_page(request, ctx, created=None, error=e.detail)
    return RedirectResponse("/admin", status_code=303)


# --------------------------------------------------------------------------- person


@router.get("/needs", response_class=HTMLResponse)
def needs_page(request: Request, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """State needs; see my needs and how they moved the plan."""
    user = page_user(request, ctx, "person")
    with state(request).db.read() as s:
        period = _period_or_404(s)
        products = store.economy_tables(period)["products"]
        mine = store.my_needs(s, user, period.id)
        imp = store.impact(s, user, period.id)
    return render(
        request,
        "needs.html",
        ctx,
        period=period,
        products=products,
        mine=mine,
        impact=imp,
        idem=secrets.token_urlsafe(16),
        saved=request.query_params.get("saved"),
    )


@router.post("/needs")
def needs_submit(
    request: Request,
    product: Annotated[str, Form(max_length=200)],
    quantity: Annotated[float, Form(ge=0, le=1e300, allow_inf_nan=False)],
    csrf_token: Annotated[str, Form(max_length=200)],
    idempotency_key: Annotated[str, Form(min_length=1, max_length=200)],
    ctx: Ctx = Depends(context),
    user: User = role("person"),
) -> Response:
    """Store a stated need (once per form, by its idempotency key)."""
    check_csrf(ctx, csrf_token)
    db = state(request).db
    with db.read() as s:
        period_id = _period_or_404(s).id
    store.idempotent(
        db,
        user,
        "form:" + idempotency_key,
        {"period": period_id, "product": product, "quantity": quantity},
        lambda s: (201, store.need_out(store.add_need(s, user, period_id, product, quantity))),
    )
    return RedirectResponse("/needs?saved=1", status_code=303)


# --------------------------------------------------------------------------- council


@router.get("/council", response_class=HTMLResponse)
def council_page(request: Request, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """Stated needs, targets, priorities, floors; run the plan."""
    page_user(request, ctx, "council")
    with state(request).db.read() as s:
        period = _period_or_404(s)
        summary = store.needs_summary(s, period.id)
        tg = store.targets(s, period)
        products = store.economy_tables(period)["products"]
        jobs = list(
            s.scalars(
                select(Job).where(Job.period_id == period.id).order_by(Job.id.desc()).limit(5)
            )
        )
    return render(
        request,
        "council.html",
        ctx,
        period=period,
        summary=summary,
        targets=tg,
        products=products,
        jobs=jobs,
        rules=store.TARGET_RULES,
    )


def bad_form(errors: Any, skip: int = 0) -> str:
    """One line from pydantic's validation ``errors``: each field's place (its first ``skip``
    parts, such as "form", left out) and what is wrong, for a page's 400."""
    msgs = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', [])[skip:])}: {e.get('msg')}"
                     for e in errors)
    return f"bad form: {msgs}"


def _as_api(model: Any, data: dict[str, Any]) -> None:
    """Check a form's values with the JSON API's own model (its bounds: priority ≤ 1e12,
    amounts ≤ 1e300; an outside check, session 26, found the forms storing 1e13 and 1e301
    that the API refuses); a 400 naming the field otherwise."""
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError as e:
        raise store.ServiceError(400, bad_form(e.errors())) from None


def _council_targets(request: Request, ctx: Ctx, form: Any, user: User) -> None:
    check_csrf(ctx, form.get("csrf_token"))
    rule = str(form.get("rule", "sum"))
    overrides = []
    for i in range(10000):
        p = form.get(f"product_{i}")
        if p is None:
            break
        o: dict[str, Any] = {"product": str(p)}
        for field in ("priority", "floor"):
            raw = str(form.get(f"{field}_{i}", "")).strip()
            if raw:
                try:
                    o[field] = float(raw)
                except ValueError:
                    raise store.ServiceError(400, f"{field} of {p}: not a number") from None
        if len(o) > 1:
            overrides.append(o)
    from econplan.service.api import TargetsIn

    _as_api(TargetsIn, {"rule": rule, "overrides": overrides})
    db = state(request).db
    with db.write() as s:
        period = _period_or_404(s)
        store.set_targets(s, user, period.id, rule, overrides)


@router.post("/council/targets")
async def council_targets(
    request: Request, ctx: Ctx = Depends(context), user: User = role("council")
) -> Response:
    """Derive targets by the chosen rule, with priority/floor overrides."""
    form = await request.form(max_fields=30000)
    await run_in_threadpool(_council_targets, request, ctx, form, user)
    return RedirectResponse("/council", status_code=303)


@router.post("/council/plan")
def council_plan(
    request: Request,
    csrf_token: Annotated[str, Form(max_length=200)],
    objective: Annotated[str, Form(max_length=32)] = "fulfilment",
    ctx: Ctx = Depends(context),
    user: User = role("council"),
) -> Response:
    """Start a plan run and show its progress."""
    check_csrf(ctx, csrf_token)
    with state(request).db.read() as s:
        period_id = _period_or_404(s).id
    job = state(request).runner.submit(user, period_id, objective)
    return RedirectResponse(f"/jobs/{job['id']}", status_code=303)


# --------------------------------------------------------------------------- workplace


@router.get("/workplace", response_class=HTMLResponse)
def workplace_page(request: Request, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """Report capacities and output for my techniques."""
    user = page_user(request, ctx, "workplace")
    with state(request).db.read() as s:
        period = _period_or_404(s)
        techs = store.techniques_of(s, user)
        known = {r["id"]: r for r in store.economy_tables(period)["techniques"]}
        reports = store.my_reports(s, user, period.id)
        imp = store.impact(s, user, period.id)
    return render(
        request,
        "workplace.html",
        ctx,
        period=period,
        techniques=[known.get(t, {"id": t, "product": "?", "capacity": ""}) for t in techs],
        reports=reports,
        impact=imp,
        idem=secrets.token_urlsafe(16),
        saved=request.query_params.get("saved"),
    )


def _opt_float(raw: str, what: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise store.ServiceError(400, f"{what}: not a number") from None


@router.post("/workplace/report")
def workplace_report(
    request: Request,
    technique: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)],
    idempotency_key: Annotated[str, Form(min_length=1, max_length=200)],
    capacity: Annotated[str, Form(max_length=50)] = "",
    actual_output: Annotated[str, Form(max_length=50)] = "",
    ctx: Ctx = Depends(context),
    user: User = role("workplace"),
) -> Response:
    """Store a report (once per form)."""
    check_csrf(ctx, csrf_token)
    cap, out = _opt_float(capacity, "capacity"), _opt_float(actual_output, "actual output")
    from econplan.service.api import ReportIn

    _as_api(ReportIn, {"technique": technique, "capacity": cap, "actual_output": out})
    db = state(request).db
    with db.read() as s:
        period_id = _period_or_404(s).id
    store.idempotent(
        db,
        user,
        "form:" + idempotency_key,
        {"period": period_id, "technique": technique, "capacity": cap, "actual_output": out},
        lambda s: (
            201,
            store.report_out(store.add_report(s, user, period_id, technique, cap, out)),
        ),
    )
    return RedirectResponse("/workplace?saved=1", status_code=303)


# --------------------------------------------------------------------------- plans


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: Id, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """A plan run's progress (refreshes itself until done)."""
    with state(request).db.read() as s:
        job = store.job_out(store.get_job(s, job_id))
    return render(request, "job.html", ctx, job=job)


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """Every plan version of the current period."""
    with state(request).db.read() as s:
        period = _period_or_404(s)
        plans = [store.plan_out(p) for p in store.plans_of(s, period.id)]
    return render(request, "plans.html", ctx, period=period, plans=plans)


@router.get("/plans/diff", response_class=HTMLResponse)
def diff_page(
    request: Request,
    a: Annotated[int, Query(ge=1, le=2**31 - 1)],
    b: Annotated[int, Query(ge=1, le=2**31 - 1)],
    ctx: Ctx = Depends(context),
) -> HTMLResponse:
    """What changed between two plan versions."""
    with state(request).db.read() as s:
        d = store.diff_plans(store.get_plan(s, a), store.get_plan(s, b))
    return render(request, "diff.html", ctx, diff=d)


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, plan_id: Id, ctx: Ctx = Depends(context)) -> HTMLResponse:
    """One plan version: headline, certificate, fulfilment chart, tables."""
    with state(request).db.read() as s:
        plan = store.plan_out(store.get_plan(s, plan_id), tables=True)
    return render(request, "plan.html", ctx, plan=plan)


@router.get("/plans/{plan_id}/report", response_class=HTMLResponse)
def plan_report(request: Request, plan_id: Id) -> HTMLResponse:
    """The plan's self-contained HTML report (charts) from econplan.report."""
    with state(request).db.read() as s:
        plan = store.plan_out(store.get_plan(s, plan_id), tables=True)
    return HTMLResponse(render_report(plan))


def render_report(plan: dict[str, Any]) -> str:
    """Render the core report for a stored plan (a plain page if the renderer is missing)."""
    try:
        import pandas as pd

        from econplan.report import render_report as core_render

        return core_render(
            plan["summary"],
            pd.DataFrame(plan["activities"]),
            pd.DataFrame(plan["products"]),
            pd.DataFrame(plan["resources"]),
        )
    except ImportError:
        body = json.dumps(plan["summary"], indent=1)
        from html import escape

        return (
            "<!doctype html><meta charset=utf-8><title>plan report</title>"
            f"<h1>Plan {plan['number']}</h1><pre>{escape(body)}</pre>"
        )
