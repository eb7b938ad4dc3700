"""Database engine, sessions, migrations and first-start bootstrap.

SQLite (default, a file in the working directory) runs in WAL mode with a busy timeout and
foreign keys on. ``synchronous`` is FULL by default: a committed (acknowledged) write survives a
crash of the process and of the machine, at one fsync per commit. ``ECONPLAN_SQLITE_SYNCHRONOUS=
NORMAL`` trades the power-loss guarantee for throughput (WAL + NORMAL still survives a killed
process: SQLite's own guarantee, and what the SIGKILL test checks).
Write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue
on the busy timeout instead of failing on a lock upgrade; inside one server process, writers
also queue on a lock first (SQLite's busy handler polls with sleeps, which under many
concurrent writers wastes most of the time the database is free). PostgreSQL is used by URL
(``postgresql+psycopg://…``). Migrations (Alembic) run at start.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from econplan.service.models import Secret, User

T = TypeVar("T")
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
        sync = os.environ.get("ECONPLAN_SQLITE_SYNCHRONOUS", "FULL").upper()
        if sync not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("ECONPLAN_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
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
            cur.execute(f"PRAGMA synchronous={sync}")
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
        self._lock = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self._committer: _GroupCommitter | None = None
        self._committer_lock = threading.Lock()
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(econplan_write=True), expire_on_commit=False
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; closed at the end (its objects stay readable, detached)."""
        with self._read() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session for one write transaction: committed at the end, rolled back on error."""
        if self._lock is None:
            with self._write() as s:
                with s.begin():
                    yield s
            return
        with self._lock, self._write() as s:
            with s.begin():
                yield s

    def run_write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a write transaction and return its result once committed.

        On SQLite, writes from concurrent requests are group-committed: a single writer thread
        runs each queued ``fn`` in its own SAVEPOINT inside one transaction and commits the
        batch with one fsync, then answers every caller. A failing ``fn`` rolls back only its
        savepoint and gets its exception; if the commit fails, every caller of the batch gets
        the error (nothing is acknowledged before its commit). On PostgreSQL this is a plain
        transaction per call.
        """
        if self._lock is None:
            with self.write() as s:
                return fn(s)
        if self._committer is None:
            with self._committer_lock:
                if self._committer is None:
                    self._committer = _GroupCommitter(self)
        return self._committer.submit(fn)

    def close(self) -> None:
        """Stop the group committer (if any) and dispose of the engine."""
        if self._committer is not None:
            self._committer.stop()
            self._committer = None
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name


class _GroupCommitter:
    """The writer thread of :meth:`Database.run_write` on SQLite (see there)."""

    MAX_BATCH = 128

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queue: queue.Queue[tuple[Callable[[Session], Any], Future[Any]] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="econplan-writer", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[[Session], T]) -> T:
        fut: Future[T] = Future()
        self.queue.put((fn, fut))
        return fut.result()

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.MAX_BATCH:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._run(batch)

    def _run(self, batch: list[tuple[Callable[[Session], Any], Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with self.db.write() as s:
                for fn, fut in batch:
                    sp = s.begin_nested()
                    try:
                        result = fn(s)
                        s.flush()
                        sp.commit()
                        outcomes.append((fut, result, None))
                    except BaseException as e:  # noqa: BLE001 - handed to the caller
                        if sp.is_active:
                            sp.rollback()
                        outcomes.append((fut, None, e))
        except BaseException as e:  # noqa: BLE001 - the commit failed: nobody is acknowledged
            for _fn, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        for fut, result, err in outcomes:
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(result)


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
