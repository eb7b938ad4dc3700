"""The first-order plan backend (``--solver pdhg``): PDHG on both stages, then repaired to a
certificate.

For economies where a simplex method's Leontief bases fill in (generated economies above a
few thousand products) and the structured decomposition cannot finish (alternatives *and*
many binding capacities), this backend solves DESIGN.md's two stages with the restarted
adaptive PDHG of :mod:`econplan.plan.pdhg` (SciPy, Numba or PyTorch SpMVs) and turns the
approximate answer into a certified one with :mod:`econplan.plan.repair`:

0. **Structured start** (:meth:`_Run._structured_start`): the labour-cheapest plan repaired
   into the capacities and the fill at the labour values, certified by the repaired labour
   values — the first candidate plan (the optimum when only labour binds), and the unit of
   the time kept back for certificate checks before the limit (``RESERVE``).
1. **Stage 1** ``max t``: PDHG to a relative tolerance (1e-4 first), then the primal and
   dual repairs (feasible activities at a slightly lower t; a valid bound), the price-guided
   fill (:mod:`econplan.plan.fill`, a second feasible plan), the structured crossover
   (:mod:`econplan.plan.crossover`, when the plan is already close) and the restricted LP
   (:mod:`econplan.plan.restricted`: the exact optimum from the techniques PDHG is unsure
   of, when that LP is small enough). If the certificate's gap is above
   ``certificate_tolerance`` (1e-6, DESIGN.md "Solvers"), PDHG continues from where it
   stopped and the iterate is certified every so many iterations, until it holds or the
   time limit is reached.
   ``min-labour`` is one LP (:meth:`_Run.min_labour`): the labour-cheapest plan first, then
   PDHG with periodic repairs, each check also trying the restricted LP in its min-cost form.
2. **Stage 2** ``min c·z`` at ``t ≥ t₁(1 − 1e-7)`` (t₁: the fulfilment stage 1's plan
   achieves). Skipped, with proof, when the cost is one resource that binds in stage 1
   (:meth:`_Run._stage2_shortcut`); otherwise HiGHS's simplex (up to
   ``EXACT_STAGE2_UNTIL`` techniques), else min-labour's certified route with the
   targets pinned at t₁, its iterates repaired and mixed with stage 1's plan so that every
   one is a plan, its restricted LPs elastic (the targets may fall short at a penalty), then
   HiGHS where that did not certify (up to ``TRY_HIGHS_STAGE2_UNTIL`` techniques); kept only
   if cheaper; its duals are then the plan's valuations (also of stage 1's plan when that
   costs no more and those duals prove its cost: equal costs but for rounding). A stage 2
   that is not certified within the time limit ends with status ``time_limit``: t* is
   proven, the least cost is not, and the message gives both numbers.

The certificate written with the plan is the stage-1 duals' (p, u, v) against the activities
finally written, recomputed by :mod:`econplan.plan.certificate`; this backend never reports a
plan whose certificate it has not checked. Status ``time_limit`` when the tolerance was not
reached.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from ..blas import single_threaded
from ..errors import EconplanError
from .base import (
    UNBOUNDED_MESSAGE,
    Capability,
    Objective,
    PlanProblem,
    SolverOptions,
    SolverResult,
    Status,
)
from .certificate import fulfilment_certificate, min_cost_certificate
from .crossover import crossover
from .fill import adjusted_fill
from .formulation import as_inequalities, elastic, elastic_blocking, stage2
from .pdhg import solve_lp
from .repair import (
    Structure,
    produce_deficits,
    repair_cost_dual,
    repair_dual,
    repair_primal,
)

__all__ = ["PdhgSolver"]

#: stage 2 keeps t ≥ t₁ (1 − STAGE2_SLACK): room for a first-order solver's tolerance
STAGE2_SLACK = 1e-7
#: The first-order stage 2 goes first for STAGE2_SHARE times as long as stage 1 took (at
#: least STAGE2_MIN_SECONDS) where HiGHS may follow it; stage 2 as a whole has the time left,
#: of the time limit or, without one, of the 900 s safety limit (:meth:`_Run._limit`)
#: (session 23: before, a tenth of it, so under a 120 s limit a fuzzed 2,085-product plan ended
#: ``time_limit`` at 14 s, its least labour unproven, where HiGHS's stage 2 needed 25-50 s
#: more; a stage 2 that is not certified in the time limit ends with status time_limit: t* is
#: proven then, the least resource cost is not).
STAGE2_MIN_SECONDS = 5.0
STAGE2_SHARE = 2.0
#: Up to this many techniques stage 2 is HiGHS's simplex (where HiGHS is the default planner
#: anyway: plan/__init__.RACE_ABOVE).
EXACT_STAGE2_UNTIL = 2_000
#: Up to this many techniques HiGHS tries stage 2 when the first-order route (given twice
#: stage 1's time, at least 5 s) did not certify it, within what is left of stage 2's budget
#: (a session-13 fuzzer found the first-order stage 2 keeping plans with 1.7-4.3x the least
#: labour at 2,200 techniques, which HiGHS planned exactly in seconds; until session 22 HiGHS
#: went first). Above it HiGHS's factorisations are hopeless (1e4 × 2: over 10 minutes).
TRY_HIGHS_STAGE2_UNTIL = 10_000
#: up to this many techniques the whole LP may go to HiGHS (once per run) when a restricted
#: LP would be no smaller than the economy (see RX_MAX_SHARE)
WHOLE_LP_UNTIL = TRY_HIGHS_STAGE2_UNTIL
#: ... and, once, when PDHG has run this long and its repaired gap is still too far for a
#: restricted-LP try (above 1e-2): PDHG can stall on a thin feasible set (targets reachable
#: by a hair: a fuzzed min-labour economy of 24 products, gap 0.6 after a million
#: iterations, 41 s, its primal weight at 6e13, where HiGHS takes 10 ms)
WHOLE_LP_STALL_SECONDS = 5.0
#: the unboundedness check (an LP on the resource-free, uncapped techniques) is skipped above
#: this many such techniques
UNBOUNDED_CHECK_UNTIL = 50_000
#: excesses of the elastic plan below this share of the amount available (at least of 1) are
#: the first-order solve's noise, not lacking amounts
BLOCKING_NOISE = 1e-6
#: a dual bound t* ≤ −INFEASIBLE_BOUND (t is a ratio) proves the floors infeasible
INFEASIBLE_BOUND = 1e-6
#: time kept back for the check after PDHG's first run, in units of the structured start's
#: cost (a check from a poor iterate costs up to ~2.5 of them)
RESERVE = 3.0
#: one restricted-LP try may take RX_ELAPSED times the solve's time so far (at least
#: RX_MIN_SECONDS), as in renting skis before buying them: an LP that HiGHS cannot finish then
#: costs a bounded multiple of the first-order solve it would have shortened (measured, a
#: fuzzed economy of 2,739 products and 6,751 techniques: two tries of 88 and 39 s, each a
#: share of the time left, both unfinished, where PDHG itself needed ~10 s), and the LPs that
#: do finish have taken 1.2-1.6 times the solve before them (1e4 and 3e4 x 2 with capacities
#: and floors: 16 s after 10 s, 91 s after 74 s; 2e3 x 2: 0.7 s after 0.9 s)
RX_ELAPSED = 4.0
RX_MIN_SECONDS = 5.0
#: no restricted-LP try from an iterate whose certified gap is within RX_NEAR times the
#: stopping tolerance: PDHG is about to finish there, where such an LP is a gamble (measured,
#: a fuzzed economy of 853 products: an 87 s try, unfinished, from gap 9.2e-7 at t 0.15,
#: after which PDHG certified 3e-11 within 2 s)
RX_NEAR = 10.0
#: after a failed try the next waits for the gap to fall RX_RETRY_GAP-fold, or for the solve's
#: time to reach RX_RETRY_TIME times what it was when that try ended: PDHG's repaired gap can
#: stall for good (measured, a fuzzed economy of 799 products: certified 5.24e-4 from 1 s to
#: the 120 s limit, while a try with 5 s more than the first would have finished exactly), and
#: with each retry's budget a multiple of the time so far the tries' share stays bounded
RX_RETRY_GAP = 3.0
RX_RETRY_TIME = 2.0
#: a restricted LP holding more than this share of the techniques is no smaller than the
#: economy: the whole (sparse) LP goes to HiGHS instead, within the same budget
#: (:meth:`_Run._whole_lp`), once per run and up to WHOLE_LP_UNTIL techniques (session 23,
#: a fuzzed economy of 21,504 techniques: HiGHS unfinished in 25 s for stage 1 and in 172 s
#: for stage 2, the second try's budget being four times the time so far; the LPs it finished
#: were of ~2,000 techniques, in 0.1-0.2 s)
RX_MAX_SHARE = 0.25
#: min-cost restricted LPs let the targets fall short at this many times the iterate's whole
#: cost per unit of shortfall (restricted.py's ``elastic``): large enough that the LP's
#: optimum meets them whenever its columns can, and grown there while they cannot
ELASTIC_PENALTY = 10.0
#: a restricted LP above RX_ROUGH_CELLS (rows × columns, dense) is tried only from an iterate
#: whose certified gap is at most RX_GOOD_GAP: from rougher ones large LPs are slow and
#: usually wasted (measured, 2e4 x 2: 2,089 x 2,496 from gap 2.6e-3 unfinished after 85 s;
#: 948 x 1,906 from gap 1.3e-4 exact in 25-54 s; 3e4 x 2: 1,840 x 2,723 from gap 3.3e-5
#: exact in 64 s)
RX_ROUGH_CELLS = 2e6
RX_GOOD_GAP = 1e-3
#: and such a rough try of stage 1 may take no longer than the solve so far (at least this
#: many seconds): from a wrong guess of the fixed techniques the LP is infeasible, and HiGHS's
#: IPM took 20-60 s to say so at 1e4 x 2 (845 x 905, gap 1.7e-3) where the whole plan takes
#: ~30 s; PDHG goes on to the next, better try meanwhile
RX_ROUGH_MIN_SECONDS = 5.0
#: stage 1 stops at a gap of ``tol`` relative to t itself, not DESIGN.md's max(1, t), for t
#: down to T_FLOOR (below it, ``tol · T_FLOOR`` absolute): with t* ≈ 0.16, a gap of 1e-6
#: relative to 1 left t up to 5e-6 short of t* relative to t* (session-15 fuzzer)
T_FLOOR = 0.1


def _better(a, b, tol: float) -> bool:
    """Is certificate ``a`` the better plan than ``b``: a plan (primal residual ≤ tol) beats
    a non-plan; between two, the smaller gap."""
    fa, fb = a.primal_residual <= tol, b.primal_residual <= tol
    if fa != fb:
        return fa
    return abs(a.duality_gap) < abs(b.duality_gap)


def stage1_lp(pb: PlanProblem) -> tuple[sp.csr_array, np.ndarray, np.ndarray, np.ndarray,
                                          np.ndarray]:
    """Stage 1 as :func:`solve_lp` takes it, ``min c·x, K x ≥ q, lb ≤ x ≤ ub`` over
    ``x = (z, t)``: rows ``(B − A) z − t d ≥ ymin`` (products) and ``−R z ≥ −b`` (resources),
    objective −t (the fulfilment ratio, dimensionless)."""
    d = np.asarray(pb.y - pb.ymin, dtype=np.float64)
    K = sp.vstack([sp.hstack([pb.M, sp.csc_array(-d.reshape(-1, 1))]),
                   sp.hstack([-sp.csr_array(pb.R), sp.csc_array((pb.k, 1))])], format="csr")
    q = np.concatenate([pb.ymin, -pb.b])
    c = np.zeros(pb.m + 1)
    c[pb.m] = -1.0
    lb = np.zeros(pb.m + 1)
    ub = np.concatenate([pb.cap, [np.inf]])
    return K, c, q, lb, ub


class Stage2Plan(NamedTuple):
    """What :meth:`_Run.stage2` returns: the activities, their stage-1 certificate, stage 2's
    valuations (price, resource price, capacity price), the min-cost certificate of z against
    them, and the targets (n,) that certificate is for."""

    z: np.ndarray
    cert: Any
    price: np.ndarray
    resource_price: np.ndarray
    capacity_price: np.ndarray
    cost_cert: Any
    targets: np.ndarray


class PdhgSolver:
    """First-order backend (module docstring). ``name = "pdhg"``."""

    name = "pdhg"
    capabilities = frozenset({Capability.FULFILMENT, Capability.MIN_LABOUR,
                              Capability.WARM_START})

    @single_threaded
    def solve(self, problem: PlanProblem, options: SolverOptions) -> SolverResult:
        start = time.perf_counter()
        from .unmade import solve_made

        lifted = solve_made(problem, options, self)  # products nothing can make
        if lifted is not None:
            return lifted
        try:
            res = _Run(problem, options).run()
        except Exception as exc:  # never raise from a backend
            res = SolverResult(Status.ERROR, message=f"{type(exc).__name__}: {exc}")
        res.solver = self.name
        res.seconds = time.perf_counter() - start
        return res


class _Run:
    def __init__(self, pb: PlanProblem, options: SolverOptions,
                 st: Structure | None = None) -> None:
        if pb.objective not in (Objective.FULFILMENT, Objective.MIN_LABOUR):
            raise ValueError(f"the pdhg backend does not plan {pb.objective.value}")
        self.pb = pb
        self.opt = options
        self.t0 = time.perf_counter()
        self.engine = options.extra.get("engine")
        self.tol = float(options.extra.get("certificate_tolerance", 1e-6))
        self.st = st if st is not None else Structure(pb.M, pb.tech_product, pb.output)
        self.d = np.asarray(pb.y - pb.ymin, dtype=np.float64)
        self.R = sp.csr_array(pb.R)
        self.iterations = 0
        self.crossed = False  # stage 1's plan came from the structured crossover
        self.infeasible_bound: float | None = None  # a proof that the floors cannot be met
        self._cx_failed_gap = float("inf")  # the gap at the last crossover that failed
        self._rx_failed_gap = float("inf")  # the same for the restricted LP
        self._rx_failed_at = float("inf")  # seconds into the solve when that try ended
        self._rx_seconds = 0.0  # time of the restricted-LP try in the current check
        self._whole_lp_tried = False  # the whole LP goes to HiGHS once per run at most
        self._start_kept = ""  # why stage 1 kept the structured start without PDHG
        # the restricted LP's dense size limit (rows × columns)
        self._rx_cells = float(options.extra.get("restricted_max_cells", 1.5e7))
        self._check_seconds = 0.0
        self._stage1_seconds = 0.0  # stage 2's time budget follows it
        #: stage 2's repair of a min-cost iterate into a plan meeting every row (or None)
        self.primal_fix: Any = None
        self._first_seconds = float("inf")  # the structured start's labour-priced candidate
        self.log = (lambda msg: print(f"[pdhg {time.perf_counter() - self.t0:7.2f}s] {msg}",
                                      flush=True)) if options.verbose else None

    def _limit(self) -> float:
        # PDHG may neither converge nor prove infeasibility: a finite limit always applies
        limit = self.opt.time_limit
        if not np.isfinite(limit):
            limit = float(self.opt.extra.get("pdhg_time_limit", 900.0))
        return limit

    def _left(self) -> float:
        return self._limit() - (time.perf_counter() - self.t0)

    def _say(self, msg: str) -> None:
        if self.log is not None:
            self.log(msg)

    def _holds(self, cert) -> bool:
        """Does a stage-1 certificate end the solve: residuals ≤ tol and the gap ≤ tol
        relative to t (at least :data:`T_FLOOR`), a stricter test than DESIGN.md's for t < 1."""
        return cert.holds(self.tol) and abs(cert.duality_gap) <= self._gap_tol(cert)

    def _gap_tol(self, cert) -> float:
        """The gap that ends stage 1: ``tol`` relative to t (at least :data:`T_FLOOR`)."""
        return self.tol * min(1.0, max(abs(cert.achieved), T_FLOOR))

    def _cert(self, z: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray):
        pb = self.pb
        return fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z, p, u, v)

    # -- stage 1 -------------------------------------------------------------------------------
    def stage1(self):
        pb, d = self.pb, self.d
        n, m, k = pb.n, pb.m, pb.k
        K, c, q, lb, ub = stage1_lp(pb)
        x0 = y0 = None
        ws = self.opt.warm_start
        if ws is not None and ws.z is not None and len(ws.z) == m and ws.p is not None:
            x0 = np.concatenate([ws.z, [ws.t if np.isfinite(ws.t) else 0.0]])
            y0 = np.concatenate([ws.p, ws.u if ws.u is not None else np.zeros(k)])
        # first check at PDHG tolerance 1e-4: from there the restricted LP finds the exact
        # optimum (measured at 2,000 and 1e4 × 2); later checks come every so many iterations
        tol = float(self.opt.extra.get("pdhg_tolerance", 1e-4))
        best: list = []
        last = [time.perf_counter()]
        reserve = 0.0  # PDHG's first run stops this much before the limit: the last check
        if x0 is None and self.opt.extra.get("structured_start", True):
            t_s = time.perf_counter()
            try:  # an aid, never a failure: PDHG follows whatever it gives
                first = self._structured_start()
            except (ArithmeticError, ValueError, IndexError, RuntimeError, EconplanError) as exc:
                self._say(f"structured start: {type(exc).__name__}: {exc}")
                first = None
            # a check costs about what the start did (the same Leontief solves and repairs)
            # and up to ~2.5 times more from a poor iterate (measured at 1e6 × 2: start 60-80
            # s, a check after 768 PDHG iterations 150 s): PDHG's first run keeps RESERVE
            # starts' worth of time back
            # (the labour-priced candidate's cost, not the price search after it)
            self._check_seconds = min(time.perf_counter() - t_s, self._first_seconds)
            reserve = RESERVE * self._check_seconds
            if first is not None:
                best[:] = [first]
                if self._holds(first[4]):  # nothing but the cost resource binds
                    return (*first, None)

        def certify(x: np.ndarray, y: np.ndarray) -> bool:
            """Repair (or cross over) the iterate and check its certificate; keep the best."""
            t0 = time.perf_counter()
            z, p, u, v, cert = self._repaired(x[:m], x[m], y[:n], y[n:], "stage 1")
            # the crossover's guess is only worth its Leontief solves when the repaired plan is
            # already close (measured: the guess is right from about PDHG tolerance 1e-8)
            # (after a failed try, only again once the gap has fallen threefold: a try costs
            # a few Leontief solves, ~2 s at 1e4 products, and fails from similar iterates)
            if (not cert.holds(self.tol * 1e-3) and abs(cert.duality_gap) <= 1e-5
                    and abs(cert.duality_gap) <= self._cx_failed_gap / 3
                    and self.opt.extra.get("crossover", True)):
                try:  # an aid, never a failure: its result is checked below anyway
                    xo = crossover(self.st, self.R, pb.b, pb.cap, pb.ymin, d, x[:m], y[:n],
                                   y[n:], x[m],
                                   deadline=time.perf_counter() + max(self._left(), 0.0))
                except (ArithmeticError, ValueError, IndexError, EconplanError) as exc:
                    self._say(f"crossover: {type(exc).__name__}: {exc}")
                    xo = None
                if xo is not None:
                    cx = self._cert(xo[0], *xo[2:])
                    self._say(f"crossover: t {cx.achieved:.12g}, bound {cx.bound:.12g}, "
                              f"primal {cx.primal_residual:.1e}, dual {cx.dual_residual:.1e}")
                    if self._holds(cx) and abs(cx.duality_gap) < abs(cert.duality_gap):
                        z, (p, u, v), cert = xo[0], xo[2:], cx
                        self.crossed = True
                else:
                    from . import crossover as _cx

                    self._say(f"crossover: no vertex ({_cx.last_reason})")
                    self._cx_failed_gap = abs(cert.duality_gap)
            if (not self._holds(cert)
                    and RX_NEAR * self._gap_tol(cert) < abs(cert.duality_gap) <= 1e-2
                    and self._rx_due(cert)):
                z, p, u, v, cert = self._restricted(x, y, z, p, u, v, cert)
            elif self._stalled(abs(cert.duality_gap)):
                z, p, u, v, cert = self._restricted(x, y, z, p, u, v, cert, whole=True)
            if self._proves_infeasible(cert):
                return True
            if not best or _better(cert, best[0][4], self.tol):
                best[:] = [(z, p, u, v, cert)]
            # the check's own cost sets how often it runs; a restricted-LP try is rare (only
            # after the gap fell threefold) and not counted
            self._check_seconds = time.perf_counter() - t0 - self._rx_seconds
            self._rx_seconds = 0.0
            last[0] = time.perf_counter()
            return self._holds(cert)

        clock = {"last": time.perf_counter(), "cost": 0.0, "early": False}

        def check_infeasible(x: np.ndarray, y: np.ndarray) -> bool:
            """Throttled (≤ ~5 % of the time): do PDHG's duals, repaired, prove the floors
            infeasible? On a small economy (≤ WHOLE_LP_UNTIL techniques) whose PDHG is still
            short of its first tolerance after WHOLE_LP_STALL_SECONDS, the iterate is also
            checked once then, restricted and whole LP included (a fuzzed economy at the
            edge of reach, 683 products: PDHG's first run ended at its million-iteration cap
            after 74.5 s short of tolerance 1e-4, and the restricted LP then took 0.2 s)."""
            now = time.perf_counter()
            if (not clock["early"] and pb.m <= WHOLE_LP_UNTIL
                    and now - self.t0 >= WHOLE_LP_STALL_SECONDS):
                clock["early"] = True
                self._say("PDHG slow to its first tolerance: its iterate checked now")
                if certify(x, y):
                    return True
            if now - clock["last"] < 20 * clock["cost"]:
                return False
            found = bool((d > 0).any()) and self._proves_infeasible(self._cert(
                np.zeros(m), *repair_dual(self.st, self.R, pb.b, pb.cap, pb.ymin, d, y[:n],
                                          y[n:])))
            clock["cost"] = time.perf_counter() - now
            clock["last"] = time.perf_counter()
            return found

        # PDHG runs once; its iterate is repaired and certified every so many iterations
        # (about ten times the cost of one check in PDHG time), and the solve stops as soon as
        # the certificate holds. The first check waits for PDHG's own tolerance.
        if best and self._left() < 2 * reserve:
            # no time for PDHG (at least as long as the reserve) and a check after it (1e6
            # products with a limit of a few minutes): the structured start is the plan
            self._say("no time left for PDHG and a certificate check: structured start kept")
            self._start_kept = (f"the structured start is the plan: "
                                f"{max(self._left(), 0.0):.1f} s of the time limit were "
                                f"left, and PDHG with a certificate check after it needs "
                                f"about {2 * reserve:.1f} s; a longer time limit lets PDHG "
                                f"try to close the gap")
            return (*best[0], None)
        r = solve_lp(K, c, q, lb, ub, x0=x0, y0=y0, tol=tol,
                     time_limit=max(self._left() - reserve, 0.0), engine=self.engine,
                     log=self.log, callback=check_infeasible, callback_every=1024)
        self.iterations += r.iterations
        if self.infeasible_bound is not None:
            return None

        def time_for_check() -> bool:  # else keep the best plan so far (none: check anyway)
            return not best or self._left() >= 0.75 * self._check_seconds

        done = ((bool(best) and self._holds(best[0][4]))  # certified during the run
                or (certify(r.x, r.y) if time_for_check() else False))
        if not done and self._left() - 1.5 * self._check_seconds > 0:
            per_it = r.seconds / max(r.iterations, 1)
            every = max(256, int(10 * self._check_seconds / max(per_it, 1e-9)) // 64 * 64)
            r = solve_lp(K, c, q, lb, ub, x0=r.x, y0=r.y, tol=1e-13, state=r.state,
                         scaling=r.scaling,
                         time_limit=max(self._left() - 1.5 * self._check_seconds, 0.0),
                         engine=self.engine, log=self.log, callback=certify,
                         callback_every=every)
            self.iterations += r.iterations
            if (self.infeasible_bound is None and not self._holds(best[0][4])
                    and time_for_check()):
                certify(r.x, r.y)  # PDHG converged between two checks, or ran out of time
        if self.infeasible_bound is not None:
            return None
        z, p, u, v, cert = best[0]
        return z, p, u, v, cert, r

    def _structured_start(self):
        """Stage 1's first candidates, before any PDHG iteration: the techniques cheapest at
        resource prices ``w`` (non-substitution, policy iteration) making ``ymin + τ d`` with τ
        the fulfilment at which the first resource runs out, repaired into capacities
        (:func:`repair.repair_primal`), and the fill at those values with the prices of
        products whose capacities run out raised (:func:`fill.adjusted_fill`); certified by the
        values scaled to ``p·d = 1`` with ``u = w`` (a valid dual: the values satisfy
        ``p M_j ≤ w·R_j`` for every technique), repaired (:func:`repair.repair_dual`).

        ``w`` starts at the cost resource alone (labour). When another resource runs out first
        (CO₂ on the generated economies), labour is left over at τ, so ``w`` also prices that
        resource, ``w = e_cost + θ e_k``, with θ searched for the largest τ
        (:meth:`_price_search`), and that candidate is kept when it certifies better. Measured
        on generated n × 2 economies with binding capacities: bench/RESULTS.md. Returns
        (z, p, u, v, cert) or None."""
        if not (self.d > 0).any():
            return None
        t_start = time.perf_counter()
        kl, w = self._cost_prices()
        first = self._priced(w, None)
        if first is None:
            return None
        out = self._candidate(first, "structured start")
        self._first_seconds = time.perf_counter() - t_start
        # the search and its candidate cost a few first candidates (measured: 1e4 ~3x, 1e5
        # ~2x); with less time than that and PDHG's reserve after it, the first one stands
        # (1e6 with a 3-minute limit)
        if self._left() < 6 * self._first_seconds or self._holds(out[4]):
            return out
        best = self._price_search(first, kl)
        if best is first:
            return out
        got = self._candidate(best, "structured start at priced resources")
        return got if _better(got[4], out[4], self.tol) else out

    def _candidate(self, priced: dict, what: str):
        """:meth:`_repaired` of a :meth:`_priced` policy's plan at its τ, valued at its
        values λ and resource prices w."""
        Z, tau = priced["Z"], priced["tau"]
        return self._repaired(Z[:, 0] + tau * Z[:, 1], tau, priced["lam"], priced["w"], what)

    def _priced(self, w: np.ndarray, choice: np.ndarray | None) -> dict | None:
        """The techniques cheapest at resource prices ``w`` (k,), their activities for the
        floors and for d (two columns), the values λ (cost units per product unit) and the
        fulfilment τ at which the first resource runs out (``taus``: per resource)."""
        pb = self.pb
        got = self._cheapest(w, np.column_stack([pb.ymin, self.d]), choice)
        if got is None:
            return None
        Z, lam, choice = got
        use0, use1 = self.R @ Z[:, 0], self.R @ Z[:, 1]
        room = pb.b - use0
        if (room < 0).any():
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            taus = np.where(use1 > 0, room / np.where(use1 > 0, use1, 1.0), np.inf)
        tau = float(np.min(taus))
        if not (np.isfinite(tau) and tau >= 0):
            return None
        return {"tau": tau, "taus": taus, "Z": Z, "lam": lam, "w": w.copy(), "choice": choice}

    def _price_search(self, first: dict, kl: int) -> dict:
        """Search the price θ of the resource that runs out first (when it is not the cost
        resource ``kl``) for the largest τ: ``w = e_kl + θ e_k``. Steps of ×4 from the price
        that weighs both resources equally until the cost resource runs out first (÷4 when it
        does at once), then bisection (geometric) on which one does; every evaluation is one
        policy iteration warm-started from the last choice and one two-column Leontief solve.
        Bounded by ``extra["price_search_evaluations"]`` (default 10) and by a quarter of the
        time left."""
        best = first
        k = int(np.argmin(first["taus"]))
        if k == kl or self.pb.k < 2:
            return best
        budget = int(self.opt.extra.get("price_search_evaluations", 10))
        stop = time.perf_counter() + 0.25 * max(self._left(), 0.0)
        use1 = self.R @ first["Z"][:, 1]
        use_l, use_k = float(use1[kl]), float(use1[k])
        if not (use_l > 0 and use_k > 0):
            return best
        lo, hi = 0.0, None  # k runs out first at lo; kl (or another) at hi
        theta = use_l / use_k
        choice = first["choice"]
        for _ in range(budget):
            if time.perf_counter() > stop:
                break
            w = np.zeros(self.pb.k)
            w[kl], w[k] = 1.0, theta
            got = self._priced(w, choice)
            if got is None:
                break
            choice = got["choice"]
            self._say(f"price search: θ {theta:.4g}: τ {got['tau']:.10g} "
                      f"({int(np.argmin(got['taus']))} runs out first)")
            if got["tau"] > best["tau"]:
                best = got
            if int(np.argmin(got["taus"])) == k:
                lo = theta
            else:
                hi = theta
            theta = theta * 4.0 if hi is None else (
                np.sqrt(lo * hi) if lo > 0 else hi / 4.0)
            if hi is not None and lo > 0 and hi / lo < 1.02:
                break
        return best

    def _repaired(self, z: np.ndarray, t: float, p: np.ndarray, u: np.ndarray, what: str):
        """A stage-1 candidate from approximate activities ``z`` at fulfilment ``t`` and
        valuations ``(p, u)``: the primal and dual repairs, then the fill at the repaired
        valuations (feasible whatever their accuracy; the repair is not, far from
        convergence), kept when it certifies better. Returns (z, p, u, v, cert)."""
        pb, d = self.pb, self.d
        t_in = t
        z, t = repair_primal(self.st, self.R, pb.b, pb.cap, pb.ymin, d, z, t)
        p, u, v = repair_dual(self.st, self.R, pb.b, pb.cap, pb.ymin, d, p, u, z=z)
        cert = self._cert(z, p, u, v)
        self._say(f"{what}: t {t_in:.12g} → {cert.achieved:.12g}, bound {cert.bound:.12g}, "
                  f"gap {cert.duality_gap:.2e}")
        try:  # an aid, never a failure: a Leontief solve of its marginal techniques can
            # diverge where a labour-free technique makes a product from as much of itself
            # (the certificate above stands either way)
            filled = adjusted_fill(self.st, self.R, pb.b, pb.cap, pb.ymin, d, p, u, t_in,
                                   deadline=time.perf_counter() + 0.2 * max(self._left(), 0.0))
        except (ArithmeticError, ValueError, RuntimeError, EconplanError) as exc:
            self._say(f"fill: {type(exc).__name__}: {exc}")
            filled = None
        if filled is not None:
            cf = self._cert(filled[0], p, u, v)
            self._say(f"fill: t {cf.achieved:.12g}, primal {cf.primal_residual:.1e}")
            if _better(cf, cert, self.tol):
                z, cert = filled[0], cf
        return z, p, u, v, cert

    def _labour_start(self, y: np.ndarray):
        """min-labour's first candidate: the labour-cheapest techniques (policy iteration on
        labour values, :func:`econplan.kernels.solve_values`), their activities for the
        targets ``y`` and the labour values λ (labour per product unit), with the index of the
        labour (cost) resource. Without binding capacities and other resources this *is* the
        optimum (non-substitution theorem), so its certificate is checked first and the plan
        returned when it holds (1e4 × 2 with capacities, targets × 0.8: 0.8 s against 15,872
        PDHG iterations, 18 s, cold). As a PDHG start it did not help: min-labour with binding
        capacities took 15,872 iterations from it against 11,776 cold (2,000 × 2, targets ×
        0.87), and the fulfilment stage 59,712 against 27,264 (1e4 × 2 with capacities and
        floors), so PDHG starts cold. Costs two Leontief solves. None when it cannot be
        built."""
        kl, w = self._cost_prices()
        got = self._cheapest(w, y)
        return None if got is None else (got[0], got[1], kl)

    def _cost_prices(self) -> tuple[int, np.ndarray]:
        """The cost resource's index (labour unless the costs say otherwise) and resource
        prices (k,) that price it alone at 1."""
        cost = self.pb.cost
        kl = int(np.argmax(cost)) if np.any(cost > 0) else 0
        w = np.zeros(self.pb.k)
        w[kl] = 1.0
        return kl, w

    def _cheapest(self, w: np.ndarray, y: np.ndarray, choice: np.ndarray | None = None):
        """The techniques cheapest at resource prices ``w`` (k,) — policy iteration on the
        values at technique costs ``w·R_j`` (:func:`econplan.kernels.solve_values`,
        warm-started from ``choice``) — their activities for the net outputs ``y`` (n,) or
        (n, r), and the values λ (cost units per product unit). Returns (z, λ, choice), or
        None when it cannot be built."""
        from ..kernels import gross_activities, solve_values

        pb, st = self.pb, self.st
        row = sp.csr_array(np.asarray(self.R.T @ w, dtype=np.float64).reshape(1, -1))
        try:
            vr = solve_values(st.A, st.o, st.tp, row, choice=choice)
            made = gross_activities(st.A, st.o, vr.choice, y)
        except (ArithmeticError, ValueError, RuntimeError, EconplanError):
            return None
        z = np.zeros((pb.m,) + made.shape[1:])
        z[vr.choice] = made
        lam = np.asarray(vr.values[:, 0], dtype=np.float64)
        if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(z))):
            return None
        return z, lam, vr.choice

    def _rx_due(self, cert) -> bool:
        """May a restricted-LP try start from this certificate? Only when none failed yet, or
        the gap has fallen :data:`RX_RETRY_GAP`-fold since, or the solve has run
        :data:`RX_RETRY_TIME` times as long as it had when that try ended."""
        return bool(self.opt.extra.get("restricted", True)) and (
            abs(cert.duality_gap) <= self._rx_failed_gap / RX_RETRY_GAP
            or time.perf_counter() - self.t0 >= RX_RETRY_TIME * self._rx_failed_at)

    def _stalled(self, gap: float) -> bool:
        """Is PDHG stalled far from the optimum on an economy whose whole LP HiGHS may try
        (:data:`WHOLE_LP_STALL_SECONDS`)? Once per run."""
        return (gap > 1e-2 and not self._whole_lp_tried and self.pb.m <= WHOLE_LP_UNTIL
                and bool(self.opt.extra.get("restricted", True))
                and time.perf_counter() - self.t0 >= WHOLE_LP_STALL_SECONDS)

    def _restricted(self, x, y, z, p, u, v, cert, min_cost: bool = False,
                    whole: bool = False):
        """Try the exact finish of :mod:`econplan.plan.restricted` from PDHG's iterate
        (``x`` activities, possibly with t appended; ``y`` duals); keep it when its
        certificate is better. ``min_cost``: min-labour's form (targets as the balance rows,
        the cost-weighted resource rows as the objective, the min-cost certificate). The
        plan's last rounding deficits (J's clipped to their bounds) go through
        :func:`repair.repair_primal` — with ``d = 0`` and t = 0 for min-cost, where only
        producing and consumers' switches can cover them (measured at 1e4 × 2: primal residual
        8e-8 with the deficits produced alone, 2.5e-10 so). ``whole``: HiGHS on the whole LP
        instead (:meth:`_stalled`). Returns (z, p, u, v, cert)."""
        from . import restricted as rx

        pb, m, n = self.pb, self.pb.m, self.pb.n
        ymin, d = (pb.y, np.zeros(n)) if min_cost else (pb.ymin, self.d)
        cost = np.asarray(pb.cost, dtype=np.float64) if min_cost else None
        t0 = time.perf_counter()
        try:
            # one try may take a multiple of the time so far: from a rough iterate the LP can
            # be far slower than from a later one (measured, 2e4 x 2: > 530 s at gap 2.6e-3,
            # 25 s at gap 2.5e-4), and PDHG goes on to the next try after it
            left = self._left()
            spent = time.perf_counter() - self.t0
            budget = max(min(left, max(RX_ELAPSED * spent, RX_MIN_SECONDS)), 0.0)
            good = (self._near(x[:m], cert) if min_cost
                    else abs(cert.duality_gap)) <= RX_GOOD_GAP
            cells = self._rx_cells if good else min(self._rx_cells, RX_ROUGH_CELLS)
            if not good and not min_cost:  # (min-labour's first try, from the labour-cheapest
                # plan before any PDHG iteration, is often its exact finish: measured 1,500 x 2)
                budget = min(budget, max(RX_ROUGH_MIN_SECONDS, spent))
            # min-cost: the targets elastic (restricted.py), at first at ten times the
            # iterate's whole cost per unit of shortfall (all targets at once)
            elastic = (ELASTIC_PENALTY * max(float(pb.c @ np.clip(x[:m], 0.0, pb.cap)), 1.0)
                       if min_cost else None)
            if whole:
                self._whole_lp_tried = True
                rx.last_reason, rx.last_size = "PDHG stalled", (pb.m, pb.n + pb.k)
                out = self._whole_lp(budget, min_cost)
            else:
                out = rx.restricted_finish(self.st, self.R, pb.b, pb.cap, ymin,
                                           pb.y if min_cost else d, x[:m], y[:n], y[n:],
                                           time_limit=budget, max_cells=cells, cost=cost,
                                           max_share=RX_MAX_SHARE, elastic=elastic)
            if (out is None and rx.last_reason.startswith(rx.NOT_SMALLER)
                    and not self._whole_lp_tried and pb.m <= WHOLE_LP_UNTIL):
                # the whole LP does not depend on the iterate: a second try would repeat the
                # first from scratch (session 23, a fuzzed economy of 8,584 products × 21,504
                # techniques: HiGHS unfinished in 25 s, then again in 143 s, while PDHG
                # certified a second after each)
                self._whole_lp_tried = True
                out = self._whole_lp(budget - (time.perf_counter() - t0), min_cost)
        except (ArithmeticError, ValueError, IndexError, RuntimeError, EconplanError) as exc:
            out, rx.last_reason = None, f"{type(exc).__name__}: {exc}"
        self._rx_seconds = time.perf_counter() - t0
        if out is None:
            self._say(f"restricted LP: no optimum ({rx.last_reason}; {rx.last_size[0]} × "
                      f"{rx.last_size[1]}; {self._rx_seconds:.1f} s)")
            self._rx_failed(cert)
            return z, p, u, v, cert
        zr, _ = repair_primal(self.st, self.R, pb.b, pb.cap, ymin, d, out[0], out[1])
        if min_cost:
            cr = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.c, zr, *out[2:])
        else:
            cr = self._cert(zr, *out[2:])
        self._say(f"restricted LP: {'cost' if min_cost else 't'} {cr.achieved:.12g}, bound "
                  f"{cr.bound:.12g}, gap {cr.duality_gap:.1e}, primal "
                  f"{cr.primal_residual:.1e}, dual {cr.dual_residual:.1e} "
                  f"({rx.last_size[0]} × {rx.last_size[1]}; {time.perf_counter() - t0:.1f} s)")
        if _better(cr, cert, self.tol) and cr.dual_residual <= self.tol:
            self.crossed = True
            return (zr, *out[2:], cr)
        self._rx_failed(cert)
        return z, p, u, v, cert

    def _near(self, x: np.ndarray, cert) -> float:
        """How near min-cost PDHG's iterate ``x`` is: the certified gap, or in stage 2 the
        iterate's own cost against the proven bound, whichever is smaller (there the
        repaired plan can cost twice the least while the iterate is within 1e-5 of it;
        measured on a fuzzed economy of 7,222 products). The restricted LP's gate and size
        limit go by it. (Not in min-labour itself: from its labour-cheapest start the
        generator's 1e4 × 2 would try a 1,479 × 1,920 LP in vain for 5.5 s.)"""
        if self.primal_fix is None:
            return abs(cert.duality_gap)
        cost_x = float(self.pb.c @ np.clip(x, 0.0, self.pb.cap))
        return min(abs(cert.duality_gap), abs(cost_x - cert.bound) / max(1.0, abs(cost_x)))

    def _whole_lp(self, seconds: float, min_cost: bool):
        """HiGHS on the whole LP (stage 1's, or min-labour's with ``min_cost``) within
        ``seconds``, for when the restricted LP would hold most techniques: then it is no
        smaller than the economy, only dense (measured, fuzzed economies of 750-800
        products: 1,087-1,099 of 1,879-1,981 techniques uncertain, 634-658 dense rows,
        4.8-9.4 s in HiGHS, against 0.2 s for the sparse whole LP). Returns what
        :func:`econplan.plan.restricted.restricted_finish` returns, or None (reason in
        its ``last_reason``)."""
        from . import restricted as rx
        from .exact import cost_duals, stage1_duals
        from .formulation import stage1
        from .highs import HighsSolver

        pb = self.pb
        extra = {**self.opt.extra, "deadline": time.perf_counter() + max(seconds, 1.0)}
        opt = dataclasses.replace(self.opt, warm_start=None, extra=extra)
        lp = stage2(pb, 1.0, exact_targets=True) if min_cost else stage1(pb)[0]
        status, x, y = HighsSolver().solve_lp(lp, opt)
        if status != Status.OPTIMAL:
            rx.last_reason = f"{rx.last_reason}; the whole LP by HiGHS: {status.value}"
            return None
        rx.last_size = (lp.A.shape[1], lp.A.shape[0])
        z = np.clip(x[:pb.m], 0.0, pb.cap)
        if min_cost:
            duals = cost_duals(pb, lp, y)
            return (z, 0.0, duals["price"], duals["resource_price"],
                    duals["capacity_price"])
        return (z, *stage1_duals(pb, lp, x, y))

    def _rx_failed(self, cert) -> None:
        self._rx_failed_gap = abs(cert.duality_gap)
        self._rx_failed_at = time.perf_counter() - self.t0

    def _proves_infeasible(self, cert) -> bool:
        """True (and ``infeasible_bound`` set) when the certificate's duals are feasible and
        bound t below zero: then no plan meets the floors (t = 0)."""
        if cert.bound < -INFEASIBLE_BOUND and cert.dual_residual <= 1e-12:
            self.infeasible_bound = cert.bound
            self._say(f"infeasible floors: dual bound t ≤ {cert.bound:.6g}")
            return True
        return False

    def blocking_result(self, floors: np.ndarray | None = None) -> SolverResult:
        """Status ``infeasible`` with which resources and capacities lack how much for the
        floors: the elastic LP of :func:`econplan.plan.formulation.elastic` (least weighted
        relaxation) by PDHG, then the floors covered exactly — within capacities where there
        is room, beyond them only by techniques the elastic plan already runs past theirs (or
        that have none). The amounts by which that plan exceeds resources and capacities are
        reported: always enough (the plan itself shows it), least when the elastic solve
        converged."""
        from ..kernels import gross_activities

        pb, st = self.pb, self.st
        n, m = pb.n, pb.m
        targets = floors is not None  # min-labour: the targets themselves, t* < 1
        floors = pb.ymin if floors is None else floors
        what = "targets" if targets else "floors"
        lp = elastic(pb, floors)
        K, q = as_inequalities(lp)
        # infeasibility is proven already: the elastic solve may overrun the limit by up to a
        # quarter of it (at most 60 s), so a short limit stays short; an unconverged elastic
        # plan still gives amounts that suffice (said in the message)
        grace = min(60.0, 0.25 * self._limit())
        r = solve_lp(K, lp.c, q, lp.col_lo, lp.col_hi, tol=1e-6,
                     time_limit=max(self._left(), grace), engine=self.engine, log=self.log)
        self.iterations += r.iterations
        # the elastic plan's small excesses over capacities are first-order noise: take them
        # back, cover what that leaves short within capacities (techniques with most room),
        # then what is still short beyond them
        z = np.maximum(r.x[:m], 0.0)
        noise = np.isfinite(pb.cap) & (z - pb.cap <= 1e-4 * np.maximum(pb.cap, 1.0))
        z[noise] = np.minimum(z[noise], pb.cap[noise])
        produce_deficits(st, np.where(noise, pb.cap, np.maximum(z, pb.cap)), floors,
                         np.zeros(n), z, 0.0, 3)
        # per product: a technique without capacity, or one already lacking, else most room
        choice = st.pick(np.where(noise, pb.cap - z, np.inf))
        for _ in range(5):
            deficit = np.maximum(floors - st.M @ z, 0.0)
            if not deficit.any():
                break
            z[choice] += gross_activities(st.A, st.o, choice, deficit)
        if (floors - st.M @ z > 1e-9 * np.maximum(np.abs(floors), 1.0)).any():
            blocking: list[dict] = []
            msg = f"{what} cannot be met even with unlimited resources and capacities"
        else:
            capped = np.isfinite(pb.cap)
            blocking = elastic_blocking(pb, np.maximum(self.R @ z - pb.b, 0.0),
                                        np.maximum(z[capped] - pb.cap[capped], 0.0),
                                        rel=BLOCKING_NOISE)
            msg = (f"{what} cannot be met with the resources and capacities available "
                   f"(first-order duals prove t* ≤ {self.infeasible_bound:.3g} < "
                   f"{1 if targets else 0}); the lacking amounts are what a plan meeting the "
                   f"{what} uses beyond them"
                   + ("" if r.converged else
                      " (elastic solve not converged: enough, perhaps more than least)"))
        return SolverResult(Status.INFEASIBLE, blocking=blocking, message=msg,
                            iterations=self.iterations, solver="pdhg")

    # -- stage 2 -------------------------------------------------------------------------------
    def stage2(self, z1: np.ndarray, t1: float, p_u_v: tuple):
        """Least resource cost at ``t ≥ t_lo``: HiGHS's simplex up to
        :data:`EXACT_STAGE2_UNTIL` techniques; above, min-labour's LP with the targets
        ``ymin + t_lo d`` (``t_lo = t1(1 − STAGE2_SLACK)``) by the certified first-order route
        (:meth:`_stage2_first_order`), and where that does not certify, HiGHS within the time
        left (up to :data:`TRY_HIGHS_STAGE2_UNTIL` techniques). Returns
        a :class:`Stage2Plan`, or None when no plan came back."""
        pb = self.pb
        # stage 2 has all the time left: the time limit's, or without one the
        # ``pdhg_time_limit`` safety limit's (900 s) (:meth:`_limit`)
        if pb.m <= EXACT_STAGE2_UNTIL:
            exact = self._stage2_highs(t1, p_u_v)
            if exact is not None:
                return exact
            return self._stage2_first_order(z1, t1, p_u_v, self._left())
        # the first-order route first, for twice stage 1's time (at least STAGE2_MIN_SECONDS)
        # where HiGHS may follow (session 22, fuzzed economies of 5,234-7,527 techniques:
        # certified in 0.5-2 s in five of six, where HiGHS first took 3.9-28 s)
        try_highs = pb.m <= TRY_HIGHS_STAGE2_UNTIL
        quick = max(STAGE2_MIN_SECONDS, STAGE2_SHARE * self._stage1_seconds)
        first = self._stage2_first_order(z1, t1, p_u_v, quick if try_highs else self._left())
        if not try_highs or (first is not None and first.cert.holds(self.tol)
                             and first.cost_cert.holds(self.tol)):
            return first
        exact = self._stage2_highs(t1, p_u_v)
        return exact if exact is not None else first

    def _stage2_first_order(self, z1: np.ndarray, t1: float, p_u_v: tuple, budget: float):
        """Stage 2 as min-labour's LP with the targets pinned at ``t_lo`` (labour-cheapest
        start, PDHG, repairs, the elastic restricted LP) within ``budget`` seconds, so the
        plan's cost is *proven* within the certificate tolerance of the least, or the message
        says by how much it may not be (before session 13 stage 2 was an uncertified PDHG run
        with an iteration budget, whose plan could cost 20 % more than the least while its
        message quoted PDHG's own 3e-3 gap). Returns what :meth:`stage2` returns."""
        pb, d = self.pb, self.d
        t_lo = t1 * (1 - STAGE2_SLACK) if t1 > 0 else t1 - STAGE2_SLACK
        pb2 = dataclasses.replace(pb, y=pb.ymin + t_lo * d, ymin=np.zeros(pb.n),
                                  objective=Objective.MIN_LABOUR)
        # within its budget: the feasible set is thin (t pinned at t*), where repairs find
        # exhausted products and may not certify; then the cheaper plan is kept and the
        # message gives the gap proven so far
        opt2 = dataclasses.replace(self.opt, time_limit=max(min(self._left(), budget), 1.0),
                                   warm_start=None)
        sub = _Run(pb2, opt2, st=self.st)  # the same economy: its structure is built once

        def fix(zc: np.ndarray) -> np.ndarray:
            """Repair into the resources and capacities, giving up t where it must (products
            at capacity), then mix in stage 1's plan just enough to keep t ≥ t_lo: every row is
            linear, so the mix is feasible whatever the iterate."""
            zr, _ = repair_primal(self.st, self.R, pb.b, pb.cap, pb.ymin, d, zc, t_lo)
            t_ach = self._cert(zr, *p_u_v).achieved
            if t_ach < t_lo:
                lam = (t1 - t_lo) / max(t1 - t_ach, 1e-300)
                zr = lam * zr + (1 - lam) * z1
            return zr

        sub.primal_fix = fix
        res = sub.min_labour()
        self.iterations += sub.iterations
        if res.status not in (Status.OPTIMAL, Status.TIME_LIMIT) or res.z is None:
            self._say(f"stage 2: {res.status.value} {res.message}")
            return None
        z = res.z
        cost_cert = min_cost_certificate(pb2.M, pb2.R, pb2.b, pb2.cap, pb2.y, pb2.c, z,
                                         res.price, res.resource_price, res.capacity_price)
        cert = self._cert(z, *p_u_v)
        self._say(f"stage 2: cost {pb.c @ z:.12g} (stage 1 {pb.c @ z1:.12g}), bound "
                  f"{cost_cert.bound:.12g}, gap {cost_cert.duality_gap:.2e}, t "
                  f"{cert.achieved:.12g}")
        return Stage2Plan(z, cert, res.price, res.resource_price, res.capacity_price,
                          cost_cert, pb2.y)

    def _stage2_highs(self, t1: float, p_u_v: tuple, seconds: float | None = None):
        """Stage 2 by HiGHS's simplex (small economies: milliseconds, and exact where the
        first-order route's thin stage-2 set may leave waste it cannot prove away). Returns
        what :meth:`stage2` returns, or None when HiGHS does not finish optimal."""
        from .exact import cost_duals
        from .highs import HighsSolver

        pb = self.pb
        limit = max(self._left() if seconds is None else min(self._left(), seconds), 1.0)
        # one deadline for all of the back-off's runs (each had the whole limit before)
        opt = dataclasses.replace(self.opt, time_limit=limit, warm_start=None, extra={
            **self.opt.extra, "deadline": time.perf_counter() + limit})
        lp2, status, z, y2 = HighsSolver().stage2_backoff(pb, t1, opt)
        if status != Status.OPTIMAL:
            return None
        z = np.clip(z, 0.0, pb.cap)
        duals = cost_duals(pb, lp2, y2)
        lo = np.asarray(lp2.row_lo[:pb.n], dtype=np.float64)
        cost_cert = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, lo, pb.c, z,
                                         duals["price"], duals["resource_price"],
                                         duals["capacity_price"])
        self._say(f"stage 2 (HiGHS): cost {pb.c @ z:.12g}, gap {cost_cert.duality_gap:.2e}")
        return Stage2Plan(z, self._cert(z, *p_u_v), duals["price"], duals["resource_price"],
                          duals["capacity_price"], cost_cert, lo)

    def _stage2_shortcut(self, z1: np.ndarray, cert1, u: np.ndarray):
        """Stage 2 is unnecessary when the cost is one resource (labour, by default) that binds
        in stage 1: the stage-1 duals are a supergradient of t*(b), so any plan reaching
        ``t_lo`` uses at least ``b_k − (bound − t_lo)/u_k`` of it, and stage 1's plan uses at
        most ``b_k``. When that spread is within 1e-5 (relative; ``stage2_shortcut_tolerance``)
        stage 1's plan *is* the least-cost plan to that tolerance; its valuations in the cost
        unit are then the stage-1 duals divided by ``u_k`` (DESIGN.md: valuations equal labour
        values when labour alone binds). Returns (price, resource price, capacity price, message) or
        None."""
        pb = self.pb
        w = np.asarray(pb.cost, dtype=np.float64)
        if np.count_nonzero(w) != 1:
            return None
        k = int(np.flatnonzero(w)[0])
        if u[k] <= 0:
            return None
        t1 = cert1.achieved
        t_lo = t1 * (1 - STAGE2_SLACK) if t1 > 0 else t1 - STAGE2_SLACK
        used = float((self.R @ z1)[k])
        lower = pb.b[k] - (cert1.bound - t_lo) / u[k]
        spread = (used - lower) / max(abs(lower), 1e-300)
        # stage 2 by PDHG itself ends ~1e-4 from the least cost (tests/test_pdhg.py), so a
        # proven spread of 1e-5 is the better plan; the message states the spread
        if not (0 <= spread <= float(self.opt.extra.get("stage2_shortcut_tolerance", 1e-5))):
            return None
        # valuations in cost units: one unit of t costs 1/u_k of resource k, each unit of it
        # w_k; stage 2's resource prices (the shadow beyond the cost, base.SolverResult's
        # convention p·M_j − ρ·R_j − v_j ≤ c_j) are the rest of u at that rate, 0 on k
        scale = w[k] / u[k]
        p, v = self._p1 * scale, self._v1 * scale
        rho = u * scale
        rho[k] = 0.0
        message = (f"pdhg: stage 2 not needed: the cost resource binds and stage 1's plan is "
                   f"within {spread:.1e} (relative) of the least cost")
        return p, rho, v, message

    def _unbounded(self) -> bool:
        """Is ``max t`` unbounded? Exactly when the techniques without capacity that use no
        resource (F) can make d on their own: ``M_F w ≥ d, w ≥ 0`` (a ray of the LP; any ray
        has R w ≤ 0, so w = 0 on techniques using a resource, and w = 0 on capped ones), and
        the floors can be met (checked here only without floors: z = 0 meets them). A
        small LP by HiGHS, only when F is not empty (PDHG would run to its limit: a fuzzer's
        two products making each other, 225 s)."""
        pb = self.pb
        free = np.isinf(pb.cap) & (np.diff(sp.csc_array(self.R).indptr) == 0)
        # with floors the LP may be infeasible instead (then stage 1 finds the blocking list)
        if not free.any() or free.sum() > UNBOUNDED_CHECK_UNTIL or (pb.ymin > 0).any():
            return False
        from scipy.optimize import linprog

        MF = sp.csc_array(pb.M)[:, np.flatnonzero(free)]
        r = linprog(np.zeros(MF.shape[1]), A_ub=-MF, b_ub=-self.d, bounds=(0, None),
                    method="highs")
        return r.status == 0

    # -- min-labour ---------------------------------------------------------------------------
    def min_labour(self) -> SolverResult:
        """``min c·z, M z ≥ y, R z ≤ b, 0 ≤ z ≤ cap`` (formulation.stage2 with the targets met
        exactly) by PDHG; every ``every`` iterations the iterate is repaired — deficits produced
        within capacities (:func:`repair.produce_deficits`), prices lowered until no technique
        without rent makes a profit (:func:`repair.repair_cost_dual`) — and its DESIGN.md
        min-cost certificate checked; the solve ends when it holds. The same duals scaled to
        ``q·y = 1`` bound the fulfilment ``t*`` of the targets (``ymin = 0``, ``d = y``): below
        1 − 1e-6 they prove the targets unreachable (status infeasible, with what lacks)."""
        pb, st = self.pb, self.st
        n, m = pb.n, pb.m
        cost = np.asarray(pb.cost, dtype=np.float64)
        c = pb.c
        zero = np.zeros(n)
        K, q = as_inequalities(stage2(pb, 1.0, exact_targets=True))
        best: list = []

        def certify(x: np.ndarray, yv: np.ndarray) -> bool:
            z = np.clip(x, 0.0, pb.cap)
            produce_deficits(st, pb.cap, pb.y, zero, z, 0.0, 3)
            if self.primal_fix is not None:  # stage 2: a plan feasible by construction
                z = self.primal_fix(z)
            qp, u, v = repair_cost_dual(st, self.R, pb.b, pb.cap, pb.y, cost, yv[:n], yv[n:],
                                        z=z)
            cert = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, c, z, qp, u, v)
            self._say(f"min-labour: cost {cert.achieved:.12g}, bound {cert.bound:.12g}, gap "
                      f"{cert.duality_gap:.2e}, primal {cert.primal_residual:.1e}")
            if (not cert.holds(self.tol) and self._near(x, cert) <= 1e-2
                    and self._rx_due(cert)):
                z, qp, u, v, cert = self._restricted(x, yv, z, qp, u, v, cert,
                                                     min_cost=True)
            elif not cert.holds(self.tol) and self._stalled(self._near(x, cert)):
                z, qp, u, v, cert = self._restricted(x, yv, z, qp, u, v, cert,
                                                     min_cost=True, whole=True)
            if not best or _better(cert, best[0][4], self.tol):
                best[:] = [(z, qp, u, v, cert)]
            return cert.holds(self.tol) or unreachable(x, yv)

        def unreachable(x: np.ndarray, yv: np.ndarray) -> bool:
            # (q, u + cost) meet the fulfilment dual's inequalities whenever (q, u) meet the
            # min-cost one's: a least-cost bound above the whole budget cost·b proves t* < 1
            p, u, v = repair_dual(st, self.R, pb.b, pb.cap, zero, pb.y, yv[:n],
                                  yv[n:] + cost)
            cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, zero, np.zeros(m),
                                          p, u, v)
            if cert.dual_residual <= 1e-12 and cert.bound < 1.0 - INFEASIBLE_BOUND:
                self.infeasible_bound = cert.bound
                self._say(f"targets unreachable: dual bound t ≤ {cert.bound:.6g}")
                return True
            return False

        ws = self.opt.warm_start
        x0 = ws.z if ws is not None and ws.z is not None and len(ws.z) == m else None
        y0 = None
        if x0 is None and self.opt.extra.get("labour_start", True):
            start = self._labour_start(pb.y)
            if start is not None:  # the optimum when only labour costs and nothing binds:
                zy, lam, kl = start  # then it certifies at once; else PDHG starts cold
                x_s = np.minimum(zy, pb.cap)
                y_s = np.concatenate([lam * float(cost[kl]), np.zeros(pb.k)])
                if certify(x_s, y_s) and self.infeasible_bound is not None:
                    return self.blocking_result(floors=pb.y)
                if best and best[0][4].holds(self.tol):
                    z, qp, u, v, cert = best[0]
                    return SolverResult(
                        Status.OPTIMAL, t=1.0, z=z, price=qp, resource_price=u,
                        capacity_price=v, solver="pdhg", iterations=0,
                        solver_version="econplan-pdhg (" + (
                            "restricted LP from the labour-cheapest plan" if self.crossed
                            else "labour-cheapest plan") + ", certified)")
        every = int(self.opt.extra.get("check_every", 512))
        r = solve_lp(K, c, q, np.zeros(m), pb.cap, x0=x0, y0=y0, tol=1e-13,
                     time_limit=max(self._left(), 0.0), engine=self.engine, log=self.log,
                     callback=certify, callback_every=every)
        self.iterations += r.iterations
        if self.infeasible_bound is None and (not best or not best[0][4].holds(self.tol)):
            certify(r.x, r.y)
        if self.infeasible_bound is not None:
            return self.blocking_result(floors=pb.y)
        z, qp, u, v, cert = best[0]
        ok = cert.holds(self.tol)
        return SolverResult(
            Status.OPTIMAL if ok else Status.TIME_LIMIT, t=1.0, z=z, price=qp,
            resource_price=u, capacity_price=v, solver="pdhg",
            solver_version=f"econplan-pdhg ({r.engine})", iterations=self.iterations,
            message="" if ok else (
                f"pdhg: certificate not reached in the time limit (gap {cert.duality_gap:.2e},"
                f" primal {cert.primal_residual:.1e}, dual {cert.dual_residual:.1e})"))

    def run(self) -> SolverResult:
        pb = self.pb
        if pb.objective == Objective.MIN_LABOUR:
            return self.min_labour()
        if not (self.d > 0).any():
            # nothing above the floors (y = ymin): t is 1 by convention and the plan meets the
            # floors at least cost, which is min-labour's LP with the floors as targets (stage
            # 1's max t would be unbounded: PDHG diverged on it); fulfilment duals are 0
            res = self.min_labour()
            if res.status in (Status.OPTIMAL, Status.TIME_LIMIT):
                res.p, res.u, res.v = np.zeros(pb.n), np.zeros(pb.k), np.zeros(pb.m)
            return res
        if self._unbounded():
            return SolverResult(Status.UNBOUNDED, solver="pdhg", message=UNBOUNDED_MESSAGE)
        t_stage1 = time.perf_counter()
        out = self.stage1()
        self._stage1_seconds = time.perf_counter() - t_stage1
        if out is None:
            return self.blocking_result()
        z1, p, u, v, cert1, r1 = out
        self._p1, self._v1 = p, v
        status = Status.OPTIMAL if cert1.holds(self.tol) else Status.TIME_LIMIT
        t_star = cert1.achieved
        message = ""
        z, price, u2, v2 = z1, None, None, None
        shortcut = self._stage2_shortcut(z1, cert1, u) if status == Status.OPTIMAL else None
        if shortcut is not None:
            price, u2, v2, message = shortcut
        elif status == Status.OPTIMAL and self._left() > 0:
            out2 = self.stage2(z1, t_star, (p, u, v))
            if (out2 is not None and out2.cert.holds(self.tol)
                    and out2.cost_cert.holds(self.tol) and pb.c @ out2.z > pb.c @ z1):
                # stage 1's plan costs no more (equal but for rounding: a tiny t*, where both
                # make the floors at least cost): it meets stage 2's targets (t* ≥ t_lo), so
                # stage 2's duals bound its cost too; keep it with them when that holds
                kept = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, out2.targets, pb.c, z1,
                                            out2.price, out2.resource_price,
                                            out2.capacity_price)
                self._say(f"stage 2: stage 1's plan costs no more ({pb.c @ z1:.12g} against "
                          f"{pb.c @ out2.z:.12g}); against stage 2's duals: gap "
                          f"{kept.duality_gap:.2e}, primal {kept.primal_residual:.1e}")
                if kept.holds(self.tol):
                    out2 = out2._replace(z=z1, cert=cert1, cost_cert=kept)
            if out2 is not None and out2.cert.holds(self.tol) and pb.c @ out2.z <= pb.c @ z1:
                z, price, u2, v2 = out2.z, out2.price, out2.resource_price, out2.capacity_price
                cost_cert = out2.cost_cert
                if not cost_cert.holds(self.tol):
                    status = Status.TIME_LIMIT  # t* is proven, the least cost is not
                    message = (f"pdhg: stage 2 (least resource cost) not certified in its "
                               f"time: cost {cost_cert.achieved:.10g}, proven least cost ≥ "
                               f"{cost_cert.bound:.10g} (gap {cost_cert.duality_gap:.1e}); "
                               f"t* = {t_star:.10g} is certified")
            elif out2 is not None:
                status = Status.TIME_LIMIT  # t* is proven, the least cost is not
                cc = out2.cost_cert
                bound = (f"proven least cost ≥ {cc.bound:.10g}"
                         if cc.dual_residual <= self.tol else "no proven lower bound")
                why = (f"did not meet every row to 1e-6: primal residual "
                       f"{out2.cert.primal_residual:.1e}" if not out2.cert.holds(self.tol) else
                       "cost more, and stage 2's duals do not prove stage 1's cost")
                message = (f"pdhg: stage 2 (least resource cost) not certified in the time "
                           f"limit; stage 1's plan is kept: cost {pb.c @ z1:.10g}, {bound} "
                           f"(stage 2's own plan, cost {cc.achieved:.10g}, {why})")
            else:
                status = Status.TIME_LIMIT  # t* is proven, the least cost is not
                message = (f"pdhg: stage 2 (least resource cost) ended without a plan; stage "
                           f"1's plan is kept: cost {pb.c @ z1:.10g}, not proven least")
        elif status == Status.OPTIMAL:
            status = Status.TIME_LIMIT  # t* is proven, the least cost is not
            message = (f"pdhg: no time left for stage 2 (least resource cost); stage 1's plan "
                       f"is kept: cost {pb.c @ z1:.10g}, not proven least; t* = "
                       f"{t_star:.10g} is certified")
        elif status != Status.OPTIMAL:
            message = (f"pdhg: certificate not reached in the time limit (gap "
                       f"{cert1.duality_gap:.2e}, primal {cert1.primal_residual:.1e}, dual "
                       f"{cert1.dual_residual:.1e})"
                       + (f"; {self._start_kept}" if self._start_kept else ""))
        return SolverResult(
            status, t=t_star, z=z, p=p, u=u, v=v, price=price, resource_price=u2,
            capacity_price=v2, solver="pdhg",
            solver_version=f"econplan-pdhg ({r1.engine if r1 is not None else 'structured start'})",
            iterations=self.iterations,
            message=message,
        )
