"""SQLAlchemy 2 models of the participation service.

Personal data lives only in ``users`` (username, display name, password hash), ``sessions``,
``needs``/``reports`` (who stated what), ``idempotency_keys`` and ``audit_log``. Everything the
open-data export publishes (periods, targets, plans) is free of it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("admin", "person", "council", "workplace")


def utcnow() -> dt.datetime:
    """The current time in UTC (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime | None) -> str | None:
    """``t`` as ISO 8601 with its UTC offset: SQLite gives stored times back without one
    (an outside check, session 26: a job's created_at read "+00:00" when posted and no
    offset when read back)."""
    if t is None:
        return None
    return (t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)).isoformat()


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Secret(Base):
    """Server secrets generated on first start (never committed, never exported)."""

    __tablename__ = "secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class User(Base):
    """An account: admin, person, council member or workplace."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkplaceTechnique(Base):
    """Which techniques (by id) a workplace account reports for."""

    __tablename__ = "workplace_techniques"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    technique: Mapped[str] = mapped_column(String(200), primary_key=True)


class SessionRow(Base):
    """A login session; only the SHA-256 of the token is stored."""

    __tablename__ = "sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Period(Base):
    """A planning period with its economy (the canonical bundle files, as text)."""

    __tablename__ = "periods"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200), default="")
    bundle_json: Mapped[str] = mapped_column(Text, deferred=True)  # loaded only when needed
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Need(Base):
    """One stated need of a person: product and quantity. Latest per product counts."""

    __tablename__ = "needs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_needs_period_user", "period_id", "user_id"),)


class Target(Base):
    """The council's target for one product in one period."""

    __tablename__ = "targets"
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), primary_key=True)
    product: Mapped[str] = mapped_column(String(200), primary_key=True)
    target: Mapped[float] = mapped_column(Float)
    priority: Mapped[float] = mapped_column(Float, default=1.0)
    floor: Mapped[float] = mapped_column(Float, default=0.0)
    rule: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Report(Base):
    """A workplace's report for one technique: capacity and/or actual output."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    technique: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[float | None] = mapped_column(Float, nullable=True)
    actual_output: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_reports_period_tech", "period_id", "technique"),)


class IdempotencyKey(Base):
    """The stored response of a submission, keyed by (user, Idempotency-Key)."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)


class Job(Base):
    """A background plan run with its progress (0–100) and outcome."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    objective: Mapped[str] = mapped_column(String(32), default="fulfilment")
    plan_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PlanVersion(Base):
    """An immutable plan version: inputs, hash, certificate and all result tables (JSON)."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    objective: Mapped[str] = mapped_column(String(32))
    fulfilment: Mapped[float | None] = mapped_column(Float, nullable=True)
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    duality_gap: Mapped[float | None] = mapped_column(Float, nullable=True)
    primal_residual: Mapped[float | None] = mapped_column(Float, nullable=True)
    dual_residual: Mapped[float | None] = mapped_column(Float, nullable=True)
    summary_json: Mapped[str] = mapped_column(Text)
    products_json: Mapped[str] = mapped_column(Text)
    activities_json: Mapped[str] = mapped_column(Text)
    resources_json: Mapped[str] = mapped_column(Text)
    inputs_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (UniqueConstraint("period_id", "number", name="uq_plan_period_number"),)


class AuditEntry(Base):
    """One line of the audit log, written in the same transaction as the write it records."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    detail_json: Mapped[str] = mapped_column(Text, default="{}")


@event.listens_for(PlanVersion, "before_update")
def _plan_versions_are_immutable(_mapper: object, _conn: object, target: PlanVersion) -> None:
    """A stored plan version is public record: it is never changed (a new run adds one)."""
    raise PermissionError(f"plan version {target.id} is immutable")


@event.listens_for(AuditEntry, "before_update")
def _audit_is_append_only(_mapper: object, _conn: object, target: AuditEntry) -> None:
    """The audit log is append-only."""
    raise PermissionError("the audit log is append-only")
