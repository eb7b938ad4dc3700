"""A computed plan: activity levels, valuations, certificate; written as DESIGN.md's
plan-output contract (summary.json, activities.csv, products.csv, resources.csv, report.html).

Valuations (DESIGN.md, "Valuations"): a product's ``valuation`` is the dual of its balance row
in the resource-minimising stage (labour hours per unit); ``fulfilment_dual`` (p), a resource's
``valuation`` (u) and a capacity's ``valuation`` (v) are the fulfilment stage's duals, in units
of t per unit. For ``min-labour`` plans all valuations are the min-cost LP's duals, in labour
hours per unit, and ``fulfilment_dual`` is empty. For ``harmony`` plans ``fulfilment_dual``,
resource and capacity valuations are the harmony LP's duals (units of H per unit), product
valuations stage 2's prices as for fulfilment; ``summary.json`` carries ``harmony`` (the H the
plan reaches) and ``fulfilment`` = the least ``t_i`` over the needed products.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..schema import LIMITED_STATUSES
from .base import SolverResult, Status
from .certificate import (
    Certificate,
    fulfilment_certificate,
    harmony_certificate,
    min_cost_certificate,
)
from .valuation import free_products, raise_free_prices

if TYPE_CHECKING:
    from ..model import Economy

#: A constraint counts as a bottleneck when its share of the dual bound exceeds this.
BINDING_SHARE = 1e-9

#: A plan stopped by a limit is still written when its certificate shows a feasible plan and
#: valid duals to this relative tolerance (``econplan verify``'s default): the plan is usable
#: and its bound proven, only the gap is open.
LIMITED_TOLERANCE = 1e-6


class Plan:
    """The optimal plan of one Economy (read-only once built)."""

    def __init__(self, economy: Economy, result: SolverResult, objective: str,
                 seconds: float) -> None:
        self.economy = economy
        self.result = result
        self.objective = objective
        self.seconds = seconds
        self.status: str = result.status.value
        self.certificate: Certificate | None = None
        self.activities = pd.DataFrame()
        self.products = pd.DataFrame()
        self.resources = pd.DataFrame()
        if result.status == Status.OPTIMAL:
            self._tables()
        elif result.status in LIMITED_STATUSES and self._has_arrays():
            self._tables()
            c = self.certificate
            if c is None or not (c.primal_residual <= LIMITED_TOLERANCE
                                 and c.dual_residual <= LIMITED_TOLERANCE):
                self._drop_tables()
        self.summary: dict[str, Any] = self._summary()

    @property
    def fulfilment(self) -> float:
        """t* of the plan; for a plan a limit stopped (:attr:`has_plan` but not :attr:`ok`)
        the t it reaches, below t* by at most its duality gap; NaN when there is no plan."""
        value = self.summary.get("fulfilment")
        return float("nan") if value is None else float(value)

    @property
    def ok(self) -> bool:
        """True when the plan is certified optimal (status ``optimal``)."""
        return self.status == Status.OPTIMAL.value

    @property
    def has_plan(self) -> bool:
        """True when there is a plan to write: an optimal one, or one a time or iteration
        limit stopped whose certificate holds except for the gap (feasible levels, valid
        duals, so a proven bound on t*; ``summary["duality_gap"]`` says how far)."""
        return self.certificate is not None

    def _has_arrays(self) -> bool:
        e, r = self.economy, self.result
        m, n, k = e.n_techniques, e.n_products, e.n_resources
        if self.objective == "min-labour":
            duals = ((r.price, n), (r.resource_price, k), (r.capacity_price, m))
        else:
            duals = ((r.p, n), (r.u, k), (r.v, m))
        return r.z is not None and len(r.z) == m and all(
            a is not None and len(a) == size for a, size in duals)

    def _drop_tables(self) -> None:
        self.certificate = None
        self.activities = pd.DataFrame()
        self.products = pd.DataFrame()
        self.resources = pd.DataFrame()

    # ------------------------------------------------------------------ tables

    def _tables(self) -> None:
        e, r = self.economy, self.result
        z = np.asarray(r.z, float)
        A, B, R = e.A, e.B, e.R
        gross = B @ z
        inter = A @ z
        net = gross - inter
        y = np.asarray(e.target)
        fulfil = np.full(len(y), np.nan)
        pos = y > 0
        fulfil[pos] = net[pos] / y[pos]
        cap = np.where(np.isfinite(e.cap), e.cap, np.nan)
        # products neither made, used nor asked for: their rows' duals are degenerate, and
        # DESIGN.md's valuation is the marginal cost of one more unit (plan/valuation.py)
        free = free_products(gross, inter, (y == 0) & (np.asarray(e.floor) == 0))
        if self.objective == "min-labour":
            p = np.full(e.n_products, np.nan)
            u = np.asarray(r.resource_price, float)
            v = np.asarray(r.capacity_price, float)
        else:
            p, u, v = (np.asarray(a, float) for a in (r.p, r.u, r.v))
            p = raise_free_prices(A, e.output, e.tech_product, R.T @ u + v, p, free)
        self.activities = pd.DataFrame({
            "technique": e.technique_ids.astype(str),
            "product": e.product_ids[e.tech_product].astype(str),
            "level": z, "capacity": cap, "valuation": v,
        })
        # a plan a limit stopped before the resource-minimising stage has no stage-2 prices:
        # its valuation column stays empty (NaN)
        price = (np.full(e.n_products, np.nan) if r.price is None
                 else np.asarray(r.price, float))
        if r.price is not None and r.resource_price is not None:
            rho = np.asarray(r.resource_price, float)
            cp = (np.zeros(e.n_techniques) if r.capacity_price is None
                  else np.asarray(r.capacity_price, float))
            price = raise_free_prices(A, e.output, e.tech_product,
                                      R.T @ (e.cost + rho) + cp, price, free)
        self.products = pd.DataFrame({
            "product": e.product_ids.astype(str), "gross_output": gross,
            "intermediate_use": inter, "net_output": net, "target": y,
            "floor": np.asarray(e.floor), "fulfilment": fulfil,
            "valuation": price, "fulfilment_dual": p,
        })
        self.resources = pd.DataFrame({
            "resource": e.resource_ids.astype(str), "used": R @ z,
            "available": np.asarray(e.available), "valuation": u,
        })
        if self.objective == "min-labour":
            self.certificate = min_cost_certificate(
                e.M, e.R, np.asarray(e.available), np.asarray(e.cap), y,
                np.asarray(e.R.T @ e.cost), z, np.asarray(r.price, float), u, v)
        elif self.objective == "harmony":
            self.certificate = harmony_certificate(
                e.M, e.R, np.asarray(e.available), np.asarray(e.cap), y,
                np.asarray(e.floor), np.asarray(e.priority), z, p, u, v)
        else:
            self.certificate = fulfilment_certificate(
                e.M, e.R, np.asarray(e.available), np.asarray(e.cap), y,
                np.asarray(e.floor), z, p, u, v)

    def _bottlenecks(self) -> list[dict[str, Any]]:
        e = self.economy
        out: list[dict[str, Any]] = []
        if self.certificate is None:
            return out
        res, act = self.resources, self.activities
        scale = max(abs(self.certificate.bound), 1e-300)
        per = {"min-labour": e.labour, "harmony": "harmony"}.get(self.objective, "fulfilment")
        for row in res.itertuples(index=False):
            share = row.valuation * row.available
            if row.valuation > 0 and share > BINDING_SHARE * scale:
                out.append({
                    "kind": "resource", "id": row.resource, "valuation": float(row.valuation),
                    "used": float(row.used), "available": float(row.available),
                    "gain_per_percent": float(share / 100), "per": per,
                })
        capped = act[act["capacity"].notna() & (act["valuation"] > 0)]
        for row in capped.itertuples(index=False):
            share = row.valuation * row.capacity
            if share > BINDING_SHARE * scale:
                out.append({
                    "kind": "capacity", "id": row.technique, "product": row.product,
                    "valuation": float(row.valuation), "used": float(row.level),
                    "available": float(row.capacity),
                    "gain_per_percent": float(share / 100), "per": per,
                })
        out.sort(key=lambda b: (-b["gain_per_percent"], b["kind"], b["id"]))
        return out

    def _summary(self) -> dict[str, Any]:
        from .. import __version__

        e, r = self.economy, self.result
        s: dict[str, Any] = {
            "status": self.status,
            "objective": self.objective,
            "fulfilment": None,
            "solver": r.solver,
            "solver_version": r.solver_version,
            "seconds": round(self.seconds, 6),
            "iterations": int(r.iterations),  # the backend's: simplex pivots or PDHG steps
            "products": e.n_products,
            "techniques": e.n_techniques,
            "resources": e.n_resources,
            "primal_residual": None,
            "dual_residual": None,
            "duality_gap": None,
            "inputs_sha256": e.sha256,
            "economy": e.name,
            "period": e.period,
            "labour": e.labour,
            "econplan_version": __version__,
        }
        if e.source:
            s["bundle"] = e.source
        if self.certificate is not None:
            c = self.certificate
            if self.objective == "min-labour":
                s["fulfilment"] = float(np.min(
                    self.products["net_output"][e.target > 0] / e.target[e.target > 0])
                ) if (e.target > 0).any() else 1.0
                s["labour_cost"] = c.achieved
                # what that cost weighs ([costs] in economy.toml; labour 1 by default)
                s["cost_weights"] = {str(rid): float(w) for rid, w
                                     in zip(e.resource_ids, e.cost, strict=True) if w != 0}
            elif self.objective == "harmony":
                d = np.asarray(e.target) - np.asarray(e.floor)
                need = d > 0
                net = self.products["net_output"].to_numpy(float)
                s["fulfilment"] = float(np.min(
                    (net[need] - e.floor[need]) / d[need])) + 0.0 if need.any() else 1.0
                s["harmony"] = c.achieved
            else:
                # t* = 0 (a need nothing can make) may come back as -8e-14 from the solver's
                # rounding: t is a ratio ≥ 0 once the floors are met; + 0.0: never "-0.0"
                s["fulfilment"] = (0.0 if -1e-12 < r.t < 0 else float(r.t)) + 0.0
                s["fulfilment_achieved"] = c.achieved
            s["primal_residual"] = c.primal_residual
            s["dual_residual"] = c.dual_residual
            s["duality_gap"] = c.duality_gap
            s["bound"] = c.bound
            s["labour_used"] = float(self.resources["used"].iloc[0])
            s["labour_available"] = float(self.resources["available"].iloc[0])
            s["bottlenecks"] = self._bottlenecks()
        unmade = ""
        if self.status == Status.INFEASIBLE.value:
            s["blocking"] = [self._blocking_entry(b) for b in (r.blocking or [])]
            if not s["blocking"]:  # no amount of anything helps: name what cannot be made
                unmade = self._unmakeable_needs()
        elif self.objective == "fulfilment" and s["fulfilment"] == 0.0:
            # t* = 0 when a need above its floor is on a product nothing can make: say which
            unmade = self._unmakeable_needs(above_floor=True)
        message = "; ".join(x for x in (r.message, unmade) if x)
        if message:
            s["message"] = message
        return s

    def _unmakeable_needs(self, above_floor: bool = False) -> str:
        """The needed products nothing can make (floors; targets for min-labour; with
        ``above_floor`` the targets above their floors, which hold t* at 0), as a phrase for
        the plan's message."""
        from .unmade import unmakeable

        e = self.economy
        need = (np.asarray(e.target) - np.asarray(e.floor) if above_floor
                else e.target if self.objective == "min-labour" else e.floor)
        ids = [str(i) for i in e.product_ids[unmakeable(e.problem(self.objective))
                                             & (np.asarray(need) > 0)]]
        if not ids:
            return ""
        what = "targets" if self.objective == "min-labour" or above_floor else "floors"
        return (f"nothing can make these products that the {what} need: "
                + ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else ""))

    def _blocking_entry(self, b: dict) -> dict[str, Any]:
        e = self.economy
        if b["kind"] == "resource":
            i = b["index"]
            return {"kind": "resource", "id": str(e.resource_ids[i]),
                    "available": float(e.available[i]), "lacking": b["lacking"]}
        j = b["index"]
        return {"kind": "capacity", "id": str(e.technique_ids[j]),
                "product": str(e.product_ids[e.tech_product[j]]),
                "available": float(e.cap[j]), "lacking": b["lacking"]}

    # ------------------------------------------------------------------ output

    def write(self, out: str | Path, report: bool = True) -> Path:
        """Write the plan-output contract to folder ``out`` (atomically: a temporary folder
        renamed into place). Infeasible plans write ``summary.json`` only; a plan a limit
        stopped is written whole when :attr:`has_plan` (its status says it is not optimal)."""
        from ..bundle import atomic_dir, write_csv

        out = Path(out)
        with atomic_dir(out) as tmp:
            (tmp / "summary.json").write_text(
                json.dumps(_jsonable(self.summary), indent=2) + "\n", encoding="utf-8")
            if self.has_plan:
                write_csv(self.activities, tmp / "activities.csv")
                write_csv(self.products, tmp / "products.csv")
                write_csv(self.resources, tmp / "resources.csv")
                if report:
                    (tmp / "report.html").write_text(self.report_html(), encoding="utf-8")
        return out

    def report_html(self) -> str:
        """The self-contained HTML report of this plan."""
        from ..report import render_report

        e = self.economy
        names = dict(zip(e.products["id"], e.products["name"], strict=True))
        units = dict(zip(e.resources["id"], e.resources["unit"], strict=True))
        return render_report(self.summary, self.activities, self.products, self.resources,
                             product_names=names, resource_units=units)

    def __repr__(self) -> str:
        return (f"Plan(status={self.status!r}, objective={self.objective!r}, "
                f"fulfilment={self.summary.get('fulfilment')})")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
