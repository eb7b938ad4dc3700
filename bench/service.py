"""Benchmark of the participation service (issue 6); writes bench/results/service.md.

1. Write latency at a fixed 200 writes/s (open loop: each request is timed from its scheduled
   start, so queueing counts) against a real server process (`econplan.service.run`, uvicorn,
   one process) on SQLite, with synchronous=FULL (default) and NORMAL, and on PostgreSQL if a
   local server can be started.
2. SIGKILL during a stream of writes, restart, 1000 cycles: every acknowledged write present.

    .venv/bin/python bench/service.py [--rate 200] [--seconds 20] [--kill-cycles 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))

from svc_helpers import TINY, write_bundle  # noqa: E402

from econplan.service import loadtest  # noqa: E402


def serve(db_url: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    """Start `econplan.service.run` in its own process."""
    code = (
        "import econplan.service as s; "
        f"s.run({db_url!r}, '127.0.0.1', {port}, bundle=None, access_log=False)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    loadtest.wait_ready(f"http://127.0.0.1:{port}", timeout=120)
    return proc


def latency_run(
    db_url: str, bundle: Path, rate: float, seconds: float, env: dict[str, str]
) -> loadtest.LatencyReport:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        headers = loadtest.bootstrap(db_url, bundle)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    port = loadtest.free_port()
    proc = serve(db_url, port, env)
    try:
        url = f"http://127.0.0.1:{port}"
        loadtest.latency(url, headers, rate=rate, seconds=2)  # warm-up
        return loadtest.latency(url, headers, rate=rate, seconds=seconds)
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--kill-cycles", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="latency runs per store")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "service.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="econplan-bench-service-"))
    bundle = write_bundle(tmp / "tiny", TINY)
    rows = []
    for label, env in [
        ("SQLite, synchronous=FULL (default)", {"ECONPLAN_SQLITE_SYNCHRONOUS": "FULL"}),
        ("SQLite, synchronous=NORMAL", {"ECONPLAN_SQLITE_SYNCHRONOUS": "NORMAL"}),
    ]:
        for i in range(args.repeat):
            db = f"sqlite:///{tmp / (label.split()[1].strip('=,') + f'-{i}.db')}"
            load0 = os.getloadavg()[0]
            rep = latency_run(db, bundle, args.rate, args.seconds, env)
            rows.append((label, rep, (load0, os.getloadavg()[0])))
            print(label, rep, flush=True)
    pg_note = ""
    if not args.no_postgres:
        from svc_pg import PgServer, why_not

        reason = why_not()
        if reason:
            pg_note = f"PostgreSQL not measured: {reason}."
        else:
            pg = PgServer().start()
            try:
                for _ in range(args.repeat):
                    load0 = os.getloadavg()[0]
                    rep = latency_run(pg.new_database(), bundle, args.rate, args.seconds, {})
                    label = "PostgreSQL (local, same machine)"
                    rows.append((label, rep, (load0, os.getloadavg()[0])))
                    print("postgres", rep, flush=True)
            finally:
                pg.stop()
    kill = None
    if args.kill_cycles:
        kill = loadtest.kill_cycles(
            f"sqlite:///{tmp / 'kill.db'}",
            bundle,
            cycles=args.kill_cycles,
            seed=7,
            log=lambda m: print(m, flush=True) if "0/" in m or "00/" in m else None,
        )
        print(kill.cycles, kill.acknowledged, kill.ok, flush=True)

    lines = [
        "# Participation service benchmark",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work), Python "
        f"{platform.python_version()}. Command: `.venv/bin/python bench/service.py "
        f"--rate {args.rate:g} --seconds {args.seconds:g} --kill-cycles {args.kill_cycles}`.",
        "",
        f"## Write latency at {args.rate:g} writes/s",
        "",
        "Each write is `POST /api/periods/1/needs` with an `Idempotency-Key` (bearer auth), "
        "sent open-loop at a fixed rate from 64 client threads on the same machine to one "
        "server process (`econplan.service.run`, uvicorn); latency counts from the scheduled "
        "send time, so queueing is included.",
        "",
        "The load average (1 min) before and after each run is shown: on a shared machine, "
        "other work competes for the same cores and moves these figures a lot.",
        "",
        "| store | sent | ok | errors | achieved writes/s | p50 ms | p95 ms | p99 ms | max ms "
        "| load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, r, (la, lb) in rows:
        lines.append(
            f"| {label} | {r.sent} | {r.ok} | {r.errors} | {r.achieved_rate:.1f} | "
            f"{r.p50:.1f} | {r.p95:.1f} | {r.p99:.1f} | {r.max:.1f} | {la:.1f} → {lb:.1f} |"
        )
    lines += ["", "Median p95 per store over its runs:", ""]
    for label in dict.fromkeys(r[0] for r in rows):
        p95s = sorted(r.p95 for lbl, r, _ in rows if lbl == label)
        lines.append(
            f"- {label}: {p95s[len(p95s) // 2]:.1f} ms (runs: "
            + ", ".join(f"{x:.0f}" for x in p95s)
            + ")"
        )
    if pg_note:
        lines += ["", pg_note]
    if kill is not None:
        lines += [
            "",
            "## SIGKILL during writes",
            "",
            f"{kill.cycles} cycles of: start a server process, 4 clients stream writes, "
            "SIGKILL the server while writes are in flight, check the database; after each "
            "restart the unacknowledged writes are re-sent with their idempotency keys.",
            "",
            f"- acknowledged writes: {kill.acknowledged}, all present: "
            f"{'yes' if not kill.missing else 'NO: ' + ', '.join(kill.missing[:5])}",
            f"- in flight at a kill (not acknowledged): {kill.unacknowledged}; re-sent: "
            f"{kill.resent}; stored twice: {len(kill.duplicated)}; wrong answers: "
            f"{len(kill.wrong)}",
            f"- time: {kill.seconds:.0f} s",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    if kill is not None and not kill.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
