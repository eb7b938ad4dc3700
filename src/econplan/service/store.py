"""Domain operations of the participation service: accounts, sessions, periods, needs,
targets, workplace reports, plan versions, diffs, impact and the open-data export.

Every function that writes takes the open write :class:`~sqlalchemy.orm.Session` of the caller
and records an :func:`audit` line in that same session, so the write and its audit line commit
or roll back together. Errors a participant can fix raise :class:`ServiceError` with an HTTP
status and a plain message.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import secrets
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from econplan.service.models import (
    ROLES,
    AuditEntry,
    IdempotencyKey,
    Job,
    Need,
    Period,
    PlanVersion,
    Report,
    SessionRow,
    Target,
    User,
    WorkplaceTechnique,
    iso,
    utcnow,
)
from econplan.service.security import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    new_token,
    token_sha256,
    verify_dummy,
    verify_password,
)

SESSION_LIFETIME = dt.timedelta(hours=12)
BUNDLE_FILES = (
    "economy.toml",
    "products.csv",
    "techniques.csv",
    "inputs.csv",
    "resources.csv",
    "resource_use.csv",
    "needs.csv",
)
MAX_BUNDLE_BYTES = 50 * 1024 * 1024
TARGET_RULES = {
    "sum": "target = the bundle's collective need + the sum of every person's latest stated "
    "quantity for the product",
    "stated": "target = the sum of every person's latest stated quantity for the product "
    "(the bundle's collective needs are dropped)",
}
#: Aggregated stated needs are published only for products stated by at least this many people.
EXPORT_MIN_PEOPLE = 3


class ServiceError(Exception):
    """An error the client can fix: HTTP ``status`` and a one-line ``detail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def audit(
    s: Session,
    user_id: int | None,
    action: str,
    entity: str,
    entity_id: object = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one audit line to the caller's transaction."""
    s.add(
        AuditEntry(
            user_id=user_id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            detail_json=json.dumps(detail or {}, sort_keys=True, default=str),
        )
    )


def _finite(x: float, what: str, *, positive: bool = False) -> float:
    if not isinstance(x, int | float) or math.isnan(x) or math.isinf(x):
        raise ServiceError(400, f"{what} must be a finite number")
    if x < 0 or (positive and x == 0):
        raise ServiceError(400, f"{what} must be {'> 0' if positive else '>= 0'}, got {x}")
    return float(x)


# --------------------------------------------------------------------------- accounts


def create_user(
    s: Session,
    actor: User | None,
    username: str,
    role: str,
    display_name: str = "",
    techniques: Iterable[str] = (),
) -> tuple[User, str]:
    """Create an account with a one-time password (returned once, must be changed)."""
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise ServiceError(400, "username: 1-64 letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        raise ServiceError(400, f"role must be one of {', '.join(ROLES)}")
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise ServiceError(409, f"username {username!r} is taken")
    password = secrets.token_urlsafe(12)
    user = User(
        username=username,
        display_name=display_name.strip()[:200],
        role=role,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    s.add(user)
    s.flush()
    techs = sorted({t.strip() for t in techniques if t.strip()})
    if techs and role != "workplace":
        raise ServiceError(400, "only workplace accounts report for techniques")
    for t in techs:
        s.add(WorkplaceTechnique(user_id=user.id, technique=t))
    audit(s, actor.id if actor else None, "create", "user", user.id, {"role": role})
    return user, password


def set_active(s: Session, actor: User, user_id: int, active: bool) -> User:
    """Activate or deactivate an account (deactivating also ends its sessions)."""
    user = s.get(User, user_id)
    if user is None:
        raise ServiceError(404, f"no user {user_id}")
    if user.id == actor.id and not active:
        raise ServiceError(400, "you cannot deactivate your own account")
    user.active = active
    _forget_sessions_at_commit(s)
    if not active:
        s.execute(delete(SessionRow).where(SessionRow.user_id == user.id))
    audit(s, actor.id, "activate" if active else "deactivate", "user", user.id)
    return user


def reset_password(s: Session, actor: User, user_id: int) -> tuple[User, str]:
    """Give an account a new one-time password (shown once); its sessions end."""
    user = s.get(User, user_id)
    if user is None:
        raise ServiceError(404, f"no user {user_id}")
    password = secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    _forget_sessions_at_commit(s)
    s.execute(delete(SessionRow).where(SessionRow.user_id == user.id))
    audit(s, actor.id, "reset_password", "user", user.id)
    return user, password


def techniques_of(s: Session, user: User) -> list[str]:
    """The technique ids a workplace account reports for."""
    return list(
        s.scalars(
            select(WorkplaceTechnique.technique)
            .where(WorkplaceTechnique.user_id == user.id)
            .order_by(WorkplaceTechnique.technique)
        )
    )


def authenticate(s: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = s.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        verify_dummy(password)
        return None
    return user if verify_password(user.password_hash, password) else None


def create_session(s: Session, user: User) -> tuple[str, str]:
    """Start a session; returns (token, csrf token). Only the token's hash is stored."""
    token, csrf = new_token(), new_token()
    s.add(
        SessionRow(
            token_sha256=token_sha256(token),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=utcnow() + SESSION_LIFETIME,
        )
    )
    audit(s, user.id, "login", "session")
    return token, csrf


# Resolved sessions are cached for a few seconds (a session lookup is most of the cost of a
# small request). A commit that ends or changes a session or an account clears the cache; the
# generation counter keeps a lookup that raced with such a commit from re-filling it.
SESSION_CACHE_SECONDS = 5.0
_SESSION_CACHE: dict[str, tuple[float, User, str]] = {}
_SESSION_LOCK = threading.Lock()
_SESSION_GEN = [0]


def _forget_sessions_at_commit(s: Session) -> None:
    s.info["econplan_forget_sessions"] = True


@event.listens_for(Session, "after_commit")
def _after_commit(s: Session) -> None:
    if s.info.pop("econplan_forget_sessions", False):
        with _SESSION_LOCK:
            _SESSION_GEN[0] += 1
            _SESSION_CACHE.clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(s: Session) -> None:
    s.info.pop("econplan_forget_sessions", None)


def cached_session(db: Any, token: str) -> tuple[User, str] | None:
    """(user, csrf token) of a live session, from the cache or the database."""
    key = token_sha256(token)
    now = time.monotonic()
    with _SESSION_LOCK:
        hit = _SESSION_CACHE.get(key)
        gen = _SESSION_GEN[0]
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    with db.read() as s:
        found = lookup_session(s, token)
        if found is None:
            return None
        row, user = found
        s.expunge(user)
        csrf = row.csrf_token
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    left = (expires - utcnow()).total_seconds()
    with _SESSION_LOCK:
        if _SESSION_GEN[0] == gen:
            if len(_SESSION_CACHE) > 10000:
                _SESSION_CACHE.clear()
            _SESSION_CACHE[key] = (now + min(SESSION_CACHE_SECONDS, left), user, csrf)
    return user, csrf


def lookup_session(s: Session, token: str | None) -> tuple[SessionRow, User] | None:
    """The live session and its active user for ``token``, or None."""
    if not token or len(token) > 200:
        return None
    found = s.execute(
        select(SessionRow, User)
        .join(User, User.id == SessionRow.user_id)
        .where(SessionRow.token_sha256 == token_sha256(token))
    ).first()
    if found is None:
        return None
    row, user = found
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    if expires < utcnow() or not user.active:
        return None
    return row, user


def end_session(s: Session, token: str) -> None:
    """Log out: delete the session."""
    row = s.get(SessionRow, token_sha256(token))
    _forget_sessions_at_commit(s)
    if row is not None:
        audit(s, row.user_id, "logout", "session")
        s.delete(row)


def change_password(s: Session, user: User, old: str, new: str) -> None:
    """Change a password (the old one must match; the new one ≥ 10 characters, different)."""
    if not verify_password(user.password_hash, old):
        raise ServiceError(400, "the current password is wrong")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise ServiceError(400, f"the new password needs at least {MIN_PASSWORD_LENGTH} characters")
    if new == old:
        raise ServiceError(400, "the new password must differ from the old one")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    _forget_sessions_at_commit(s)
    audit(s, user.id, "change_password", "user", user.id)


# --------------------------------------------------------------------------- bundles


def _read_csv(text: str) -> list[dict[str, str]]:
    return [
        {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        for row in csv.DictReader(io.StringIO(text))
    ]


def _write_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: _fmt(r.get(c)) for c in columns})
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v)
    return str(v)


def files_sha256(files: dict[str, str]) -> str:
    """SHA-256 of bundle files (name + content, in name order)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()


def read_bundle_dir(path: Path) -> dict[str, str]:
    """Validate the bundle at ``path`` with the core reader and return its files as text.

    CSV bundles are stored as given; a Parquet bundle is converted to CSV by the core writer.
    Raises :class:`ServiceError` (400) with the core's one-line message on bad input.
    """
    from econplan.errors import EconplanError

    path = Path(path)
    try:
        import econplan

        economy = econplan.load(path)
    except EconplanError as e:
        raise ServiceError(400, f"bad bundle: {e}") from None
    except (ImportError, AttributeError):  # core reader not available yet: check files only
        economy = None
    files: dict[str, str] = {}
    has_parquet = any((path / n).with_suffix(".parquet").exists() for n in BUNDLE_FILES)
    if has_parquet and economy is not None:
        from econplan.bundle import write_bundle

        with tempfile.TemporaryDirectory() as tmp:
            write_bundle(economy, Path(tmp))
            return read_bundle_dir(Path(tmp))
    for name in BUNDLE_FILES:
        p = path / name
        if p.exists():
            try:
                files[name] = p.read_bytes().decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError:
                raise ServiceError(400, f"bad bundle: {name}: not valid UTF-8") from None
    for required in ("economy.toml", "products.csv", "techniques.csv", "resources.csv"):
        if required not in files:
            raise ServiceError(400, f"bad bundle: {required}: missing required file")
    return files


def read_bundle_zip(data: bytes) -> dict[str, str]:
    """Read a bundle uploaded as a zip (files at the top level or in one folder)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ServiceError(413, "bundle larger than 50 MiB")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ServiceError(400, "bundle: not a zip file") from None
    wanted = set(BUNDLE_FILES) | {Path(n).with_suffix(".parquet").name for n in BUNDLE_FILES}
    with tempfile.TemporaryDirectory() as tmp:
        total = 0
        for info in zf.infolist():
            name = Path(info.filename).name  # never trust paths inside the zip
            if info.is_dir() or name not in wanted:
                continue
            total += info.file_size
            if total > MAX_BUNDLE_BYTES:
                raise ServiceError(413, "bundle larger than 50 MiB unpacked")
            try:
                data_i = zf.read(info)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                    EOFError, OSError, ValueError) as exc:
                # a bad CRC, corrupt or unsupported compression, an encrypted entry (an
                # outside check, session 26: each was a 500)
                raise ServiceError(400, f"bundle: {name} in the zip cannot be read "
                                        f"(corrupt or unsupported: {type(exc).__name__})"
                                   ) from None
            (Path(tmp) / name).write_bytes(data_i)
        try:
            return read_bundle_dir(Path(tmp))
        except ServiceError as e:  # name the files as in the zip, not the server's folder
            raise ServiceError(e.status, e.detail.replace(str(Path(tmp)) + "/", "")) from None


def create_period(s: Session, actor: User | None, name: str, files: dict[str, str]) -> Period:
    """Store a new planning period with its economy."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ServiceError(400, "name: 1-200 characters")
    label = ""
    for line in files.get("economy.toml", "").splitlines():
        if line.strip().startswith("period") and "=" in line:
            label = line.split("=", 1)[1].strip().strip('"')[:200]
    period = Period(
        name=name, label=label, bundle_json=json.dumps(files), bundle_sha256=files_sha256(files)
    )
    s.add(period)
    s.flush()
    audit(s, actor.id if actor else None, "create", "period", period.id, {"name": name})
    return period


def get_period(s: Session, period_id: int) -> Period:
    """The period or a 404."""
    p = s.get(Period, period_id)
    if p is None:
        raise ServiceError(404, f"no period {period_id}")
    return p


def latest_period(s: Session) -> Period | None:
    """The newest period."""
    return s.scalar(select(Period).order_by(Period.id.desc()).limit(1))


def bundle_files(period: Period) -> dict[str, str]:
    """The stored bundle files of a period."""
    return json.loads(period.bundle_json)


_TABLES: dict[tuple[int, str], dict[str, list[dict[str, str]]]] = {}
_TABLES_LOCK = threading.Lock()


def economy_tables(period: Period) -> dict[str, list[dict[str, str]]]:
    """Products, techniques, resources and base needs of a period (rows of strings).

    A period's economy never changes, so the parsed tables are cached by (id, bundle hash);
    treat the result as read-only.
    """
    key = (period.id, period.bundle_sha256)
    with _TABLES_LOCK:
        hit = _TABLES.get(key)
    if hit is not None:
        return hit
    files = bundle_files(period)
    tables = {
        k: _read_csv(files.get(f"{k}.csv", ""))
        for k in ("products", "techniques", "resources", "needs")
    }
    with _TABLES_LOCK:
        if len(_TABLES) > 32:
            _TABLES.clear()
        _TABLES[key] = tables
    return tables


def product_ids(period: Period) -> list[str]:
    """Ids of the period's products, in file order."""
    return [r["id"] for r in economy_tables(period)["products"]]


_IDS: dict[tuple[int, str, str], frozenset[str]] = {}


def known_ids(period: Period, table: str) -> frozenset[str]:
    """The ids in one of the period's tables (``products`` or ``techniques``), cached."""
    key = (period.id, period.bundle_sha256, table)
    ids = _IDS.get(key)
    if ids is None:
        ids = frozenset(r["id"] for r in economy_tables(period)[table])
        with _TABLES_LOCK:
            if len(_IDS) > 64:
                _IDS.clear()
            _IDS[key] = ids
    return ids


# --------------------------------------------------------------------------- idempotency


def idempotent(
    db: Any,
    user: User,
    key: str | None,
    payload: dict[str, Any],
    write: Callable[[Session], tuple[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any], bool]:
    """Run ``write`` once per (user, key); returns (status, body, replayed).

    The key's row is inserted in the same transaction as the write it guards: a twin request
    either sees the committed row and gets the stored response, or hits the unique constraint
    (its whole transaction, write included, rolls back) and then reads the stored response.
    The same key with a different body is refused (409).
    """
    request_sha = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    if key is None:
        status, body = db.run_write(write)
        return status, body, False
    if not key or len(key) > 200:
        raise ServiceError(400, "Idempotency-Key: 1-200 characters")

    def once(s: Session) -> tuple[int, dict[str, Any], bool]:
        row = s.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user.id, IdempotencyKey.key == key
            )
        )
        if row is not None:
            if row.request_sha256 != request_sha:
                raise ServiceError(409, "Idempotency-Key was already used with a different request")
            return row.status_code, json.loads(row.response_json), True
        status, body = write(s)
        # the key's row goes in last, with the response, in the same transaction: a twin
        # that got here first makes this insert fail and everything roll back
        s.add(
            IdempotencyKey(
                user_id=user.id,
                key=key,
                request_sha256=request_sha,
                status_code=status,
                response_json=json.dumps(body, default=str),
            )
        )
        s.flush()
        return status, body, False

    for _ in range(10):
        try:
            return db.run_write(once)
        except IntegrityError:
            continue  # a twin won the race; the next round reads its stored response
    raise ServiceError(409, "Idempotency-Key conflict, retry")


# --------------------------------------------------------------------------- needs


def need_out(n: Need) -> dict[str, Any]:
    """JSON form of a need."""
    return {
        "id": n.id,
        "period_id": n.period_id,
        "product": n.product,
        "quantity": n.quantity,
        "created_at": iso(n.created_at),
    }


def add_need(s: Session, user: User, period_id: int, product: str, quantity: float) -> Need:
    """Record a person's stated need (the latest per product is the one that counts)."""
    period = get_period(s, period_id)
    if product not in known_ids(period, "products"):
        raise ServiceError(400, f"product {product!r} is not in period {period_id}'s economy")
    quantity = _finite(quantity, "quantity")
    need = Need(period_id=period.id, user_id=user.id, product=product, quantity=quantity)
    s.add(need)
    s.flush()
    audit(s, user.id, "create", "need", need.id, {"period": period.id, "product": product})
    return need


def my_needs(s: Session, user: User, period_id: int) -> list[Need]:
    """Every need this user stated in the period, newest first."""
    return list(
        s.scalars(
            select(Need)
            .where(Need.period_id == period_id, Need.user_id == user.id)
            .order_by(Need.id.desc())
        )
    )


def latest_needs(s: Session, period_id: int) -> dict[tuple[int, str], float]:
    """Latest stated quantity per (user, product) in a period."""
    latest = (
        select(func.max(Need.id))
        .where(Need.period_id == period_id)
        .group_by(Need.user_id, Need.product)
    )
    rows = s.execute(select(Need.user_id, Need.product, Need.quantity).where(Need.id.in_(latest)))
    return {(u, p): q for u, p, q in rows}


def needs_summary(s: Session, period_id: int) -> list[dict[str, Any]]:
    """Per product: number of people and total of their latest stated quantities."""
    agg: dict[str, list[float]] = {}
    for (_u, p), q in latest_needs(s, period_id).items():
        agg.setdefault(p, []).append(q)
    return [
        {"product": p, "people": len(qs), "total": float(sum(qs))} for p, qs in sorted(agg.items())
    ]


# --------------------------------------------------------------------------- targets


def targets(s: Session, period: Period) -> list[dict[str, Any]]:
    """The period's targets: the council's if set, else the bundle's needs (rule 'bundle')."""
    rows = list(
        s.scalars(select(Target).where(Target.period_id == period.id).order_by(Target.product))
    )
    if rows:
        return [
            {
                "product": t.product,
                "target": t.target,
                "priority": t.priority,
                "floor": t.floor,
                "rule": t.rule,
            }
            for t in rows
        ]
    out = []
    for r in economy_tables(period)["needs"]:
        out.append(
            {
                "product": r["product"],
                "target": float(r.get("target") or 0),
                "priority": float(r.get("priority") or 1),
                "floor": float(r.get("floor") or 0),
                "rule": "bundle",
            }
        )
    return sorted(out, key=lambda r: r["product"])


def set_targets(
    s: Session,
    actor: User,
    period_id: int,
    rule: str,
    overrides: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Turn stated needs into targets by ``rule`` (see TARGET_RULES) and apply overrides.

    Base priority and floor come from the bundle's needs.csv (1 and 0 if absent). An override
    sets a product's ``priority`` (> 0) and/or ``floor`` (0 ≤ floor ≤ target); a floor above
    the target is refused.
    """
    period = get_period(s, period_id)
    if rule not in TARGET_RULES:
        raise ServiceError(400, f"rule must be one of {', '.join(TARGET_RULES)}")
    products = set(product_ids(period))
    base = {
        r["product"]: (
            float(r.get("target") or 0),
            float(r.get("priority") or 1),
            float(r.get("floor") or 0),
        )
        for r in economy_tables(period)["needs"]
    }
    stated = {row["product"]: row["total"] for row in needs_summary(s, period.id)}
    result: dict[str, dict[str, Any]] = {}
    for p in sorted(products):
        b_target, b_prio, b_floor = base.get(p, (0.0, 1.0, 0.0))
        target = stated.get(p, 0.0) + (b_target if rule == "sum" else 0.0)
        if target <= 0 and p not in base and p not in stated:
            continue
        result[p] = {
            "product": p,
            "target": target,
            "priority": b_prio,
            "floor": min(b_floor, target),
            "rule": rule,
        }
    for o in overrides:
        p = o.get("product")
        if p not in products:
            raise ServiceError(400, f"override: product {p!r} is not in the economy")
        row = result.setdefault(
            p, {"product": p, "target": 0.0, "priority": 1.0, "floor": 0.0, "rule": rule}
        )
        if o.get("priority") is not None:
            row["priority"] = _finite(o["priority"], f"priority of {p}", positive=True)
        if o.get("floor") is not None:
            floor = _finite(o["floor"], f"floor of {p}")
            if floor > row["target"]:
                raise ServiceError(
                    400, f"floor of {p} ({floor}) is above its target ({row['target']})"
                )
            row["floor"] = floor
    s.execute(delete(Target).where(Target.period_id == period.id))
    for row in result.values():
        s.add(Target(period_id=period.id, **row))
    audit(
        s,
        actor.id,
        "set",
        "targets",
        period.id,
        {"rule": rule, "overrides": overrides, "products": len(result)},
    )
    return sorted(result.values(), key=lambda r: r["product"])


# --------------------------------------------------------------------------- workplaces


def report_out(r: Report) -> dict[str, Any]:
    """JSON form of a workplace report."""
    return {
        "id": r.id,
        "period_id": r.period_id,
        "technique": r.technique,
        "capacity": r.capacity,
        "actual_output": r.actual_output,
        "created_at": iso(r.created_at),
    }


def add_report(
    s: Session,
    user: User,
    period_id: int,
    technique: str,
    capacity: float | None,
    actual_output: float | None,
) -> Report:
    """Record a workplace report for one of its techniques."""
    period = get_period(s, period_id)
    if technique not in known_ids(period, "techniques"):
        raise ServiceError(400, f"technique {technique!r} is not in period {period_id}'s economy")
    if technique not in techniques_of(s, user):
        raise ServiceError(403, f"your workplace does not report for technique {technique!r}")
    if capacity is None and actual_output is None:
        raise ServiceError(400, "report a capacity, an actual output or both")
    cap = None if capacity is None else _finite(capacity, "capacity")
    out = None if actual_output is None else _finite(actual_output, "actual_output")
    rep = Report(
        period_id=period.id, user_id=user.id, technique=technique, capacity=cap, actual_output=out
    )
    s.add(rep)
    s.flush()
    audit(s, user.id, "create", "report", rep.id, {"period": period.id, "technique": technique})
    return rep


def my_reports(s: Session, user: User, period_id: int) -> list[Report]:
    """This workplace's reports in the period, newest first."""
    return list(
        s.scalars(
            select(Report)
            .where(Report.period_id == period_id, Report.user_id == user.id)
            .order_by(Report.id.desc())
        )
    )


def reported_capacities(s: Session, period_id: int) -> dict[str, float]:
    """Latest reported capacity per technique in a period."""
    latest = (
        select(func.max(Report.id))
        .where(Report.period_id == period_id, Report.capacity.is_not(None))
        .group_by(Report.technique)
    )
    return {
        t: c
        for t, c in s.execute(
            select(Report.technique, Report.capacity).where(Report.id.in_(latest))
        )
    }


def reported_outputs(s: Session, period_id: int) -> dict[str, float]:
    """Latest reported actual output per technique in a period."""
    latest = (
        select(func.max(Report.id))
        .where(Report.period_id == period_id, Report.actual_output.is_not(None))
        .group_by(Report.technique)
    )
    rows = s.execute(select(Report.technique, Report.actual_output).where(Report.id.in_(latest)))
    return {t: o for t, o in rows}


# --------------------------------------------------------------------------- plan inputs


def plan_inputs(s: Session, period: Period) -> dict[str, str]:
    """The bundle a plan of this period runs on: the economy, with the current targets as
    needs.csv and the latest reported capacities in techniques.csv."""
    files = dict(bundle_files(period))
    tg = targets(s, period)
    files["needs.csv"] = _write_csv(tg, ["product", "target", "priority", "floor"])
    caps = reported_capacities(s, period.id)
    if caps:
        text = files["techniques.csv"]
        reader = csv.DictReader(io.StringIO(text))
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if "capacity" not in cols:
            cols.append("capacity")
        rows = _read_csv(text)
        for r in rows:
            if r.get("id") in caps:
                r["capacity"] = repr(float(caps[r["id"]]))
        files["techniques.csv"] = _write_csv(rows, cols)
    return files


# --------------------------------------------------------------------------- plan versions


def plan_out(p: PlanVersion, *, tables: bool = False) -> dict[str, Any]:
    """JSON form of a plan version (with its tables if ``tables``)."""
    out: dict[str, Any] = {
        "id": p.id,
        "period_id": p.period_id,
        "number": p.number,
        "status": p.status,
        "objective": p.objective,
        "fulfilment": p.fulfilment,
        "inputs_sha256": p.inputs_sha256,
        "duality_gap": p.duality_gap,
        "primal_residual": p.primal_residual,
        "dual_residual": p.dual_residual,
        "created_at": iso(p.created_at),
    }
    if tables:
        out["summary"] = json.loads(p.summary_json)
        out["products"] = json.loads(p.products_json)
        out["activities"] = json.loads(p.activities_json)
        out["resources"] = json.loads(p.resources_json)
    return out


def get_plan(s: Session, plan_id: int) -> PlanVersion:
    """The plan version or a 404."""
    p = s.get(PlanVersion, plan_id)
    if p is None:
        raise ServiceError(404, f"no plan {plan_id}")
    return p


def plans_of(s: Session, period_id: int) -> list[PlanVersion]:
    """Plan versions of a period, newest first."""
    return list(
        s.scalars(
            select(PlanVersion)
            .where(PlanVersion.period_id == period_id)
            .order_by(PlanVersion.number.desc())
        )
    )


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _delta(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return None if a is None or b is None else b - a


def diff_plans(a: PlanVersion, b: PlanVersion) -> dict[str, Any]:
    """What changed from plan ``a`` to plan ``b``: headline, products, resources, activities."""

    def index(text: str, key: str) -> dict[str, dict[str, Any]]:
        return {str(r[key]): r for r in json.loads(text)}

    def compare(ta: str, tb: str, key: str, fields: list[str]) -> list[dict[str, Any]]:
        ia, ib = index(ta, key), index(tb, key)
        rows = []
        for k in sorted(set(ia) | set(ib)):
            ra, rb = ia.get(k, {}), ib.get(k, {})
            row: dict[str, Any] = {key: k}
            changed = False
            for f in fields:
                va, vb = _num(ra.get(f)), _num(rb.get(f))
                d = _delta(va, vb)
                row[f] = {"a": va, "b": vb, "delta": d}
                if va != vb and not (d is not None and abs(d) <= 1e-9 * max(1.0, abs(va or 0))):
                    changed = True  # beyond solver noise (1e-9 relative)
            row["changed"] = changed
            rows.append(row)
        return rows

    return {
        "a": plan_out(a),
        "b": plan_out(b),
        "fulfilment_delta": _delta(a.fulfilment, b.fulfilment),
        "same_inputs": a.inputs_sha256 == b.inputs_sha256,
        "products": compare(
            a.products_json,
            b.products_json,
            "product",
            ["target", "floor", "net_output", "gross_output", "fulfilment", "valuation"],
        ),
        "resources": compare(
            a.resources_json, b.resources_json, "resource", ["used", "available", "valuation"]
        ),
        "activities": compare(
            a.activities_json, b.activities_json, "technique", ["level", "capacity", "valuation"]
        ),
    }


def impact(s: Session, user: User, period_id: int) -> dict[str, Any]:
    """How this participant's input moved the plan: latest version vs the one before.

    A person gets, per product they stated a need for: their quantity, the target, its
    fulfilment now and before, the valuation (labour per unit) and what their need costs at
    that valuation. A workplace gets, per technique: its reported capacity, the planned level
    and the capacity's valuation (fulfilment gained per extra unit) now and before.
    """
    period = get_period(s, period_id)
    versions = plans_of(s, period.id)
    now = versions[0] if versions else None
    before = versions[1] if len(versions) > 1 else None

    def table(p: PlanVersion | None, which: str, key: str) -> dict[str, dict[str, Any]]:
        if p is None:
            return {}
        return {str(r[key]): r for r in json.loads(getattr(p, f"{which}_json"))}

    out: dict[str, Any] = {
        "period_id": period.id,
        "plan_now": now.number if now else None,
        "plan_before": before.number if before else None,
        "needs": [],
        "techniques": [],
    }
    if user.role == "person":
        pn, pb = table(now, "products", "product"), table(before, "products", "product")
        mine = {p: q for (u, p), q in latest_needs(s, period.id).items() if u == user.id}
        for product, q in sorted(mine.items()):
            rn, rb = pn.get(product, {}), pb.get(product, {})
            val = _num(rn.get("valuation"))
            target = _num(rn.get("target"))
            out["needs"].append(
                {
                    "product": product,
                    "quantity": q,
                    "target": target,
                    "share_of_target": (q / target) if target else None,
                    "fulfilment_now": _num(rn.get("fulfilment")),
                    "fulfilment_before": _num(rb.get("fulfilment")),
                    "valuation": val,
                    "cost": None if val is None else val * q,
                }
            )
    if user.role == "workplace":
        an, ab = table(now, "activities", "technique"), table(before, "activities", "technique")
        caps = reported_capacities(s, period.id)
        outputs = reported_outputs(s, period.id)
        for t in techniques_of(s, user):
            rn, rb = an.get(t, {}), ab.get(t, {})
            out["techniques"].append(
                {
                    "technique": t,
                    "reported_capacity": caps.get(t),
                    "reported_output": outputs.get(t),
                    "level_now": _num(rn.get("level")),
                    "level_before": _num(rb.get("level")),
                    "capacity_valuation_now": _num(rn.get("valuation")),
                    "capacity_valuation_before": _num(rb.get("valuation")),
                }
            )
    return out


# --------------------------------------------------------------------------- jobs


def job_out(j: Job) -> dict[str, Any]:
    """JSON form of a job."""
    return {
        "id": j.id,
        "period_id": j.period_id,
        "status": j.status,
        "progress": j.progress,
        "message": j.message,
        "objective": j.objective,
        "plan_id": j.plan_id,
        "created_at": iso(j.created_at),
        "finished_at": iso(j.finished_at),
    }


def get_job(s: Session, job_id: int) -> Job:
    """The job or a 404."""
    j = s.get(Job, job_id)
    if j is None:
        raise ServiceError(404, f"no job {job_id}")
    return j


# --------------------------------------------------------------------------- export


def export_zip(s: Session) -> bytes:
    """The open-data export: every period's economy, targets, aggregated stated needs (only
    for products stated by at least EXPORT_MIN_PEOPLE people) and every plan version.

    It holds no personal data: no account, name, session, individual need or report,
    idempotency key or audit line.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        index: list[dict[str, Any]] = []
        for period in s.scalars(select(Period).order_by(Period.id)):
            base = f"period-{period.id}"
            for name, text in bundle_files(period).items():
                zf.writestr(f"{base}/economy/{name}", text)
            zf.writestr(
                f"{base}/targets.csv",
                _write_csv(targets(s, period), ["product", "target", "priority", "floor", "rule"]),
            )
            agg = [r for r in needs_summary(s, period.id) if r["people"] >= EXPORT_MIN_PEOPLE]
            zf.writestr(f"{base}/stated_needs.csv", _write_csv(agg, ["product", "people", "total"]))
            plans = []
            for p in sorted(plans_of(s, period.id), key=lambda p: p.number):
                pb = f"{base}/plans/{p.number}"
                zf.writestr(f"{pb}/summary.json", json.dumps(json.loads(p.summary_json), indent=1))
                for which in ("products", "activities", "resources"):
                    rows = json.loads(getattr(p, f"{which}_json"))
                    cols = list(rows[0]) if rows else []
                    zf.writestr(f"{pb}/{which}.csv", _write_csv(rows, cols))
                inputs = json.loads(p.inputs_json)
                for name, text in inputs.items():
                    zf.writestr(f"{pb}/inputs/{name}", text)
                plans.append(plan_out(p))
            index.append(
                {
                    "id": period.id,
                    "name": period.name,
                    "label": period.label,
                    "bundle_sha256": period.bundle_sha256,
                    "plans": plans,
                }
            )
        zf.writestr(
            "README.txt",
            "econplan open data: the economy of each planning period, the council's targets,\n"
            f"stated needs aggregated per product (products stated by >= {EXPORT_MIN_PEOPLE} "
            "people),\nand every plan version with its inputs and certificate. No personal "
            "data.\n",
        )
        zf.writestr("index.json", json.dumps({"periods": index}, indent=1))
    return buf.getvalue()
