"""Check a written plan against its bundle from the files alone, without a solver.

This deliberately does not reuse the planner's matrices or certificate code: it joins the
bundle's tables with the plan's CSVs by id (pandas) and recomputes, for each product, net
output and the dual inequality of each technique, so that a bug in the planner's linear
algebra cannot hide itself. DESIGN.md, "The certificate", defines what is checked:

1. the plan is for this bundle (``inputs_sha256``);
2. feasibility: floors met, resources and capacities respected, levels ≥ 0;
3. the duals p, u, v ≥ 0 satisfy ``p·d = 1`` and ``p·(B − A)_j − u·R_j − v_j ≤ 0``;
4. the bound ``u·b + v·cap − p·ymin`` meets the fulfilment the plan achieves (gap), and the
   reported ``fulfilment`` is that achieved value (to the tolerance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BundleError
from .schema import LIMITED_STATUSES


@dataclass
class Verdict:
    ok: bool
    line: str
    primal_residual: float = float("nan")
    dual_residual: float = float("nan")
    duality_gap: float = float("nan")
    #: the plan is not optimal (a limit stopped it) but everything else holds: feasible levels,
    #: valid duals, the bound and the gap it reports
    bound_only: bool = False


def _read_plan_csv(plan_dir: Path, name: str, columns: list[str]) -> pd.DataFrame:
    path = plan_dir / name
    if not path.is_file():
        raise BundleError(str(path), "required plan file is missing")
    df = pd.read_csv(path, dtype={columns[0]: str}, keep_default_na=False, na_values=[""])
    for c in columns:
        if c not in df.columns:
            raise BundleError(str(path), "required column is missing", line=1, field=c)
    return df


def verify(bundle: str | Path, plan_dir: str | Path, tol: float = 1e-6) -> Verdict:
    """Re-check the plan in ``plan_dir`` against ``bundle``; see the module docstring."""
    import econplan

    plan_dir = Path(plan_dir)
    economy = econplan.load(bundle)
    spath = plan_dir / "summary.json"
    if not spath.is_file():
        raise BundleError(str(spath), "required plan file is missing")
    try:
        summary = json.loads(spath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(str(spath), f"not valid JSON: {e}") from None
    if summary.get("inputs_sha256") != economy.sha256:
        return Verdict(False, "FAIL: the plan was made from a different bundle (inputs_sha256)")
    status = summary.get("status")
    limited = status in LIMITED_STATUSES
    if status != "optimal" and not limited:
        return Verdict(False, f"FAIL: plan status is {status!r}, not optimal")
    act = _read_plan_csv(plan_dir, "activities.csv",
                         ["technique", "level", "valuation"])
    prod = _read_plan_csv(plan_dir, "products.csv", ["product", "valuation", "fulfilment_dual"])
    res = _read_plan_csv(plan_dir, "resources.csv", ["resource", "valuation"])

    tech = economy.techniques.set_index("id")
    levels = act.set_index("technique")["level"].reindex(tech.index)
    if levels.isna().any():
        missing = levels.index[levels.isna()][0]
        return Verdict(False, f"FAIL: activities.csv lacks technique {missing!r}")
    z = levels.astype(float)
    products = economy.products["id"]
    needs = economy.needs.set_index("product").reindex(products)
    y = needs["target"].fillna(0.0).astype(float)
    ymin = needs["floor"].fillna(0.0).astype(float)
    # net output per product: outputs minus inputs, by joins on ids
    made = (tech["output"] * z).groupby(tech["product"]).sum().reindex(products, fill_value=0.0)
    inp = economy.inputs
    use = (inp["amount"].to_numpy() * z.reindex(inp["technique"]).to_numpy())
    consumed = pd.Series(use).groupby(inp["product"].to_numpy()).sum().reindex(
        products, fill_value=0.0)
    net = pd.Series(made.to_numpy() - consumed.to_numpy(), index=products.to_numpy())
    size = pd.Series(made.to_numpy() + consumed.to_numpy(), index=products.to_numpy())
    ru = economy.resource_use
    r_use = pd.Series(ru["amount"].to_numpy() * z.reindex(ru["technique"]).to_numpy()).groupby(
        ru["resource"].to_numpy()).sum().reindex(economy.resources["id"], fill_value=0.0)
    avail = economy.resources.set_index("id")["available"]
    cap = tech["capacity"].astype(float)

    objective = summary.get("objective", "fulfilment")
    y_arr, ymin_arr = y.to_numpy(), ymin.to_numpy()
    d = y_arr - ymin_arr
    net_arr = net.to_numpy()
    if objective == "min-labour":
        lo = y_arr
        t = None
    else:
        mask = d > 0
        t = float(np.min((net_arr[mask] - ymin_arr[mask]) / d[mask])) if mask.any() else 1.0
        lo = np.where(mask, ymin_arr + t * d, ymin_arr)
    viol = [
        np.max(np.maximum(lo - net_arr, 0) / np.maximum.reduce(
            [np.ones_like(lo), np.abs(lo), size.to_numpy()]), initial=0.0),
        np.max(np.maximum(r_use.to_numpy() - avail.reindex(r_use.index).to_numpy(), 0)
               / np.maximum(1, avail.reindex(r_use.index).to_numpy()), initial=0.0),
        np.max(np.maximum(z.to_numpy() - cap.fillna(np.inf).to_numpy(), 0)
               / np.maximum(1, cap.fillna(1).to_numpy()), initial=0.0),
        np.max(np.maximum(-z.to_numpy(), 0), initial=0.0) / max(1.0, float(z.abs().max())),
    ]
    primal = float(max(viol))

    # duals
    v = act.set_index("technique")["valuation"].reindex(tech.index).fillna(0.0).astype(float)
    u = res.set_index("resource")["valuation"].reindex(economy.resources["id"]).fillna(0.0)
    if objective == "min-labour":
        p = prod.set_index("product")["valuation"].reindex(products).fillna(0.0)
    else:
        p = prod.set_index("product")["fulfilment_dual"].reindex(products).fillna(0.0)
    p = p.astype(float)
    u = u.astype(float)
    # per technique: p_{p(j)} o_j − Σ_i p_i a_ij − Σ_k u_k r_kj − v_j  (≤ c_j for min-labour)
    gain = p.reindex(tech["product"]).to_numpy() * tech["output"].to_numpy()
    pin = pd.Series(inp["amount"].to_numpy() * p.reindex(inp["product"]).to_numpy()).groupby(
        inp["technique"].to_numpy()).sum().reindex(tech.index, fill_value=0.0).to_numpy()
    rin = pd.Series(ru["amount"].to_numpy() * u.reindex(ru["resource"]).to_numpy()).groupby(
        ru["technique"].to_numpy()).sum().reindex(tech.index, fill_value=0.0).to_numpy()
    lhs = gain - pin - rin - v.to_numpy()
    # size of each inequality: ‖p‖∞·(output + Σ inputs) + ‖u‖∞·Σ resource use + |v_j|
    pmax = float(p.abs().max()) if len(p) else 0.0
    umax = float(u.abs().max()) if len(u) else 0.0
    in_sum = inp.groupby("technique")["amount"].sum().reindex(tech.index, fill_value=0.0)
    ru_sum = ru.groupby("technique")["amount"].sum().reindex(tech.index, fill_value=0.0)
    mag = (pmax * (tech["output"].to_numpy() + in_sum.to_numpy()) + umax * ru_sum.to_numpy()
           + np.abs(v.to_numpy()))
    if objective == "min-labour":
        costs = economy.meta.get("costs") or {}
        w = pd.Series({rid: float(costs.get(rid, 1.0 if i == 0 else 0.0))
                       for i, rid in enumerate(economy.resources["id"])})
        cj = pd.Series(ru["amount"].to_numpy() * w.reindex(ru["resource"]).to_numpy()).groupby(
            ru["technique"].to_numpy()).sum().reindex(tech.index, fill_value=0.0).to_numpy()
        lhs = lhs - cj
        mag = mag + np.abs(cj)
    rel = np.where(lhs > 0, lhs / np.where(mag > 0, mag, 1.0), 0.0)
    negs = [float(np.maximum(-a, 0).max(initial=0.0)) / max(1.0, float(np.abs(a).max(initial=0)))
            for a in (p.to_numpy(), u.to_numpy(), v.to_numpy())]
    uncapped_v = v[cap.isna()].abs().max() if cap.isna().any() else 0.0
    dual = max(float(rel.max(initial=0.0)), *negs,
               float(uncapped_v) / max(1.0, float(v.abs().max())))
    capped = cap.notna()
    if objective == "min-labour":
        cost = float((cj * z.to_numpy()).sum())
        bound = float(p.to_numpy() @ y_arr - u.to_numpy() @ avail.reindex(u.index).to_numpy()
                      - (v[capped] * cap[capped]).sum())
        gap = (cost - bound) / max(1.0, abs(cost))
        claimed_ok = True
    else:
        dual = max(dual, abs(float(p.to_numpy() @ d) - 1.0) if (d > 0).any() else 0.0)
        bound = float(u.to_numpy() @ avail.reindex(u.index).to_numpy()
                      + (v[capped] * cap[capped]).sum() - p.to_numpy() @ ymin_arr)
        gap = (bound - t) / max(1.0, abs(t)) if (d > 0).any() else 0.0  # t = 1 by convention
        claimed = summary.get("fulfilment")
        claimed_ok = claimed is not None and abs(float(claimed) - t) <= tol * max(1.0, abs(t))
    figures = f"primal {primal:.1e}, dual {dual:.1e}, gap {gap:.1e}"
    problems = []
    if primal > tol:
        problems.append("activity levels are not feasible")
    if dual > tol:
        problems.append("valuations are not dual feasible")
    if limited:
        # the gap is open; what must hold is the bound itself (on the right side of the plan)
        # and the gap the summary reports
        claimed_gap = summary.get("duality_gap")
        if gap < -tol:
            problems.append("bound is on the wrong side of the plan")
        if claimed_gap is None or abs(float(claimed_gap) - gap) > tol * max(1.0, abs(gap)):
            problems.append(f"reported duality_gap {claimed_gap} is not the recomputed "
                            f"{gap:.6g}")
    elif abs(gap) > tol:
        problems.append("bound does not meet the plan (duality gap)")
    if not claimed_ok:
        problems.append(f"reported fulfilment {summary.get('fulfilment')} is not the "
                        f"achieved {t:.12g}")
    if problems:
        return Verdict(False, f"FAIL: {'; '.join(problems)} ({figures}; tolerance {tol:g})",
                       primal, dual, gap)
    what = "t*" if objective != "min-labour" else "labour cost"
    value = t if objective != "min-labour" else cost
    if limited:
        what = "t" if objective != "min-labour" else "labour cost"
        side = "at most" if objective != "min-labour" else "at least"
        return Verdict(False, f"NOT OPTIMAL (status {status}): feasible plan, {what} = "
                       f"{value:.10g}, the optimum is {side} {bound:.10g} ({figures})",
                       primal, dual, gap, bound_only=True)
    return Verdict(True, f"OK: plan certified optimal, {what} = {value:.10g} ({figures})",
                   primal, dual, gap)
