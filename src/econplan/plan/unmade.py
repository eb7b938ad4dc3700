"""Products nothing can make, removed before the structured solvers and restored after.

A bundle may list products that no technique makes (a sector with zero output in an
input–output table, a product planned for later). If nobody needs them, the LP has a row
``−A_e z ≥ 0`` for each: every technique that uses such a product must stand still, and a
product whose techniques all stand still is unmade in turn. HiGHS handles these rows as they
come; the structured solvers (``fast``, ``pdhg``) group techniques by product and need every
product made. So they plan the *reduced* economy — unmade products and the techniques that
use them taken out, level by level — and the plan is lifted back:

* activities: 0 for every removed technique (so every removed row holds: nothing is made of
  the product and nothing uses it);
* prices of kept products, resource prices and capacity rents: those of the reduced plan;
* prices of removed products: high enough that no removed technique is profitable, so the
  duals stay feasible for the whole economy. A technique removed at level L uses a product
  removed at a level below L; raising that product's price makes the technique unprofitable
  and only makes the product's own techniques (lower levels, priced afterwards) more
  profitable. So the levels are priced from the top down, one pass each.

The removed products have no needs (y = ymin = 0), so p·d, the bound ``u·b + v·cap − p·ymin``
and therefore the certificate are those of the reduced plan. When a removed product *is*
needed, no reduced problem is built (``Reduction.needed`` names those products) and
:func:`solve_made` hands the whole LP to HiGHS.
Units: as the plan's (activities per technique, prices per product unit).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .base import PlanProblem, SolverOptions, SolverResult

__all__ = ["Reduction", "reduce_unmade", "solve_made"]


@dataclass(frozen=True)
class Reduction:
    """The reduced problem and how to lift its result back to the full one."""

    full: PlanProblem
    problem: PlanProblem | None  # None when ``needed`` is not empty
    needed: np.ndarray  # unmade products that have a target or a floor
    products: np.ndarray  # kept product indices (into the full problem)
    techniques: np.ndarray  # kept technique indices
    tech_level: np.ndarray  # (m,) 0 kept, L ≥ 1 the level a technique was removed at
    blocker: np.ndarray  # (m,) for a removed technique: the removed product it uses

    def options(self, options: SolverOptions) -> SolverOptions:
        """``options`` with its warm start (a full-size result) cut to the reduced problem."""
        ws = options.warm_start
        if ws is None:
            return options
        cut = dataclasses.replace(
            ws,
            z=None if ws.z is None else np.asarray(ws.z)[self.techniques],
            p=None if ws.p is None else np.asarray(ws.p)[self.products],
            v=None if ws.v is None else np.asarray(ws.v)[self.techniques],
            price=None if ws.price is None else np.asarray(ws.price)[self.products],
            capacity_price=(None if ws.capacity_price is None
                            else np.asarray(ws.capacity_price)[self.techniques]))
        return dataclasses.replace(options, warm_start=cut)

    def lift(self, res: SolverResult) -> SolverResult:
        """The reduced result as a result of the full problem (module docstring)."""
        full = self.full
        n, m = full.n, full.m
        out = dataclasses.replace(res)
        if res.z is not None:
            out.z = _scatter(res.z, self.techniques, m)
        if res.v is not None:
            out.v = _scatter(res.v, self.techniques, m)
        if res.capacity_price is not None:
            out.capacity_price = _scatter(res.capacity_price, self.techniques, m)
        if res.p is not None and res.u is not None:
            out.p = self._prices(_scatter(res.p, self.products, n), np.asarray(res.u),
                                 np.zeros(m))
        if res.price is not None and res.resource_price is not None:
            # the resource-minimising stage's duals (min-labour, or stage 2 of fulfilment):
            # there a technique may earn up to its cost, ``price·M_j − u·R_j − v_j ≤ c_j``
            out.price = self._prices(_scatter(res.price, self.products, n),
                                     np.asarray(res.resource_price), np.asarray(full.c))
        if res.blocking:
            out.blocking = [dict(b, index=int(self.techniques[b["index"]]))
                            if b.get("kind") == "capacity" else b for b in res.blocking]
        return out

    def _prices(self, p: np.ndarray, u: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """Raise the prices of removed products, top level first, until no removed technique
        earns more than its cost: ``p·M_j − u·R_j − cost_j ≤ 0``."""
        full = self.full
        M = sp.csc_array(full.M)
        R = sp.csr_array(full.R)
        p = p.copy()
        for level in range(int(self.tech_level.max(initial=0)), 0, -1):
            js = np.flatnonzero(self.tech_level == level)
            profit = M[:, js].T @ p - R[:, js].T @ u - cost[js]
            e = self.blocker[js]
            a = -np.asarray(M[e, js]).ravel()  # input of the blocking product, > 0
            need = np.where(profit > 0, profit / a, 0.0) * (1 + 1e-12)
            rise = np.zeros(full.n)
            np.maximum.at(rise, e, need)
            p += rise
        return p


def _scatter(x: np.ndarray, idx: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size)
    out[idx] = np.asarray(x)
    return out


def levels(M: sp.sparray, tech_product: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """(product removed?, technique level, blocker) for net outputs ``M`` (n × m) and the
    product each technique makes: products with no technique are removed at level 0; a
    technique using a removed product is removed at the next level (its blocker: the removed
    input it uses most of); a product whose techniques are all removed follows. Techniques
    left at level 0 can run."""
    n, m = M.shape
    tp = np.asarray(tech_product, dtype=np.int64)
    removed = np.bincount(tp, minlength=n) == 0
    level = np.zeros(m, dtype=np.int64)
    blocker = np.full(m, -1, dtype=np.int64)
    if not removed.any():  # every product made: nothing to propagate
        return removed, level, blocker
    A = sp.csc_array(-M.multiply(M < 0))  # inputs, ≥ 0
    AT = sp.csr_array(A.T)
    alive = np.ones(m, dtype=bool)
    L = 0
    while removed.any():
        L += 1
        uses = AT @ removed.astype(np.float64)
        hit = alive & (uses > 0)
        if not hit.any():
            break
        sub = sp.csr_array(AT[np.flatnonzero(hit)] @ sp.diags_array(removed.astype(np.float64)))
        blocker[hit] = np.asarray(sub.argmax(axis=1)).ravel()
        level[hit] = L
        alive &= ~hit
        made = np.bincount(tp[alive], minlength=n) > 0
        new = ~made & ~removed
        if not new.any():
            break
        removed |= new
    return removed, level, blocker


def unmakeable(pb: PlanProblem) -> np.ndarray:
    """Products (bool, n) nothing can make: no technique, or only techniques that need such
    products (the same set ``values.csv`` leaves empty)."""
    return levels(pb.M, pb.tech_product)[0]


def reduce_unmade(pb: PlanProblem) -> Reduction | None:
    """The reduction of ``pb`` without its unmade products (module docstring), or None when
    every product can be made. When an unmade product is needed (directly or through unmade
    inputs), ``needed`` names them and no reduced problem is built."""
    if (np.bincount(np.asarray(pb.tech_product), minlength=pb.n) > 0).all():
        return None
    removed, level, blocker = levels(pb.M, pb.tech_product)
    needed = np.flatnonzero(removed & ((np.asarray(pb.y) > 0) | (np.asarray(pb.ymin) > 0)))
    products = np.flatnonzero(~removed)
    techniques = np.flatnonzero(level == 0)
    if len(needed):
        return Reduction(pb, None, needed, products, techniques, level, blocker)
    remap = np.full(pb.n, -1, dtype=np.int64)
    remap[products] = np.arange(len(products))
    M = sp.csc_array(pb.M)[products][:, techniques]
    reduced = dataclasses.replace(
        pb, M=sp.csc_array(M), R=sp.csr_array(sp.csr_array(pb.R)[:, techniques]),
        cap=np.asarray(pb.cap)[techniques], y=np.asarray(pb.y)[products],
        ymin=np.asarray(pb.ymin)[products],
        tech_product=remap[np.asarray(pb.tech_product)[techniques]],
        output=np.asarray(pb.output)[techniques])
    return Reduction(pb, reduced, needed, products, techniques, level, blocker)


def solve_made(problem: PlanProblem, options: SolverOptions, solver) -> SolverResult | None:
    """``solver`` (a backend: ``.solve``, ``.name``) on the economy without its unmade
    products, its result lifted back and named after it (``solver``, ``seconds``); None when
    every product can be made (the caller solves as it is). When an unmade product is needed,
    HiGHS solves the whole economy (it handles such rows as they come) and the message says
    why."""
    start = time.perf_counter()
    red = reduce_unmade(problem)
    if red is None:
        return None
    if len(red.needed):
        from .highs import HighsSolver

        res = HighsSolver().solve(problem, options)
        res.message = (f"products nobody can make are needed (indices "
                       f"{red.needed[:5].tolist()}): solved by HiGHS. " + (res.message or ""))
    else:
        res = red.lift(solver.solve(red.problem, red.options(options)))
    res.solver = solver.name
    res.seconds = time.perf_counter() - start
    return res
