"""Warm starts: the next plan begun from the last one, matched by id.

When needs, capacities or availabilities change a little between two plans (the participation
loop: consumers' feedback, workplaces' reported output), the last plan's activities and duals
are close to the next optimum. The first-order route (``fast``/``pdhg``) then starts PDHG from
them instead of from its structured start, and its first certificate check already runs from a
near-optimal iterate; HiGHS starts from the basis of the old vertex
(:func:`econplan.plan.highs.warm_basis`). Measured: bench/RESULTS.md, cases ``warm_*``.

The previous plan may be a :class:`~econplan.plan.result.Plan`, a plan folder written by
``econplan plan`` (DESIGN.md's plan-output files) or a backend's
:class:`~econplan.plan.base.SolverResult` for the same economy. Plans and folders are matched
to the new economy *by id*, so products, techniques and resources may have been added, removed
or reordered: a technique the previous plan did not have starts at level 0, a product or
resource at valuation 0. Only a start changes, never the answer: the plan is solved and
certified as from a cold start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import BundleError
from ..planfiles import by_row, read_plan_csv, read_summary, repeated_row
from .base import SolverResult, Status

if TYPE_CHECKING:
    from ..model import Economy
    from .result import Plan

__all__ = ["warm_start_from", "warm_start_from_tables"]


def warm_start_from(economy: Economy, previous: Plan | SolverResult | str | Path
                    ) -> SolverResult:
    """The previous plan's activities and duals on the rows of ``economy``: ``z`` (m,,
    activity units), the fulfilment stage's ``t``, ``p`` (n,), ``u`` (k,), ``v`` (m,) (units of
    t per unit) and the resource-minimising stage's ``price``, ``resource_price`` and
    ``capacity_price`` (cost units) where the previous plan has them. A folder is read through
    :mod:`econplan.planfiles` (a bad file raises :class:`~econplan.errors.BundleError`)."""
    from .result import Plan

    if isinstance(previous, SolverResult):
        if previous.z is None or len(previous.z) != economy.n_techniques:
            raise ValueError("warm start: the previous result has no activities for "
                             f"{economy.n_techniques} techniques")
        return previous
    if isinstance(previous, Plan):
        if not previous.has_plan:
            raise ValueError(f"warm start: the previous plan has no activities (status "
                             f"{previous.status})")
        same = (previous.economy is economy or (
            np.array_equal(previous.economy.technique_ids, economy.technique_ids)
            and np.array_equal(previous.economy.product_ids, economy.product_ids)
            and np.array_equal(previous.economy.resource_ids, economy.resource_ids)))
        if same and previous.result.z is not None:
            return previous.result
        return warm_start_from_tables(economy, previous.activities, previous.products,
                                      previous.resources, previous.objective, previous.result.t)
    folder = Path(previous)
    if not folder.is_dir():
        raise BundleError(str(folder), "warm start: no plan folder here")
    summary = read_summary(folder)
    if not (folder / "activities.csv").is_file() and summary.get("status") != "optimal":
        raise BundleError(str(folder / "summary.json"), f"warm start: this plan has status "
                          f"{summary.get('status')!r} and no activities to start from",
                          field="status")
    act = read_plan_csv(folder, "activities.csv", "technique", ["level", "valuation"])
    prod = read_plan_csv(folder, "products.csv", "product", ["valuation", "fulfilment_dual"])
    res = read_plan_csv(folder, "resources.csv", "resource", ["valuation"])
    twice = repeated_row((("activities.csv", act, "technique"),
                          ("products.csv", prod, "product"), ("resources.csv", res, "resource")))
    if twice:  # as verify refuses it (an outside check, session 26: accepted here)
        name, key, ident, line = twice
        raise BundleError(str(folder / name), f"warm start: names {key} {ident!r} twice",
                          line=line, field=key)
    t = summary.get("fulfilment")
    return warm_start_from_tables(economy, act, prod, res,
                                  str(summary.get("objective", "fulfilment")),
                                  float(t) if isinstance(t, int | float) else float("nan"))


def _on_rows(ids: pd.Series, values: Any, rows_of: np.ndarray) -> np.ndarray:
    """``values`` at the rows of ``rows_of`` that ``ids`` name, 0 elsewhere (and for NaN or
    an infinite value: no start is better than a wrong one)."""
    return np.nan_to_num(by_row(ids, values, rows_of, 0.0), nan=0.0, posinf=0.0, neginf=0.0)


def warm_start_from_tables(economy: Economy, act: pd.DataFrame, prod: pd.DataFrame,
                           res: pd.DataFrame, objective: str, t: float) -> SolverResult:
    """:func:`warm_start_from` on a plan's tables as DataFrames with the plan-output columns
    (``activities``: technique, level, valuation; ``products``: product, valuation,
    fulfilment_dual; ``resources``: resource, valuation), of a plan of ``objective`` at
    fulfilment ``t`` (the service keeps its plan versions so)."""
    z = np.maximum(_on_rows(act["technique"], act["level"], economy.technique_ids), 0.0)
    v = np.maximum(_on_rows(act["technique"], act["valuation"], economy.technique_ids), 0.0)
    u = np.maximum(_on_rows(res["resource"], res["valuation"], economy.resource_ids), 0.0)
    price = np.maximum(_on_rows(prod["product"], prod["valuation"], economy.product_ids), 0.0)
    out = SolverResult(Status.OPTIMAL, z=z, price=price)
    if objective == "min-labour":
        out.resource_price, out.capacity_price = u, v
    else:
        out.t = t
        out.p = np.maximum(_on_rows(prod["product"], prod["fulfilment_dual"],
                                    economy.product_ids), 0.0)
        out.u, out.v = u, v
    return out
