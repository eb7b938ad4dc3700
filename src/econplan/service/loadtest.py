"""Crash and load checks of a running service (used by the tests and ``bench/service.py``).

* :func:`kill_cycles`: start the server, stream writes from several clients, SIGKILL the server
  mid-stream, restart, and check that every acknowledged write is stored (and that re-sending
  the unacknowledged ones with their idempotency keys stores each at most once). Server
  processes are forked from a "zygote" that has already imported everything, so a cycle costs
  ~0.2 s instead of a full interpreter start; each forked child is a complete server process
  (its own engine and connections) and is killed with SIGKILL.
* :func:`latency`: open-loop load at a fixed rate (requests are timed from their scheduled
  start, so queueing counts), returning latency percentiles.

Command line: ``python -m econplan.service.loadtest zygote DB_URL`` runs the zygote (reads
``start PORT`` lines on stdin, answers the child's pid).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from econplan.service.db import Database, make_engine


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- server processes


def _zygote(db_url: str) -> None:
    """Import everything once; fork a server per ``start PORT`` line."""
    import uvicorn

    from econplan.service import api, pages  # noqa: F401
    from econplan.service.app import Settings, create_app  # noqa: F401  (pre-import)

    # the app object holds no connection until its lifespan starts (in the child)
    app = create_app(Settings(db_url=db_url, announce=lambda _m: None))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd != "start":
            continue
        pid = os.fork()
        if pid == 0:  # the server
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            uvicorn.run(app, host="127.0.0.1", port=int(arg), log_level="error", access_log=False)
            os._exit(0)
        print(pid, flush=True)


class Zygote:
    """A process that forks servers on demand (see the module doc)."""

    def __init__(self, db_url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "econplan.service.loadtest", "zygote", db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(self, port: int, timeout: float = 60) -> int:
        """Fork a server on ``port``; returns its pid once it answers HTTP."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"start {port}\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline())
        wait_ready(f"http://127.0.0.1:{port}", timeout)
        return pid

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


_probe = None


def wait_ready(url: str, timeout: float = 60) -> None:
    """Poll ``url``/api/periods until it answers."""
    global _probe
    if _probe is None:
        _probe = httpx.Client(timeout=5)
    end = time.time() + timeout
    while time.time() < end:
        try:
            if _probe.get(f"{url}/api/periods").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"server at {url} did not start in {timeout} s")


def bootstrap(db_url: str, bundle: Path) -> dict[str, str]:
    """Create the store (admin, a person, the bundle's period); returns bearer headers."""
    from econplan.service.app import Settings, start

    printed: list[str] = []
    st = start(Settings(db_url=db_url, bundle=bundle, announce=printed.append))
    st.runner.shutdown()
    from econplan.service import store

    with st.db.write() as s:
        person, _ = store.create_user(s, None, "loadtest", "person")
        person.must_change_password = False
        token, _csrf = store.create_session(s, person)
    st.db.engine.dispose()
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- kill cycles


@dataclass
class KillReport:
    """Outcome of :func:`kill_cycles`."""

    cycles: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0
    resent: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.wrong)


def _stored(db_url: str) -> dict[float, list[int]]:
    """quantity → ids of stored needs (read straight from the database)."""
    from sqlalchemy import select

    from econplan.service.models import Need

    db = Database(make_engine(db_url))
    try:
        with db.read() as s:
            out: dict[float, list[int]] = {}
            for nid, q in s.execute(select(Need.id, Need.quantity)):
                out.setdefault(q, []).append(nid)
            return out
    finally:
        db.engine.dispose()


def kill_cycles(
    db_url: str,
    bundle: Path,
    cycles: int,
    writers: int = 4,
    seed: int = 0,
    log: Any = None,
) -> KillReport:
    """Run ``cycles`` start → write stream → SIGKILL → restart cycles; check every write.

    Each write is a need whose quantity is a unique sequence number, sent with an idempotency
    key. After each kill: every acknowledged write (201 received) must be in the database with
    its quantity; every unacknowledged one is re-sent with the same key after the restart and
    must end up stored exactly once.
    """
    rng = random.Random(seed)
    headers = bootstrap(db_url, bundle)
    zygote = Zygote(db_url)
    rep = KillReport()
    seq = iter(range(1, 10**9))
    seq_lock = threading.Lock()
    acked: dict[int, int] = {}  # sequence number → need id
    t0 = time.time()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clients = [httpx.Client(base_url=url, timeout=30, headers=headers) for _ in range(writers + 1)]
    try:
        pending: list[int] = []
        for cycle in range(cycles):
            pid = zygote.start(port)
            c = clients[-1]
            if True:
                for n in pending:  # re-send what was never acknowledged, same keys
                    r = c.post(
                        "/api/periods/1/needs",
                        json={"product": "bread", "quantity": n},
                        headers={"Idempotency-Key": f"kill-{n}"},
                    )
                    if r.status_code != 201:
                        rep.wrong.append(f"re-send {n}: {r.status_code} {r.text[:100]}")
                    else:
                        acked[n] = r.json()["id"]
                    rep.resent += 1
            pending = []
            stop = threading.Event()
            sent: list[int] = []

            def writer(c: httpx.Client, stop: threading.Event, sent: list[int]) -> None:
                if True:
                    while not stop.is_set():
                        with seq_lock:
                            n = next(seq)
                            sent.append(n)
                        try:
                            r = c.post(
                                "/api/periods/1/needs",
                                json={"product": "bread", "quantity": n},
                                headers={"Idempotency-Key": f"kill-{n}"},
                            )
                        except httpx.HTTPError:
                            return  # the server died under us: not acknowledged
                        if r.status_code == 201:
                            with seq_lock:
                                acked[n] = r.json()["id"]
                        else:
                            rep.wrong.append(f"write {n}: {r.status_code} {r.text[:100]}")

            threads = [
                threading.Thread(target=writer, args=(clients[i], stop, sent))
                for i in range(writers)
            ]
            before = len(acked)
            for th in threads:
                th.start()
            end = time.time() + 30
            while len(acked) == before and time.time() < end:
                time.sleep(0.005)  # the kill comes while writes are flowing
            time.sleep(rng.uniform(0.0, 0.1))
            os.kill(pid, signal.SIGKILL)
            stop.set()
            for th in threads:
                th.join()
            pending = [n for n in sent if n not in acked]
            rep.unacknowledged += len(pending)
            stored = _stored(db_url)
            for n, nid in acked.items():
                ids = stored.get(float(n), [])
                if nid not in ids:
                    rep.missing.append(f"need {n} (id {nid})")
                if len(ids) > 1:
                    rep.duplicated.append(f"need {n}: ids {ids}")
            rep.cycles = cycle + 1
            if log:
                log(
                    f"cycle {cycle + 1}/{cycles}: {len(acked)} acknowledged, "
                    f"{len(pending)} in flight at the kill"
                )
            if rep.missing or rep.duplicated:
                break
        rep.acknowledged = len(acked)
    finally:
        for cl in clients:
            cl.close()
        zygote.close()
        rep.seconds = time.time() - t0
    return rep


# --------------------------------------------------------------------------- latency


@dataclass
class LatencyReport:
    """Latencies (ms) of an open-loop run at ``rate`` requests per second."""

    rate: float
    seconds: float
    sent: int
    ok: int
    errors: int
    achieved_rate: float
    p50: float
    p95: float
    p99: float
    max: float


def latency(
    url: str, headers: dict[str, str], rate: float = 200, seconds: float = 10, threads: int = 64
) -> LatencyReport:
    """Send needs at a fixed ``rate`` for ``seconds``; latency counts from the scheduled start."""
    import http.client
    import json
    from urllib.parse import urlsplit

    n = int(rate * seconds)
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    host = urlsplit(url)
    local = threading.local()  # one keep-alive connection per client thread (light on CPU)
    start = time.perf_counter() + 0.2
    tag = f"{time.time():.6f}"

    def one(i: int) -> None:
        nonlocal errors
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        body = json.dumps({"product": "care", "quantity": i})
        hdrs = {**headers, "Content-Type": "application/json", "Idempotency-Key": f"lat-{tag}-{i}"}
        good = False
        for _attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
            try:
                conn.request("POST", "/api/periods/1/needs", body=body, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                good = resp.status == 201
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                local.conn = None
        done = time.perf_counter()
        with lock:
            if good:
                lat.append((done - due) * 1000)
            else:
                errors += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - start
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")

    return LatencyReport(
        rate=rate,
        seconds=seconds,
        sent=n,
        ok=len(lat),
        errors=errors,
        achieved_rate=len(lat) / elapsed if elapsed > 0 else 0.0,
        p50=pct(50),
        p95=pct(95),
        p99=pct(99),
        max=lat[-1] if lat else float("nan"),
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "zygote":
        _zygote(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
