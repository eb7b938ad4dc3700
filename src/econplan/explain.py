"""Explain a plan in plain words, from its files alone (and the bundle it was planned from).

``econplan explain PLAN_DIR [--product ID]`` reads ``summary.json``, ``products.csv``,
``resources.csv`` and ``activities.csv`` (DESIGN.md's plan-output contract) and says:

- why fulfilment is what it is (t*, and whether needs are met in full);
- what blocks it: the binding resources and capacities, and what one more unit, and 1 % more,
  of each would buy (fulfilment-stage valuations u and v, in units of t per unit, shown as
  percentage points);
- what one more unit of labour would buy when labour does not bind (nothing, and how much is
  spare);
- for ``--product``: why it costs what it does — its valuation (the labour one more unit takes
  at this plan) broken down into the direct labour of the technique that makes it and the
  labour in each of its inputs (amount × the input's valuation), largest first. The inputs come
  from the bundle: ``bundle`` or the ``"bundle"`` path in ``summary.json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from econplan.errors import BundleError
from econplan.planfiles import cost_weights_text, read_plan_table, read_summary
from econplan.schema import LIMITED_STATUSES

_TOP_INPUTS = 8


def _num(x: Any, digits: int = 3) -> str:
    """A readable number: 105065178 → '105,065,178', 0.011415 → '0.0114'."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "unknown"
    if v == 0:
        return "0"
    if abs(v) >= 1000 or (abs(v) >= 1 and v == round(v)):
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.{digits}g}" if abs(v) < 100 else f"{v:,.1f}"
    return f"{v:.{digits}g}"


def _pct(t: float) -> str:
    return f"{100 * t:.1f} %"


def _read_csv(path: Path) -> pd.DataFrame:
    """A plan table, every number checked (a file, line and field named otherwise: an outside
    check, session 26, found 'abc' in a valuation ending exit 1 with a ValueError, and
    others passing unnoticed)."""
    return read_plan_table(path.parent, path.name)


def _read_summary(plan_dir: Path) -> dict:
    if not (plan_dir / "summary.json").exists():
        raise BundleError(str(plan_dir / "summary.json"),
                          "required plan file is missing (is this a plan folder?)")
    return read_summary(plan_dir)  # (valid JSON, an object)


def _step(per_unit_points: float, available: float) -> float:
    """A round amount (1, 10, 1000, …) large enough that its gain reads as ≥ 0.01 points."""
    if per_unit_points <= 0 or per_unit_points >= 0.01:
        return 1.0
    step = 10.0 ** math.ceil(math.log10(0.01 / per_unit_points))
    if math.isfinite(available) and available > 0:
        step = min(step, 10.0 ** math.floor(math.log10(available)))
    return max(step, 1.0)


def _load_bundle(summary: dict, bundle: Path | None, plan_dir: Path) -> tuple[Any, str]:
    """The Economy the plan came from, or (None, why not)."""
    candidate = bundle
    if candidate is None and summary.get("bundle"):
        candidate = Path(str(summary["bundle"]))
        if not candidate.exists() and (plan_dir / candidate).exists():
            candidate = plan_dir / candidate
    if candidate is None:
        return None, "the plan does not name its bundle (pass --bundle)"
    if not Path(candidate).exists():
        if bundle is not None:  # asked for: bad input, not a note (session 26)
            raise BundleError(f"--bundle {bundle}", "no such bundle folder")
        return None, f"its bundle {candidate} is not there (pass --bundle)"
    import econplan

    economy = econplan.load(candidate)
    if summary.get("inputs_sha256") and summary["inputs_sha256"] != economy.sha256:
        if bundle is not None:
            raise BundleError(f"--bundle {bundle}", "not the bundle this plan was made from "
                              "(its inputs_sha256 differs from summary.json's)")
        return None, f"the bundle {candidate} has changed since the plan was made"
    return economy, ""


def explain(plan_dir: Path | str, product: str | None = None,
            bundle: Path | str | None = None) -> str:
    """Plain-words explanation of the plan in ``plan_dir`` (see the module docstring).

    Units: fulfilment in % of each need (t* × 100); gains in percentage points of fulfilment;
    product costs in the labour resource's unit per unit of the product.
    """
    plan_dir = Path(plan_dir)
    summary = _read_summary(plan_dir)
    status = str(summary.get("status", "unknown"))
    objective = str(summary.get("objective", "fulfilment"))
    labour = str(summary.get("labour") or "labour")
    economy, why_no_bundle = (None, "")
    need_bundle = product is not None or bundle is not None or summary.get("bundle")
    if need_bundle:
        economy, why_no_bundle = _load_bundle(summary, Path(bundle) if bundle else None,
                                              plan_dir)
    units: dict[str, str] = {}
    names: dict[str, str] = {}
    if economy is not None:
        units = dict(zip(economy.resources["id"], economy.resources["unit"], strict=True))
        names = dict(zip(economy.products["id"], economy.products["name"], strict=True))
        punits = dict(zip(economy.products["id"], economy.products["unit"], strict=True))
    else:
        punits = {}
    lunit = units.get(labour, f"units of {labour}")
    out: list[str] = []
    title = summary.get("economy") or plan_dir.name
    out.append(f"Plan for {title}" + (f" ({summary['period']})" if summary.get("period")
                                      else "") + ".")

    if status == "infeasible":
        out.extend(_explain_infeasible(summary, objective, product, economy, why_no_bundle))
        return "\n".join(out) + "\n"
    limited = status in LIMITED_STATUSES and summary.get("bound") is not None
    if status != "optimal" and not limited:
        out.append(f"The solver stopped with status '{status}': "
                   f"{summary.get('message', 'no plan to explain')}.")
        return "\n".join(out) + "\n"
    if limited:
        out.append(f"The solver stopped at its {status.replace('_', ' ')} before proving this "
                   f"plan optimal: the plan is feasible, and the best plan can be at most "
                   f"{float(summary.get('duality_gap') or 0):.1e} (relative) better. "
                   "What follows explains this plan.")

    products = _read_csv(plan_dir / "products.csv")
    resources = _read_csv(plan_dir / "resources.csv")
    activities = _read_csv(plan_dir / "activities.csv")
    t = float(summary["fulfilment"]) if summary.get("fulfilment") is not None else math.nan
    bns = summary.get("bottlenecks") or []

    # --- why fulfilment is what it is
    what = cost_weights_text(summary, labour)
    if objective == "min-labour" and what is not None:
        out.append(f"This plan meets every target exactly at the least resource cost "
                   f"({what}): {_num(summary.get('labour_cost'))}.")
    elif objective == "min-labour":
        out.append(f"This plan meets every target exactly at the least cost in {labour}: "
                   f"{_num(summary.get('labour_cost'))} {lunit}.")
    elif objective == "harmony":
        out.append(f"This plan balances the needs by harmony (priority-weighted concave "
                   f"fulfilment, Cockshott): H = {_num(summary.get('harmony'))}. Each need "
                   f"gets its own share; the least met gets {_pct(t)} of its need above its "
                   "floor, and shortfalls weigh more than surpluses.")
    elif t >= 1 - 1e-9:
        out.append(f"Every need can be met in full: the plan reaches {_pct(t)} of each need "
                   f"(t* = {t:.6g}), so there is room for {_pct(max(t - 1, 0))} more before "
                   "anything runs short.")
    else:
        has_floor = bool((products.get("floor", pd.Series(dtype=float)) > 0).any())
        floors = "every floor is met, and " if has_floor else ""
        out.append(f"Needs can be met only in part: {floors}{_pct(t)} of each need"
                   + (" beyond its floor" if has_floor else "")
                   + f" (t* = {t:.6g}). That is as far as the resources and capacities go.")
        if t == 0 and summary.get("message"):  # e.g. a need nothing can make
            out.append(f"Why nothing more: {summary['message']}.")

    # --- what blocks it
    # valuations are in t (shown in percentage points), in H for harmony, in labour else
    per = {"min-labour": lunit, "harmony": "units of H"}.get(objective, "percentage points")
    in_t = objective not in ("min-labour", "harmony")
    if bns:
        out.append("")
        out.append("What limits the plan (largest effect first):")
        for b in bns:
            unit = units.get(str(b["id"]), "unit") if b.get("kind") == "resource" else "unit"
            val = float(b.get("valuation", 0.0))
            gain1 = val * 100 if in_t else val
            step = _step(gain1, float(b.get("available", float("nan"))))
            if b.get("kind") == "capacity":
                pid = str(b.get("product", ""))
                head = (f"- the capacity of {b['id']} (makes "
                        f"{names.get(pid, pid)}): {_num(b.get('used'))} of "
                        f"{_num(b.get('available'))} used.")
                unit = "unit of activity"
            else:
                head = (f"- {b['id']}: {_num(b.get('used'))} of {_num(b.get('available'))} "
                        f"{unit} used.")
            amount = "one more" if step == 1 else f"{_num(step)} more"
            unit_word = unit if step != 1 else unit.rstrip("s") if unit.endswith("s") else unit
            verb = {"min-labour": "save", "harmony": "raise harmony by"}.get(
                objective, "raise fulfilment by")
            pct_gain = float(b.get("gain_per_percent", 0.0))
            if in_t:
                pct_gain *= 100
            out.append(
                f"{head} {amount.capitalize()} {unit_word} would {verb} "
                f"{_num(gain1 * step)} {per}; 1 % more would {verb} {_num(pct_gain)} {per}."
            )
    elif objective != "min-labour":
        out.append("Nothing binds: no resource or capacity is used up.")

    # --- labour when it does not bind
    if objective != "min-labour":
        bound_ids = {str(b["id"]) for b in bns if b.get("kind") == "resource"}
        lab = resources[resources["resource"] == labour]
        if labour not in bound_ids and len(lab):
            used, avail = float(lab["used"].iloc[0]), float(lab["available"].iloc[0])
            out.append("")
            out.append(f"One more {lunit.rstrip('s')} of {labour} would buy nothing now: "
                       f"{_num(used)} of {_num(avail)} {lunit} are used "
                       f"({_num(avail - used)} spare); labour is not what limits the plan.")
        spare = resources[(resources["resource"] != labour)
                          & ~resources["resource"].isin(bound_ids)
                          & (resources["available"] > 0)]
        if len(spare):
            share = (spare["used"] / spare["available"]).to_numpy()
            items = [f"{r} {_pct(s)}" for r, s in zip(spare["resource"], share, strict=True)]
            out.append("Other resources in use (share of what is available): "
                       + ", ".join(items[:10]) + (" …" if len(items) > 10 else "") + ".")

    # --- one product
    if product is not None:
        out.append("")
        out.extend(_explain_product(product, products, activities, economy, why_no_bundle,
                                    names, punits, labour, lunit, objective))
    elif len(products) and "valuation" in products:
        p = products[products["target"] > 0].copy()
        if len(p):
            p["labour_total"] = p["valuation"] * p["target"]
            top = p.sort_values("labour_total", ascending=False, kind="stable").head(3)
            out.append("")
            out.append("The needs that take the most labour (valuation × target): "
                       + "; ".join(f"{names.get(r.product, r.product)} "
                                   f"{_num(r.labour_total)} {lunit}"
                                   for r in top.itertuples()) + ".")
            out.append("Ask about one with --product ID.")
    return "\n".join(out) + "\n"


def _explain_infeasible(summary: dict, objective: str, product: str | None, economy: Any,
                        why_no_bundle: str) -> list[str]:
    """Why no plan exists: the needs that must be met (floors; min-labour's targets) and what
    keeps them out of reach (``blocking``, else the plan's message), then ``product``'s own
    need when asked (an id the bundle lacks is an error, as for a plan)."""
    what = ("targets (min-labour meets every target exactly)" if objective == "min-labour"
            else "floors (the needs that must be met in any plan)")
    short = "targets" if objective == "min-labour" else "floors"
    out = [f"No plan is possible: the {what} are out of reach."]
    blocking = summary.get("blocking") or []
    for b in blocking:
        which = (f"resource {b['id']}" if b.get("kind") == "resource"
                 else f"the capacity of {b['id']}")
        out.append(f"- {which} lacks {_num(b.get('lacking'))} "
                   f"(available {_num(b.get('available'))}).")
    if blocking:
        out.append(f"Raise those, or lower the {short}, and plan again.")
    else:
        why = summary.get("message") or "see the plan"
        out.append(f"No resource or capacity would help: {why}.")
        out.append(f"Lower those {short}, or add a technique that makes the product, and "
                   "plan again.")
    if product is None:
        return out
    if economy is None:
        out.append(f"(To explain product {product!r} the bundle is needed: {why_no_bundle}.)")
        return out
    ids = [str(i) for i in economy.product_ids]
    if product not in ids:
        raise BundleError("products.csv", f"the plan's economy has no product {product!r}",
                          field="product")
    i = ids.index(product)
    from .plan.unmade import unmakeable

    cannot = bool(unmakeable(economy.problem(objective))[i])
    out.append("")
    out.append(f"{product}: target {_num(float(economy.target[i]))}, floor "
               f"{_num(float(economy.floor[i]))}; "
               + ("nothing can make it (no technique, or only techniques that need products "
                  "nothing makes)." if cannot else "the economy can make it."))
    return out


def _explain_product(product: str, products: pd.DataFrame, activities: pd.DataFrame,
                     economy: Any, why_no_bundle: str, names: dict[str, str],
                     punits: dict[str, str], labour: str, lunit: str,
                     objective: str) -> list[str]:
    """Why ``product`` costs what it does: its valuation split into direct labour and the
    labour in its inputs, from the technique that makes it in the plan."""
    rows = products[products["product"] == product]
    if rows.empty:
        raise BundleError("products.csv", f"the plan has no product {product!r}",
                          field="product")
    row = rows.iloc[0]
    name = names.get(product, product)
    unit = punits.get(product, "unit")
    price = float(row["valuation"])
    out = [f"{name} ({product}) costs {_num(price)} {lunit} per {unit} at this plan: the "
           f"{labour} one more {unit} would take."]
    if float(row["target"]) > 0:
        out.append(f"Its need: {_num(row['target'])} {unit}; the plan makes a net "
                   f"{_num(row['net_output'])} ({_pct(float(row['fulfilment']))} of the need).")
    acts = activities[activities["product"] == product]
    if acts.empty:
        out.append("No technique makes it.")
        return out
    used = acts.sort_values(["level", "technique"], ascending=[False, True], kind="stable")
    tech = str(used["technique"].iloc[0])
    if float(used["level"].iloc[0]) <= 0:
        out.append(f"The plan does not make it; its cheapest way would be {tech}.")
    if economy is None:
        out.append(f"(For the breakdown by input the bundle is needed: {why_no_bundle}.)")
        return out
    j = int(np.flatnonzero(np.asarray(economy.technique_ids) == tech)[0])
    o = float(economy.output[j])
    values = dict(zip(products["product"].astype(str), products["valuation"].astype(float),
                      strict=True))
    A = economy.A  # column j: the technique's inputs, by product (the inputs table's order)
    col = slice(A.indptr[j], A.indptr[j + 1])
    parts = []
    for i, amount in zip(A.indices[col], A.data[col], strict=True):
        pid = str(economy.product_ids[i])
        per_unit = float(amount) / o
        parts.append((per_unit * values.get(pid, float("nan")), pid, per_unit))
    use = economy.resource_use
    direct = use[(use["technique"] == tech) & (use["resource"] == labour)]["amount"]
    direct_labour = float(direct.sum()) / o
    parts.sort(key=lambda p: (-p[0], p[1]))
    out.append(f"It is made by {tech}. Per {unit}:")
    out.append(f"- direct labour at {tech}: {_num(direct_labour)} {lunit}")
    for amount_labour, pid, per_unit in parts[:_TOP_INPUTS]:
        out.append(f"- {_num(per_unit)} {punits.get(pid, 'units')} of {names.get(pid, pid)} "
                   f"at {_num(values.get(pid))} {lunit} each: {_num(amount_labour)} {lunit}")
    if len(parts) > _TOP_INPUTS:
        rest = sum(p[0] for p in parts[_TOP_INPUTS:])
        out.append(f"- {len(parts) - _TOP_INPUTS} smaller inputs: {_num(rest)} {lunit}")
    explained = direct_labour + sum(p[0] for p in parts)
    gap = price - explained
    if abs(gap) > 1e-9 * max(1.0, abs(price)):
        out.append(f"The remaining {_num(gap)} {lunit} is scarcity: a binding capacity or "
                   "resource makes one more unit dearer than its labour alone.")
    else:
        # the inputs' valuations carry any scarcity upstream (a fuzzer: a binding resource
        # other than labour, and this line called the price "its labour value")
        out.append(f"Together {_num(explained)} {lunit}: its direct labour and its inputs at "
                   "their valuations. That is its labour value only when labour alone binds "
                   "(the inputs' valuations carry any other scarcity; `econplan values` gives "
                   "the labour value itself).")
    return out
