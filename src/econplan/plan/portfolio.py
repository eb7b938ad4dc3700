"""Two exact backends raced on the two cores: the first certified answer wins.

Which backend is fast depends on the economy's structure, not only its size. With
alternatives *and* capacities, HiGHS's simplex factorises Leontief bases whose LU fills in:
on the generated economies (~20 inputs per technique) it needs ~30 s at 2,000 products × 2 and
more than 10 minutes at 1e4 × 2, where ``fast`` (structured start, PDHG, restricted LP)
certifies in seconds. On sparser economies the order flips: measured on random economies of
1,600–2,900 products and 3,300–5,800 techniques (≤ 8 inputs each, 30–100 % of techniques
capped), HiGHS took 5–48 s where ``fast`` took 3–42 s, and one economy took HiGHS 459 s against
``fast``'s 34 s. No size threshold picks the right one for an economy nobody has seen.

So the default (:func:`econplan.plan.default_solver`) for such economies between
:data:`econplan.plan.RACE_ABOVE` and :data:`econplan.plan.RACE_UNTIL` techniques runs both, each
in a fresh Python process (safe inside a threaded server; ~1 s of imports), and keeps the
first that ends *definitively* — optimal (its certificate is checked again by the Plan as for
any backend) or infeasible; the other is stopped. When neither is definitive within the time
limit, the better of what they returned is kept (a plan before no plan, then a time limit
before an error, then the order of :data:`CONTESTANTS`); without a time limit, once one has
returned a plan short of its certificate (e.g. ``fast`` with t* proven but its least cost
not), the others get as long again (:data:`GRACE_SECONDS` at least), not forever. HiGHS
starts :data:`HEAD_START` seconds after ``fast``, so plans that come quickly do not pay for
the race.

The price of the race: which backend answers first is a matter of timing, so where the optimum
is not unique two runs can return different optimal plans (same t* and a valid certificate;
``summary.json`` names the backend). ``--solver highs`` or ``--solver fast`` is reproducible.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .base import Capability, PlanProblem, SolverOptions, SolverResult, Status

__all__ = ["PortfolioSolver", "race"]

#: the backends raced by default, in order of preference when both end alike
CONTESTANTS = ("fast", "highs")
_DEFINITIVE = (Status.OPTIMAL, Status.INFEASIBLE)
#: seconds the first contestant runs alone. Racing costs the leader up to half its speed
#: (measured at 5,000 products × 2 with capacities: ``fast`` 4.4 s alone, 9.9 s beside
#: HiGHS — its dense algebra uses both cores), so plans that come within this time do not
#: pay for the race.
HEAD_START = 5.0
#: without a time limit, once one contestant has returned a plan short of a certificate the
#: others get as long again as it took (at least this many seconds) to do better
GRACE_SECONDS = 30.0
#: with a time limit the race stops at limit + LIMIT_GRACE at the latest; once a contestant
#: has returned a plan, at limit + LATE_SECONDS (or LATE_SECONDS from then, if later)
LIMIT_GRACE = 30.0
LATE_SECONDS = 2.0


def _rank(res: SolverResult) -> tuple[int, int]:
    """Sort key among non-definitive results: a plan first, then a time limit before an
    error."""
    has_plan = res.z is not None and res.p is not None
    return (0 if has_plan else 1, 0 if res.status == Status.TIME_LIMIT else 1)


def _deadline(deadline: float | None, elapsed: float, res: SolverResult) -> float | None:
    """When the race stops waiting (seconds from its start; None: not before a definitive
    answer). Without a time limit, a non-definitive result that carries a plan (e.g. ``fast``
    with t* proven and its least cost not) gives the others as long again as it took, at
    least :data:`GRACE_SECONDS`, not forever."""
    if res.z is None or res.p is None:
        return deadline
    if deadline is None:
        return elapsed + max(elapsed, GRACE_SECONDS)
    # a plan in hand with a limit: the others had the same limit; wait only LATE_SECONDS
    # beyond it (a fuzzer: 21 s for a limit of 8 s, HiGHS overrunning)
    return min(deadline, max(elapsed, deadline - LIMIT_GRACE) + LATE_SECONDS)


def race(problem: PlanProblem, options: SolverOptions,
         contestants: tuple[str, ...] = CONTESTANTS,
         head_start: float = HEAD_START) -> SolverResult:
    """Run ``contestants`` (keys of :data:`econplan.plan.SOLVERS`) at once, each in a fresh
    Python process (``python -m econplan.plan.contestant``: nothing of the caller's
    ``__main__`` is re-run), and return the first definitive result (module docstring); its
    ``message`` says who answered first and who was stopped. Each contestant starts
    ``head_start`` seconds after the one before it (and at once when those have all ended
    undecided), so the answers that come quickly are not slowed by the race."""
    start = time.perf_counter()
    deadline = (options.time_limit + LIMIT_GRACE if math.isfinite(options.time_limit)
                else None)
    results: list[SolverResult] = []
    winner: SolverResult | None = None
    with tempfile.TemporaryDirectory(prefix="econplan-race-") as d:
        procs: dict[str, tuple[subprocess.Popen, Path]] = {}

        def launch(name: str) -> None:
            # a later start has that much less of the time limit
            opts = SolverOptions(**{**options.__dict__, "progress": False, "threads": 1,
                                    "time_limit": max(options.time_limit
                                                      - (time.perf_counter() - start), 1.0)})
            job = Path(d) / f"{name}.job"
            job.write_bytes(pickle.dumps((problem, opts), protocol=pickle.HIGHEST_PROTOCOL))
            out = Path(d) / f"{name}.pickle"
            procs[name] = (subprocess.Popen(
                [sys.executable, "-m", "econplan.plan.contestant", name, str(job), str(out)],
                stdin=subprocess.DEVNULL,
                stdout=2 if options.verbose else subprocess.DEVNULL), out)  # logs: stderr

        pending = list(contestants)
        launch(pending.pop(0))
        try:
            while (procs or pending) and winner is None:
                now = time.perf_counter() - start
                if deadline is not None and now > deadline:
                    break  # the contestants overran their own limit by far: stop them all
                if pending and (now >= head_start * (len(contestants) - len(pending))
                                or not procs):
                    launch(pending.pop(0))
                time.sleep(0.02)
                for name in list(procs):
                    p, out = procs[name]
                    if p.poll() is None:
                        continue
                    del procs[name]
                    try:
                        res = pickle.loads(out.read_bytes())
                    except (OSError, EOFError, pickle.UnpicklingError):
                        res = SolverResult(Status.ERROR, solver=name, message=(
                            f"{name} process ended without a result (exit code {p.returncode})"))
                    res.solver = res.solver or name
                    results.append(res)
                    if res.status in _DEFINITIVE:
                        winner = res
                        break
                    deadline = _deadline(deadline, time.perf_counter() - start, res)
        finally:
            stopped = list(procs)
            for p, _ in procs.values():
                p.kill()
            for p, _ in procs.values():
                p.wait()
    if winner is None:
        if not results:
            return SolverResult(Status.TIME_LIMIT, solver="portfolio",
                                message="portfolio: no backend answered within the time limit",
                                seconds=time.perf_counter() - start)
        order = {n: i for i, n in enumerate(contestants)}
        winner = min(results, key=lambda r: (*_rank(r), order.get(r.solver, 99)))
    note = f"portfolio: {winner.solver} answered first"
    if stopped:
        note += f" ({', '.join(stopped)} stopped)"
    if pending:
        note += f" ({', '.join(pending)} not started)"
    losers = [r for r in results if r is not winner]
    if losers:
        note += " (" + ", ".join(f"{r.solver}: {r.status.value}" for r in losers) + ")"
    winner.message = f"{note}. {winner.message}" if winner.message else note
    winner.seconds = time.perf_counter() - start
    return winner


class PortfolioSolver:
    """``--solver portfolio``: :func:`race` of ``fast`` and ``highs`` (module docstring)."""

    name = "portfolio"
    #: a warm start reaches both contestants (each backend's own use of it)
    capabilities = frozenset({Capability.FULFILMENT, Capability.MIN_LABOUR,
                              Capability.WARM_START})

    def solve(self, problem: PlanProblem, options: SolverOptions) -> SolverResult:
        return race(problem, options)
