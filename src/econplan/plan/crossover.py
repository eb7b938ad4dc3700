"""Structured crossover: from an approximate plan to the exact vertex it is close to.

A first-order solution says, for nearly every technique, whether it stands still, runs at
capacity, or runs in between ("free"), and which resources bind. With that guess the stage-1
optimality conditions are a *bordered Leontief system*: per product one free technique ``J(i)``
carries the product's balance row; the few extra free techniques ``X`` (mixes forced by
resources), the fulfilment t, the binding resources and the "exhausted" products (every
technique fixed but the row tight) form a small border. Using the economy's structure
(every choice of one technique per product is productive), both halves take a handful of
matrix-free Leontief solves plus one small dense solve:

* **primal**: ``x = Y(θ) + Q_J x`` on the products that have a J technique, with
  ``θ = (t, z_X)``; each of ``1 + 1 + |X|`` right-hand sides is one multi-column solve, and the
  small system "binding resources used up, exhausted products' rows tight" fixes θ;
* **dual**: ``p = r̃(u, p_E) + Q_Jᵀ p`` (zero reduced profit on J), linear in the binding
  resources' prices u and the exhausted products' prices p_E; the small system "zero reduced
  profit on X, p·d = 1" fixes them.

The result is checked, not trusted: the caller recomputes the DESIGN.md certificate, and when
the guess was wrong (a bound violated, a wrong sign) this returns ``None`` and the caller keeps
its repaired first-order plan.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..kernels import CsrOperator, chosen_input_matrix, fixed_point_solve
from .repair import Structure

__all__ = ["crossover"]

#: why the last call returned None (diagnostics)
last_reason = ""


def _solve(Q: sp.sparray, rhs: np.ndarray) -> np.ndarray:
    """x = rhs + Q x for every column of rhs (ρ(Q) < 1), to 1e-14 relative."""
    op = CsrOperator(sp.csr_array(Q), None)
    x, _, _ = fixed_point_solve(op, np.ascontiguousarray(rhs), tol=1e-14, maxiter=2000)
    return np.asarray(x)


def crossover(
    st: Structure,
    R: sp.csr_array,
    b: np.ndarray,
    cap: np.ndarray,
    ymin: np.ndarray,
    d: np.ndarray,
    z: np.ndarray,
    p: np.ndarray,
    u: np.ndarray,
    t: float,
    max_border: int = 400,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact (z, t, p, u, v) at the vertex an approximate stage-1 solution points to, or None.

    ``z`` activities, ``t`` fulfilment and ``p``, ``u`` duals of an approximate solution (any
    scale of p·d).
    A technique is guessed free when it is away from its bounds (relative ``rel``) *and* its
    reduced profit is near zero (relative ``rel``); otherwise it sits at the bound its profit's
    sign (or, for a near-zero profit, its activity) points to. Several thresholds are tried,
    each guess checked; the first that checks is returned.
    """
    global last_reason
    reasons = []
    for rel in (1e-4, 1e-5, 1e-3, 1e-6, 1e-2):
        out = _crossover(st, R, b, cap, ymin, d, z, p, u, t, rel, max_border)
        if out is not None:
            return out
        reasons.append(f"{rel:.0e}: {last_reason}")
    last_reason = "; ".join(reasons)
    return None


def _crossover(st, R, b, cap, ymin, d, z, p, u, t_approx, rel, max_border):
    n = st.n
    tp, o = st.tp, st.o
    capped = np.isfinite(cap)
    z = np.clip(np.asarray(z, dtype=np.float64), 0.0, cap)
    # --- the guess ------------------------------------------------------------------------
    scale = np.zeros(n)
    np.maximum.at(scale, tp, z * o)  # largest output of any technique of the product
    p = np.maximum(np.asarray(p, dtype=np.float64), 0.0)
    u = np.maximum(np.asarray(u, dtype=np.float64), 0.0)
    profit = st.M.T @ p - R.T @ u
    col = (float(p.max(initial=0.0)) * np.asarray(abs(st.M).sum(axis=0)).ravel()
           + float(u.max(initial=0.0)) * np.asarray(abs(R).sum(axis=0)).ravel())
    rprofit = profit / np.maximum(col, 1e-300)
    room_lo = z * o / np.maximum(scale[tp], 1e-300)
    room_hi = np.where(capped, (cap - z) / np.where(capped, np.maximum(cap, 1e-300), 1.0),
                       np.inf)
    interior = (room_lo > rel) & (room_hi > rel)
    flat = np.abs(rprofit) <= rel
    free = interior & flat
    by_sign = ~flat
    at_cap = capped & ~free & np.where(by_sign, rprofit > 0, room_hi <= room_lo)
    order = np.lexsort((-z * o, tp))  # per product, the free technique running most first
    fo = free[order]
    first = np.full(n, -1, dtype=np.int64)
    cand = order[fo]
    prods = tp[cand]
    keep_first = np.ones(len(cand), dtype=bool)
    keep_first[1:] = prods[1:] != prods[:-1]
    first[prods[keep_first]] = cand[keep_first]
    X = cand[~keep_first]  # extra free techniques
    hasJ = first >= 0
    used = R @ z
    binding = used >= b * (1 - rel)
    Kb = np.flatnonzero(binding)
    # exhausted: no free technique, but the row is tight. A vertex has exactly as many of
    # them as the border needs (|X| + 1 − binding resources): take the most tightly held
    # (priced highest, least slack at t) of the products without a free technique
    slack = st.M @ z - ymin - t_approx * d
    row_scale = abs(st.M) @ z
    cand = np.flatnonzero(~hasJ & (row_scale > 0))
    need = len(X) + 1 - len(Kb)
    if need < 0 or need > len(cand):
        return _fail(f"border needs {need} exhausted products, {len(cand)} candidates")
    score = (p[cand] / max(float(p.max(initial=0.0)), 1e-300)
             - np.abs(slack[cand]) / np.maximum(row_scale[cand], 1e-300))
    E = np.sort(cand[np.argsort(-score, kind="stable")[:need]])
    if len(X) + len(E) + len(Kb) > max_border:
        return _fail(f"border too large: {len(X)} extra, {len(E)} exhausted, {len(Kb)} res")
    # --- Leontief system on the products with a J technique --------------------------------
    choice = np.where(hasJ, first, 0)
    keep = hasJ.astype(np.float64)
    Q = chosen_input_matrix(st.A, o, choice)
    Q = sp.csr_array(sp.diags_array(keep) @ Q @ sp.diags_array(keep))
    QE = sp.csr_array(chosen_input_matrix(st.A, o, choice)[E, :] @ sp.diags_array(keep))
    fixed = np.where(at_cap, cap, 0.0)
    # net requirement per product, as columns: base, per unit t, per unit of each X technique
    Y0 = ymin - st.M @ fixed
    cols = [Y0, d] + [-(st.M[:, [x]].toarray().ravel()) for x in X]
    Y = np.column_stack(cols)
    xs = _solve(Q, Y * keep[:, None])  # J rows; E rows read off below
    xE = Y[E, :] + QE @ xs  # x_E(θ) = 0 for exhausted rows
    oJ = np.where(hasJ, o[choice], 1.0)
    zJ = xs / oJ[:, None] * keep[:, None]  # activities of J techniques per column
    # resources: R fixed + R_J zJ + R_X z_X = b on binding rows
    RJ = sp.csr_array(R[:, choice] @ sp.diags_array(keep))
    Rcols = RJ @ zJ  # k × (2 + |X|)
    Rcols[:, 2:] += R[:, X].toarray()
    r_fixed = R @ fixed
    # small system in θ = (1, t, z_X): rows = exhausted + binding resources
    G = np.vstack([xE, Rcols[Kb, :]]) if len(E) + len(Kb) else np.zeros((0, Y.shape[1]))
    h = np.concatenate([np.zeros(len(E)), b[Kb] - r_fixed[Kb]])
    if G.shape[0] != G.shape[1] - 1:  # the guess does not make a square border
        return _fail(f"primal border {G.shape[0]}x{G.shape[1] - 1}: {len(X)} extra, "
                     f"{len(E)} exhausted, {len(Kb)} binding resources")
    try:
        theta = np.linalg.solve(G[:, 1:], h - G[:, 0])
    except np.linalg.LinAlgError:
        return _fail("singular border")
    t = float(theta[0])
    coef = np.concatenate([[1.0], theta])
    z_new = fixed.copy()
    z_new[choice[hasJ]] = (zJ @ coef)[hasJ]
    z_new[X] = theta[1:]
    tolb = 1e-9
    if (z_new < -tolb * np.maximum(scale[tp], 1.0)).any() or (
            z_new[capped] > cap[capped] * (1 + tolb)).any():
        return _fail("activities outside their bounds")
    z_new = np.clip(z_new, 0.0, cap)
    # --- duals: p_J = r̃(u, p_E) + Q_Jᵀ p_J --------------------------------------------------
    AJ = sp.csc_array(st.A[:, choice])  # inputs of J techniques (n × n, column i = J(i))
    rt_cols = [R[[k], :][:, choice].toarray().ravel() / oJ * keep for k in Kb]
    rt_cols += [AJ[[e], :].toarray().ravel() / oJ * keep for e in E]
    if not rt_cols:
        return _fail("no binding resource or exhausted product")
    RT = np.column_stack(rt_cols)
    P = _solve(sp.csr_array(Q.T), RT)  # n × (Kb + E): p per unit of each unknown
    P[E, len(Kb) + np.arange(len(E))] = 1.0  # the exhausted products' own prices
    # equations: zero reduced profit on X; p·d = 1
    MX = st.M[:, X].toarray() if len(X) else np.zeros((n, 0))
    RX = R[Kb, :][:, X].toarray() if len(X) else np.zeros((len(Kb), 0))
    rows = []
    for i in range(len(X)):
        row = MX[:, i] @ P
        row[: len(Kb)] -= RX[:, i]
        rows.append(row)
    rows.append(d @ P)
    H = np.vstack(rows)
    rhs = np.zeros(H.shape[0])
    rhs[-1] = 1.0
    if H.shape[0] != H.shape[1]:
        return _fail("dual border not square")
    try:
        w = np.linalg.solve(H, rhs)
    except np.linalg.LinAlgError:
        return _fail("singular border")
    p_new = P @ w
    u_new = np.zeros(R.shape[0])
    u_new[Kb] = w[: len(Kb)]
    if (u_new < 0).any() or (p_new < -1e-12 * np.abs(p_new).max(initial=0.0)).any():
        return _fail("negative prices")
    p_new = np.maximum(p_new, 0.0)
    profit = st.M.T @ p_new - R.T @ u_new
    col_new = (float(p_new.max(initial=0.0)) * np.asarray(abs(st.M).sum(axis=0)).ravel()
               + float(u_new.max(initial=0.0)) * np.asarray(abs(R).sum(axis=0)).ravel())
    if (~capped & (profit > 1e-9 * col_new)).any():
        return _fail("a technique without capacity is profitable at the vertex's prices")
    v_new = np.where(capped, np.maximum(profit, 0.0), 0.0)
    return z_new, t, p_new, u_new, v_new


def _fail(reason: str) -> None:
    global last_reason
    last_reason = reason
    return None
