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

import time

import numpy as np
import scipy.sparse as sp

from ..kernels import chosen_input_matrix
from .repair import Structure
from .repair import leontief_solve as _solve

__all__ = ["crossover"]

#: why the last call returned None (diagnostics)
last_reason = ""


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
    max_border: int = 200,
    rounds: int = 4,
    deadline: float = float("inf"),
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact (z, t, p, u, v) at the vertex an approximate stage-1 solution points to, or None.

    ``z`` activities, ``t`` fulfilment and ``p``, ``u`` duals of an approximate solution (any
    scale of p·d). The first guess: a technique is free when it is away from its bounds
    (relative ``rel``) *and* its reduced profit is near zero; otherwise it sits at the bound
    its profit's sign (or its activity) points to. Then a primal-dual active-set loop: solve
    the bordered system for the guess; activities outside their bounds are put on them;
    fixed techniques whose reduced profit has the wrong sign are freed; resources whose price
    comes out negative stop binding, over-used ones start. Each round is a handful of
    Leontief solves; the loop ends at a vertex that checks (returned) or after ``rounds``.
    Measured: from a PDHG solution at relative tolerance ~1e-8 (2,000 products) to ~1e-10
    (10,000) the first guess is right; from looser ones the active-set rounds do not find
    the vertex (setting every violated activity onto its bound at once overshoots), so the
    caller tightens PDHG and tries again. ``deadline`` (a ``time.perf_counter()`` value): no
    active-set round and no dual solve starts after it (then None): at 1e5 × 2 a try with a
    1,300-wide border took 242 s, which near the plan's time limit would overrun it.
    """
    global last_reason
    reasons = []
    for rel in (1e-5, 1e-3):
        out = _active_set(st, R, b, cap, ymin, d, z, p, u, t, rel, max_border, rounds,
                          deadline)
        if out is not None:
            return out
        reasons.append(f"{rel:.0e}: {last_reason}")
    last_reason = "; ".join(reasons)
    return None


def _active_set(st, R, b, cap, ymin, d, z, p, u, t_approx, rel, max_border, rounds,
                deadline=float("inf")):
    n = st.n
    tp, o = st.tp, st.o
    capped = np.isfinite(cap)
    z = np.clip(np.asarray(z, dtype=np.float64), 0.0, cap)
    scale = np.zeros(n)
    np.maximum.at(scale, tp, z * o)  # largest output of any technique of the product
    scale = np.maximum(scale, 1e-300)
    p = np.maximum(np.asarray(p, dtype=np.float64), 0.0)
    u = np.maximum(np.asarray(u, dtype=np.float64), 0.0)
    colM = np.asarray(abs(st.M).sum(axis=0)).ravel()
    colR = np.asarray(abs(R).sum(axis=0)).ravel()
    profit = st.M.T @ p - R.T @ u
    col = float(p.max(initial=0.0)) * colM + float(u.max(initial=0.0)) * colR
    rprofit = profit / np.maximum(col, 1e-300)
    room_lo = z * o / scale[tp]
    room_hi = np.where(capped, (cap - z) / np.where(capped, np.maximum(cap, 1e-300), 1.0),
                       np.inf)
    flat = np.abs(rprofit) <= rel
    free = (room_lo > rel) & (room_hi > rel) & flat
    at_cap = capped & ~free & np.where(flat, room_hi <= room_lo, rprofit > 0)
    binding = R @ z >= b * (1 - rel)
    slack = st.M @ z - ymin - t_approx * d
    row_scale = np.maximum(abs(st.M) @ z, 1e-300)
    e_score = p / max(float(p.max(initial=0.0)), 1e-300) - np.abs(slack) / row_scale
    share = z * o / scale[tp]  # how much a technique runs, relative to its product
    for _ in range(rounds):
        if time.perf_counter() > deadline:
            return _fail("time limit")
        res = _solve_guess(st, R, b, cap, ymin, d, free, at_cap, binding, share, e_score,
                           max_border, deadline)
        if isinstance(res, tuple) and len(res) == 2:  # the border is not square: adjust
            need, n_cand = res
            if need < 0:  # free the flattest fixed techniques of products that have one free
                has_free = np.bincount(tp, weights=free, minlength=n) > 0
                pool = np.flatnonzero(~free & has_free[tp])
                if len(pool) < -need:
                    return _fail("border cannot be squared")
                pick = pool[np.argsort(np.abs(rprofit[pool]), kind="stable")[:-need]]
                free[pick] = True
                at_cap[pick] = False
            else:  # demote the extra free techniques that run least
                has2 = np.bincount(tp, weights=free, minlength=n) > 1
                pool = np.flatnonzero(free & has2[tp])
                k = need - n_cand
                pick = pool[np.argsort(share[pool], kind="stable")[:k]]
                free[pick] = False
                at_cap[pick] = capped[pick] & (room_hi[pick] <= room_lo[pick])
            continue
        if isinstance(res, str):
            return _fail(res)
        z_new, t, E, X, hasJ = res[:5]
        # primal: free activities outside their bounds go onto them
        tol = 1e-9
        lo_v = free & (z_new < -tol * scale[tp])
        hi_v = free & capped & (z_new > cap * (1 + tol))
        if lo_v.any() or hi_v.any():
            free &= ~(lo_v | hi_v)
            at_cap |= hi_v
            share = np.where(free, np.clip(z_new * o / scale[tp], 0.0, None), 0.0)
            continue
        # rows the guess leaves open must hold; a violated one is tight (an exhausted row)
        netn = st.M @ z_new - ymin - t * d
        open_rows = ~hasJ & ~np.isin(np.arange(n), E)
        viol_rows = open_rows & (netn < -tol * row_scale)
        if viol_rows.any():
            e_score = np.where(viol_rows, e_score + 10.0, e_score)
        p_new, u_new = res[5], res[6]
        if p_new is None:
            return _fail(res[7])
        profit = st.M.T @ p_new - R.T @ u_new
        col = float(p_new.max(initial=0.0)) * colM + float(u_new.max(initial=0.0)) * colR
        ptol = 1e-9 * np.maximum(col, 1e-300)
        at_zero = ~free & ~at_cap
        enter_lo = at_zero & (profit > ptol)
        enter_hi = at_cap & (profit < -ptol)
        neg_u = binding & (u_new < 0)
        used = R @ z_new
        over = ~binding & (used > b * (1 + tol))
        neg_p = p_new < -1e-12 * max(float(np.abs(p_new).max(initial=0.0)), 1e-300)
        if not (enter_lo.any() or enter_hi.any() or neg_u.any() or over.any() or neg_p.any()
                or viol_rows.any()):
            v_new = np.where(capped, np.maximum(profit, 0.0), 0.0)
            return np.clip(z_new, 0.0, cap), t, np.maximum(p_new, 0.0), u_new, v_new
        free |= enter_lo | enter_hi
        at_cap &= ~enter_hi
        binding = (binding & ~neg_u) | over
        e_score = np.where(neg_p, e_score - 10.0, e_score)
        e_score = np.where(p_new > 0, e_score + 0.1 * p_new / max(p_new.max(), 1e-300),
                           e_score)
        share = np.where(free, np.maximum(share, 0.5 * rel), share)
    return _fail(f"no checked vertex after {rounds} active-set rounds")


def _solve_guess(st, R, b, cap, ymin, d, free, at_cap, binding, share, e_score, max_border,
                 deadline=float("inf")):
    """Primal and dual solutions of the bordered system for one guess (module docstring).

    Returns an error string, ``(need, candidates)`` when the guess cannot make a square
    border, or (z, t, E, X, hasJ, p, u, why) with p None (and ``why``) when the dual border is
    singular."""
    n = st.n
    tp, o = st.tp, st.o
    order = np.lexsort((-share, tp))  # per product, the free technique running most first
    cand = order[free[order]]
    prods = tp[cand]
    keep_first = np.ones(len(cand), dtype=bool)
    keep_first[1:] = prods[1:] != prods[:-1]
    first = np.full(n, -1, dtype=np.int64)
    first[prods[keep_first]] = cand[keep_first]
    X = cand[~keep_first]  # extra free techniques
    hasJ = first >= 0
    Kb = np.flatnonzero(binding)
    # exhausted rows: as many as the border needs (|X| + 1 − binding resources), the most
    # tightly held products without a free technique
    candE = np.flatnonzero(~hasJ)
    need = len(X) + 1 - len(Kb)
    if need < 0 or need > len(candE):
        return need, len(candE)
    E = np.sort(candE[np.argsort(-e_score[candE], kind="stable")[:need]])
    if len(X) + len(E) + len(Kb) > max_border:
        return f"border too large: {len(X)} extra, {len(E)} exhausted, {len(Kb)} resources"
    choice = np.where(hasJ, first, 0)
    keep = hasJ.astype(np.float64)
    Qfull = chosen_input_matrix(st.A, o, choice)
    Q = sp.csr_array(sp.diags_array(keep) @ Qfull @ sp.diags_array(keep))
    QE = sp.csr_array(Qfull[E, :] @ sp.diags_array(keep))
    fixed = np.where(at_cap, cap, 0.0)
    # net requirement per product, as columns: base, per unit t, per unit of each X technique
    Y = np.column_stack([ymin - st.M @ fixed, d] + ([-(st.M[:, X].toarray())] if len(X)
                                                    else []))
    xs = _solve(Q, Y * keep[:, None])  # J rows; E rows read off below
    xE = Y[E, :] + QE @ xs  # x_E(θ) = 0 for exhausted rows
    oJ = np.where(hasJ, o[choice], 1.0)
    zJ = xs / oJ[:, None] * keep[:, None]  # activities of J techniques per column
    RJ = sp.csr_array(R[:, choice] @ sp.diags_array(keep))
    Rcols = RJ @ zJ  # k × (2 + |X|)
    if len(X):
        Rcols[:, 2:] += R[:, X].toarray()
    r_fixed = R @ fixed
    G = np.vstack([xE, Rcols[Kb, :]])
    h = np.concatenate([np.zeros(len(E)), b[Kb] - r_fixed[Kb]])
    try:
        theta = np.linalg.solve(G[:, 1:], h - G[:, 0])
    except np.linalg.LinAlgError:
        return "singular primal border"
    t = float(theta[0])
    coef = np.concatenate([[1.0], theta])
    z_new = fixed.copy()
    z_new[choice[hasJ]] = (zJ @ coef)[hasJ]
    z_new[X] = theta[1:]
    # duals: p_J = r̃(u, p_E) + Q_Jᵀ p_J, linear in (u_Kb, p_E)
    AJ = sp.csr_array(st.A[:, choice])
    RT = np.column_stack(
        [R[[k], :][:, choice].toarray().ravel() / oJ * keep for k in Kb]
        + [AJ[[e], :].toarray().ravel() / oJ * keep for e in E]
    ) if len(Kb) + len(E) else np.zeros((n, 0))
    if RT.shape[1] == 0:
        return (z_new, t, E, X, hasJ, None, None, "no binding resource or exhausted row")
    if time.perf_counter() > deadline:
        return "time limit"
    P = _solve(sp.csr_array(Q.T), RT)  # n × (Kb + E): p per unit of each unknown
    P[E, len(Kb) + np.arange(len(E))] = 1.0  # the exhausted products' own prices
    MX = st.M[:, X].toarray() if len(X) else np.zeros((n, 0))
    RX = R[Kb, :][:, X].toarray() if len(X) else np.zeros((len(Kb), 0))
    H = MX.T @ P
    H[:, : len(Kb)] -= RX.T
    H = np.vstack([H, d @ P])
    rhs = np.zeros(H.shape[0])
    rhs[-1] = 1.0
    try:
        w = np.linalg.solve(H, rhs)
    except np.linalg.LinAlgError:
        return (z_new, t, E, X, hasJ, None, None, "singular dual border")
    p_new = P @ w
    u_new = np.zeros(R.shape[0])
    u_new[Kb] = w[: len(Kb)]
    return z_new, t, E, X, hasJ, p_new, u_new, ""

def _fail(reason: str) -> None:
    global last_reason
    last_reason = reason
    return None
