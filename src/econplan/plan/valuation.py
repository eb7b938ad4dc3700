"""Marginal valuations of products the plan neither makes nor needs.

A product that no running technique makes, uses or is asked for has a balance row ``0 ≥ 0``:
its dual is degenerate, any price between 0 and its least unit cost is optimal, and a simplex
solver returns whichever its last pivot left (a fuzzer: 0.309 h against a labour value of
2.459 h). DESIGN.md defines a product's valuation as the marginal cost of *one more unit* of
its net output, which is the top of that range: what making the unit would cost at the
plan's prices. :func:`raise_free_prices` moves such prices there.

Why the certificate is untouched: the raised rows have right-hand side 0 (no target, no
floor), so the dual bound does not change; the techniques that make a raised product keep
``p_i o_j ≤ cost_j + p·A_j`` (the raise is that minimum); those that use it only gain slack,
and none of them runs (the product is not made), so complementary slackness holds too.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["free_products", "raise_free_prices"]

#: the monotone iteration stops when no price moves by more than this (relative)
RTOL = 1e-14
MAX_SWEEPS = 1_000


def free_products(gross: np.ndarray, use: np.ndarray, rhs_zero: np.ndarray,
                  rel: float = 1e-12) -> np.ndarray:
    """Products whose balance row is ``0 ≥ 0`` at the plan: nothing made (``gross``, product
    units), nothing used (``use``) and nothing asked for (``rhs_zero``: no target or floor)."""
    scale = max(1.0, float(np.abs(gross).max(initial=0.0)))
    return rhs_zero & (np.abs(gross) <= rel * scale) & (np.abs(use) <= rel * scale)


def raise_free_prices(A: sp.sparray, output: np.ndarray, tech_product: np.ndarray,
                      unit_cost: np.ndarray, price: np.ndarray, free: np.ndarray) -> np.ndarray:
    """``price`` with each free product's price raised to its least unit cost.

    ``A`` inputs (n × m), ``output`` (m,) and ``tech_product`` (m,) as in the Economy;
    ``unit_cost`` (m,): what a unit of activity costs besides its inputs at the duals'
    convention (stage 2: ``c_j + ρ·R_j + v_j`` in cost units; the fulfilment stage:
    ``u·R_j + v_j`` in units of t). Free products may feed each other, so this is the
    least fixed point above ``price`` of ``p_i = min_j (unit_cost_j + p·A_j) / o_j`` over the
    free products, by monotone sweeps from ``price`` (each sweep's prices stay dual feasible:
    they only rise, and never above what the techniques making them cost). Products with no
    technique keep their price."""
    p = np.array(price, dtype=np.float64, copy=True)
    idx = np.flatnonzero(free)
    if idx.size == 0:
        return p
    tp = np.asarray(tech_product)
    cols = np.flatnonzero(free[tp])
    if cols.size == 0:
        return p
    A_f = sp.csc_array(A)[:, cols]
    o = np.asarray(output, dtype=np.float64)[cols]
    base = np.asarray(unit_cost, dtype=np.float64)[cols]
    rows = tp[cols]
    for _ in range(MAX_SWEEPS):
        unit = (base + A_f.T @ p) / o
        best = np.full(len(p), np.inf)
        np.minimum.at(best, rows, unit)
        new = np.where(free & np.isfinite(best), np.maximum(p, best), p)
        moved = float(np.abs(new - p).max(initial=0.0))
        p = new
        if moved <= RTOL * max(1.0, float(np.abs(p[idx]).max(initial=0.0))):
            break
    return p
