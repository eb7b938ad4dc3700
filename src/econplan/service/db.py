"""Database engine, sessions, migrations and first-start bootstrap.

SQLite (default, a file in the working directory) runs in WAL mode with a busy timeout,
``synchronous=FULL`` (a committed write survives a crash of the process and of the machine) and
foreign keys on; write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue
on the busy timeout instead of failing on a lock upgrade. PostgreSQL is used by URL
(``postgresql+psycopg://…``). Migrations (Alembic) run at start.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from econplan.service.models import Secret, User

HERE = Path(__file__).resolve().parent
DEFAULT_DB_URL = "sqlite:///econplan.db"


def normalise_url(url: str | None) -> str:
    """Return a SQLAlchemy URL; ``postgresql://`` is mapped to the psycopg (v3) driver."""
    url = url or DEFAULT_DB_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str | None) -> Engine:
    """Create the engine for ``url`` with the SQLite settings described in the module doc."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 60, "check_same_thread": False},
            pool_size=20,
            max_overflow=80,
            pool_timeout=60,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            write = conn.get_execution_options().get("econplan_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_size=20, max_overflow=80, pool_timeout=60, pool_pre_ping=True)


@dataclass
class Database:
    """An engine with a read and a write session factory."""

    engine: Engine

    def __post_init__(self) -> None:
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(econplan_write=True), expire_on_commit=False
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads (rolled back at the end)."""
        with self._read() as s:
            try:
                yield s
            finally:
                s.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session for one write transaction: committed at the end, rolled back on error."""
        with self._write() as s:
            with s.begin():
                yield s

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def get_or_create_secret(db: Database, name: str) -> str:
    """Return the named secret, generating and storing it on first use."""
    with db.write() as s:
        row = s.get(Secret, name)
        if row is None:
            row = Secret(name=name, value=secrets.token_urlsafe(32))
            s.add(row)
        return row.value


def bootstrap_admin(db: Database) -> str | None:
    """Create the first admin if there is no account; return its one-time password (or None)."""
    from econplan.service import store
    from econplan.service.security import hash_password

    with db.write() as s:
        if s.scalar(select(User.id).limit(1)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        user = User(
            username="admin",
            display_name="Administrator",
            role="admin",
            password_hash=hash_password(password),
            must_change_password=True,
        )
        s.add(user)
        s.flush()
        store.audit(s, None, "create", "user", user.id, {"role": "admin", "bootstrap": True})
        return password
