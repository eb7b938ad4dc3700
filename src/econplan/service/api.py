"""The JSON API (OpenAPI at /openapi.json, docs at /docs).

Authenticate with ``POST /api/session`` and send ``Authorization: Bearer <token>``; a browser
session cookie works too, with the ``X-CSRF-Token`` header on writes. Submissions of needs and
reports accept an ``Idempotency-Key`` header: the same key with the same body is stored once and
answers the stored response again (header ``Idempotent-Replayed: true``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    Path,
    Query,
    Request,
    Security,
    UploadFile,
)
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select

from econplan.service import store
from econplan.service.deps import Ctx, check_api, context, state
from econplan.service.models import ROLES, AuditEntry, User, iso


def _no_control(v: str) -> str:
    if any(ord(c) < 32 and c not in "\t" for c in v):
        raise ValueError("control characters are not allowed")
    return v


Str = Annotated[str, Field(max_length=200), AfterValidator(_no_control)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Number = Annotated[float, Field(ge=0, allow_inf_nan=False, le=1e300)]


class Error(BaseModel):
    """An error: one line saying what is wrong."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error} for code in (400, 401, 403, 404, 409, 413)
}

bearer = HTTPBearer(auto_error=False, description="token from POST /api/session")
router = APIRouter(prefix="/api", responses=ERRORS, dependencies=[Security(bearer)])


def need(*roles: str) -> Any:
    """Dependency: the caller, who must have one of ``roles`` (any role if none given)."""

    def dep(request: Request, ctx: Ctx = Depends(context)) -> User:
        return check_api(request, ctx, roles or None)

    return Depends(dep)


# --------------------------------------------------------------------------- models


class LoginIn(BaseModel):
    username: Str
    password: Annotated[str, Field(max_length=1000)]


class SessionOut(BaseModel):
    token: str
    csrf_token: str
    role: str
    must_change_password: bool


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    must_change_password: bool
    techniques: list[str]


class PasswordIn(BaseModel):
    old_password: Annotated[str, Field(max_length=1000)]
    new_password: Annotated[str, Field(max_length=1000)]


class UserIn(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_control)]
    role: Literal["admin", "person", "council", "workplace"]
    display_name: Str = ""
    techniques: list[Str] = Field(default_factory=list, max_length=1000)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    must_change_password: bool
    techniques: list[str]


class UserCreatedOut(UserOut):
    one_time_password: str


class ActiveIn(BaseModel):
    active: bool


class PeriodOut(BaseModel):
    id: int
    name: str
    label: str
    bundle_sha256: str
    created_at: str


class PeriodDetailOut(PeriodOut):
    products: list[dict[str, str]]
    techniques: list[dict[str, str]]
    resources: list[dict[str, str]]
    target_rules: dict[str, str]


class NeedIn(BaseModel):
    product: Str
    quantity: Number


class NeedOut(BaseModel):
    id: int
    period_id: int
    product: str
    quantity: float
    created_at: str


class NeedSummaryOut(BaseModel):
    product: str
    people: int
    total: float


class OverrideIn(BaseModel):
    product: Str
    priority: Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)] | None = None
    floor: Number | None = None


class TargetsIn(BaseModel):
    rule: Literal["sum", "stated"] = "sum"
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=100000)


class TargetOut(BaseModel):
    product: str
    target: float
    priority: float
    floor: float
    rule: str


class ReportIn(BaseModel):
    technique: Str
    capacity: Number | None = None
    actual_output: Number | None = None


class ReportOut(BaseModel):
    id: int
    period_id: int
    technique: str
    capacity: float | None
    actual_output: float | None
    created_at: str


class PlanRunIn(BaseModel):
    objective: Literal["fulfilment", "min-labour", "harmony"] = "fulfilment"


class JobOut(BaseModel):
    id: int
    period_id: int
    status: str
    progress: int
    message: str
    objective: str
    plan_id: int | None
    created_at: str
    finished_at: str | None


class PlanOut(BaseModel):
    id: int
    period_id: int
    number: int
    status: str
    objective: str
    fulfilment: float | None
    inputs_sha256: str
    duality_gap: float | None
    primal_residual: float | None
    dual_residual: float | None
    created_at: str


class PlanDetailOut(PlanOut):
    summary: dict[str, Any]
    products: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    resources: list[dict[str, Any]]


class DiffCell(BaseModel):
    a: float | None
    b: float | None
    delta: float | None


class DiffOut(BaseModel):
    a: PlanOut
    b: PlanOut
    fulfilment_delta: float | None
    same_inputs: bool
    products: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    activities: list[dict[str, Any]]


class ImpactOut(BaseModel):
    period_id: int
    plan_now: int | None
    plan_before: int | None
    needs: list[dict[str, Any]]
    techniques: list[dict[str, Any]]


class AuditOut(BaseModel):
    id: int
    at: str
    user_id: int | None
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any]


def _user_out(s: Any, u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role,
        "active": u.active,
        "must_change_password": u.must_change_password,
        "techniques": store.techniques_of(s, u),
    }


def _period_out(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "label": p.label,
        "bundle_sha256": p.bundle_sha256,
        "created_at": iso(p.created_at),
    }


# --------------------------------------------------------------------------- session


@router.post("/session", response_model=SessionOut, tags=["session"])
def login(request: Request, body: LoginIn) -> dict[str, Any]:
    """Log in with username and password; returns a bearer token (12 h)."""
    db = state(request).db
    with db.write() as s:
        user = store.authenticate(s, body.username, body.password)
        if user is None:
            raise store.ServiceError(401, "wrong username or password")
        token, csrf = store.create_session(s, user)
        return {
            "token": token,
            "csrf_token": csrf,
            "role": user.role,
            "must_change_password": user.must_change_password,
        }


@router.delete("/session", status_code=204, tags=["session"])
def logout(request: Request, user: User = need()) -> Response:
    """End the current session."""
    ctx = context(request)
    with state(request).db.write() as s:
        if ctx.token:
            store.end_session(s, ctx.token)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, tags=["session"])
def me(request: Request, user: User = need()) -> dict[str, Any]:
    """Who am I."""
    with state(request).db.read() as s:
        out = _user_out(s, user)
    out.pop("active")
    return out


@router.post("/account/password", status_code=204, tags=["session"])
def change_password(request: Request, body: PasswordIn, user: User = need()) -> Response:
    """Change my password (required after the one-time password)."""
    with state(request).db.write() as s:
        u = s.get(User, user.id)
        assert u is not None
        store.change_password(s, u, body.old_password, body.new_password)
    return Response(status_code=204)


# --------------------------------------------------------------------------- accounts


@router.get("/users", response_model=list[UserOut], tags=["admin"])
def list_users(request: Request, user: User = need("admin")) -> list[dict[str, Any]]:
    """All accounts (admin)."""
    with state(request).db.read() as s:
        return [_user_out(s, u) for u in s.scalars(select(User).order_by(User.id))]


@router.post("/users", response_model=UserCreatedOut, status_code=201, tags=["admin"])
def create_user(request: Request, body: UserIn, user: User = need("admin")) -> dict[str, Any]:
    """Create an account; the one-time password is shown in this response only."""
    with state(request).db.write() as s:
        u, password = store.create_user(
            s, user, body.username, body.role, body.display_name, body.techniques
        )
        return {**_user_out(s, u), "one_time_password": password}


@router.post("/users/{user_id}/active", response_model=UserOut, tags=["admin"])
def set_active(
    request: Request, user_id: Id, body: ActiveIn, user: User = need("admin")
) -> dict[str, Any]:
    """Activate or deactivate an account (admin)."""
    with state(request).db.write() as s:
        u = store.set_active(s, user, user_id, body.active)
        return _user_out(s, u)


@router.post("/users/{user_id}/password", response_model=UserCreatedOut, tags=["admin"])
def reset_password(request: Request, user_id: Id, user: User = need("admin")) -> dict[str, Any]:
    """Give an account a new one-time password, shown in this response only (admin)."""
    with state(request).db.write() as s:
        u, password = store.reset_password(s, user, user_id)
        return {**_user_out(s, u), "one_time_password": password}


@router.get("/audit", response_model=list[AuditOut], tags=["admin"])
def audit_log(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    user: User = need("admin"),
) -> list[dict[str, Any]]:
    """The newest audit lines (admin)."""
    with state(request).db.read() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return [
            {
                "id": a.id,
                "at": iso(a.at),
                "user_id": a.user_id,
                "action": a.action,
                "entity": a.entity,
                "entity_id": a.entity_id,
                "detail": json.loads(a.detail_json),
            }
            for a in rows
        ]


# --------------------------------------------------------------------------- periods


@router.get("/periods", response_model=list[PeriodOut], tags=["periods"])
def list_periods(request: Request) -> list[dict[str, Any]]:
    """Planning periods, newest first (public)."""
    from econplan.service.models import Period

    with state(request).db.read() as s:
        return [_period_out(p) for p in s.scalars(select(Period).order_by(Period.id.desc()))]


@router.post("/periods", response_model=PeriodOut, status_code=201, tags=["periods"])
def create_period(
    request: Request,
    name: Annotated[str, Form(max_length=200)],
    bundle: Annotated[UploadFile, File(description="the economy bundle as a zip")],
    user: User = need("admin"),
) -> dict[str, Any]:
    """Load an economy bundle (zip of its CSV/Parquet files) as a new planning period."""
    _no_control_or_400(name, "name")
    data = bundle.file.read(store.MAX_BUNDLE_BYTES + 1)
    files = store.read_bundle_zip(data)
    with state(request).db.write() as s:
        return _period_out(store.create_period(s, user, name, files))


def _no_control_or_400(v: str, what: str) -> None:
    try:
        _no_control(v)
    except ValueError:
        raise store.ServiceError(400, f"{what}: control characters are not allowed") from None


@router.get("/periods/{period_id}", response_model=PeriodDetailOut, tags=["periods"])
def get_period(request: Request, period_id: Id) -> dict[str, Any]:
    """A period's economy: products, techniques, resources (public)."""
    with state(request).db.read() as s:
        p = store.get_period(s, period_id)
        t = store.economy_tables(p)
        return {
            **_period_out(p),
            "products": t["products"],
            "techniques": t["techniques"],
            "resources": t["resources"],
            "target_rules": store.TARGET_RULES,
        }


# --------------------------------------------------------------------------- needs


@router.post("/periods/{period_id}/needs", response_model=NeedOut, status_code=201, tags=["person"])
def submit_need(
    request: Request,
    period_id: Id,
    body: NeedIn,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    user: User = need("person"),
) -> JSONResponse:
    """State a need (person). The latest need per product is the one that counts."""
    db = state(request).db
    payload = {"period": period_id, **body.model_dump()}

    def write(s: Any) -> tuple[int, dict[str, Any]]:
        return 201, store.need_out(store.add_need(s, user, period_id, body.product, body.quantity))

    status, out, replayed = store.idempotent(db, user, idempotency_key, payload, write)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(out, status_code=status, headers=headers)


@router.get("/periods/{period_id}/needs/mine", response_model=list[NeedOut], tags=["person"])
def list_my_needs(request: Request, period_id: Id, user: User = need("person")) -> list[dict]:
    """My stated needs in the period, newest first (person; nobody else sees them)."""
    with state(request).db.read() as s:
        store.get_period(s, period_id)
        return [store.need_out(n) for n in store.my_needs(s, user, period_id)]


@router.get(
    "/periods/{period_id}/needs/summary", response_model=list[NeedSummaryOut], tags=["council"]
)
def needs_summary(request: Request, period_id: Id, user: User = need("council", "admin")) -> list:
    """Stated needs aggregated per product: people and total (council, admin)."""
    with state(request).db.read() as s:
        store.get_period(s, period_id)
        return store.needs_summary(s, period_id)


# --------------------------------------------------------------------------- targets & plans


@router.get("/periods/{period_id}/targets", response_model=list[TargetOut], tags=["council"])
def get_targets(request: Request, period_id: Id) -> list[dict[str, Any]]:
    """The period's targets, priorities and floors (public)."""
    with state(request).db.read() as s:
        return store.targets(s, store.get_period(s, period_id))


@router.put("/periods/{period_id}/targets", response_model=list[TargetOut], tags=["council"])
def put_targets(
    request: Request, period_id: Id, body: TargetsIn, user: User = need("council")
) -> list[dict[str, Any]]:
    """Turn stated needs into targets by a rule, with priority/floor overrides (council)."""
    with state(request).db.write() as s:
        return store.set_targets(
            s, user, period_id, body.rule, [o.model_dump() for o in body.overrides]
        )


@router.post("/periods/{period_id}/plans", response_model=JobOut, status_code=202, tags=["council"])
def run_plan(
    request: Request, period_id: Id, body: PlanRunIn, user: User = need("council")
) -> dict[str, Any]:
    """Start a plan run (council); poll GET /api/jobs/{id} for progress."""
    return state(request).runner.submit(user, period_id, body.objective)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["plans"])
def get_job(request: Request, job_id: Id) -> dict[str, Any]:
    """A plan job's status and progress (public)."""
    with state(request).db.read() as s:
        return store.job_out(store.get_job(s, job_id))


@router.get("/periods/{period_id}/plans", response_model=list[PlanOut], tags=["plans"])
def list_plans(request: Request, period_id: Id) -> list[dict[str, Any]]:
    """A period's plan versions, newest first (public)."""
    with state(request).db.read() as s:
        store.get_period(s, period_id)
        return [store.plan_out(p) for p in store.plans_of(s, period_id)]


@router.get("/plans/{plan_id}", response_model=PlanDetailOut, tags=["plans"])
def get_plan(request: Request, plan_id: Id) -> dict[str, Any]:
    """One plan version with its certificate and tables (public)."""
    with state(request).db.read() as s:
        return store.plan_out(store.get_plan(s, plan_id), tables=True)


@router.get("/plans/{plan_a}/diff/{plan_b}", response_model=DiffOut, tags=["plans"])
def diff(request: Request, plan_a: Id, plan_b: Id) -> dict[str, Any]:
    """What changed from version a to version b (public)."""
    with state(request).db.read() as s:
        return store.diff_plans(store.get_plan(s, plan_a), store.get_plan(s, plan_b))


@router.get("/periods/{period_id}/impact", response_model=ImpactOut, tags=["plans"])
def impact(
    request: Request, period_id: Id, user: User = need("person", "workplace")
) -> dict[str, Any]:
    """How my input moved the plan: latest version vs the one before (person, workplace)."""
    with state(request).db.read() as s:
        return store.impact(s, user, period_id)


# --------------------------------------------------------------------------- workplaces


@router.post(
    "/periods/{period_id}/reports", response_model=ReportOut, status_code=201, tags=["workplace"]
)
def submit_report(
    request: Request,
    period_id: Id,
    body: ReportIn,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    user: User = need("workplace"),
) -> JSONResponse:
    """Report capacity and/or actual output for one of my techniques (workplace)."""
    db = state(request).db
    payload = {"period": period_id, **body.model_dump()}

    def write(s: Any) -> tuple[int, dict[str, Any]]:
        rep = store.add_report(
            s, user, period_id, body.technique, body.capacity, body.actual_output
        )
        return 201, store.report_out(rep)

    status, out, replayed = store.idempotent(db, user, idempotency_key, payload, write)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(out, status_code=status, headers=headers)


@router.get("/periods/{period_id}/reports/mine", response_model=list[ReportOut], tags=["workplace"])
def list_my_reports(
    request: Request, period_id: Id, user: User = need("workplace")
) -> list[dict[str, Any]]:
    """My reports in the period, newest first (workplace)."""
    with state(request).db.read() as s:
        store.get_period(s, period_id)
        return [store.report_out(r) for r in store.my_reports(s, user, period_id)]


# --------------------------------------------------------------------------- export


@router.get(
    "/export",
    tags=["open data"],
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "zip of CSV/JSON"}},
)
def export(request: Request) -> Response:
    """Open data: economies, targets, aggregated needs and every plan version (no personal data)."""
    with state(request).db.read() as s:
        data = store.export_zip(s)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="econplan-open-data.zip"'},
    )


__all__ = ["router", "ROLES"]
