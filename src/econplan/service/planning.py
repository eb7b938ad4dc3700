"""Plan runs as background jobs: inputs from the store, the core solver, an immutable version.

A job moves queued → running (progress 0–100 with a message) → done | failed. The plan
version and the job's final state are written in one transaction, with the audit line. A job
that was running when the server died is marked failed ("interrupted") at the next start.
"""

from __future__ import annotations

import json
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from econplan.service import store
from econplan.service.db import Database
from econplan.service.models import Job, PlanVersion, User, utcnow

log = logging.getLogger("econplan.service")
OBJECTIVES = ("fulfilment", "min-labour", "harmony")


def _records(df: Any) -> list[dict[str, Any]]:
    """DataFrame → JSON-safe records (NaN → None, numpy scalars → Python)."""
    if df is None:
        return []
    return json.loads(df.to_json(orient="records", double_precision=15))


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_default))


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "value"):
        return o.value
    return str(o)


def _warm_start(economy: Any, previous: dict[str, Any] | None) -> Any:
    """The previous plan version (its stored tables, :func:`econplan.plan.warm.
    warm_start_from_tables`) as the solver's warm start, or None when there is none or it
    cannot be used (a plan never fails for its start)."""
    if not previous:
        return None
    import pandas as pd

    from econplan.plan.warm import warm_start_from_tables

    try:
        return warm_start_from_tables(
            economy, pd.DataFrame(previous["activities"], columns=["technique", "level",
                                                                     "valuation"]),
            pd.DataFrame(previous["products"], columns=["product", "valuation",
                                                        "fulfilment_dual"]),
            pd.DataFrame(previous["resources"], columns=["resource", "valuation"]),
            previous["objective"],
            float("nan") if previous.get("fulfilment") is None else float(previous["fulfilment"]))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("previous plan not usable as a warm start: %s", exc)
        return None


def compute_plan(files: dict[str, str], objective: str,
                 previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the core planner on bundle ``files``; returns summary and tables as JSON data.
    ``previous``: the period's last plan (``activities``, ``products``, ``resources``
    records, ``objective``, ``fulfilment``), the solver's warm start: after a small change of
    needs or capacities the next plan starts from it."""
    import econplan
    from econplan.errors import InfeasibleError

    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        economy = econplan.load(tmp)
        try:
            plan = economy.plan(objective=objective,
                                warm_start=_warm_start(economy, previous))
        except InfeasibleError as e:
            summary = getattr(e, "summary", None) or {"status": "infeasible", "message": str(e)}
            return {
                "summary": _jsonable(summary),
                "products": [],
                "activities": [],
                "resources": [],
            }
        return {
            "summary": _jsonable({k: v for k, v in plan.summary.items() if k != "bundle"}),
            "products": _records(plan.products),
            "activities": _records(plan.activities),
            "resources": _records(plan.resources),
        }


class PlanRunner:
    """Runs plan jobs one at a time on a worker thread."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="econplan-plan")

    def recover(self) -> None:
        """Fail jobs left running by a dead server; re-queue the queued ones."""
        with self.db.write() as s:
            stale = list(s.scalars(select(Job).where(Job.status.in_(("queued", "running")))))
            requeue = []
            for j in stale:
                if j.status == "running":
                    j.status, j.message, j.finished_at = (
                        "failed",
                        "interrupted by a server restart; run the plan again",
                        utcnow(),
                    )
                    store.audit(s, None, "fail", "job", j.id, {"reason": "restart"})
                else:
                    requeue.append(j.id)
        for job_id in requeue:
            self.pool.submit(self.run, job_id)

    def submit(self, actor: User, period_id: int, objective: str) -> dict[str, Any]:
        """Queue a plan run of the period (job row + audit line in one transaction)."""
        if objective not in OBJECTIVES:
            raise store.ServiceError(400, f"objective must be one of {', '.join(OBJECTIVES)}")
        with self.db.write() as s:
            store.get_period(s, period_id)
            job = Job(period_id=period_id, objective=objective, created_by=actor.id)
            s.add(job)
            s.flush()
            store.audit(s, actor.id, "create", "job", job.id, {"period": period_id})
            out = store.job_out(job)
        self.pool.submit(self.run, out["id"])
        return out

    def _progress(self, job_id: int, progress: int, message: str, status: str = "running") -> None:
        with self.db.write() as s:
            j = s.get(Job, job_id)
            if j is not None:
                j.status, j.progress, j.message = status, progress, message

    def run(self, job_id: int) -> None:
        """Run one job to the end (never raises; failures land in the job row)."""
        try:
            self._progress(job_id, 5, "collecting targets and reported capacities")
            with self.db.read() as s:
                job = store.get_job(s, job_id)
                period = store.get_period(s, job.period_id)
                files = store.plan_inputs(s, period)
                objective, period_id, actor = job.objective, period.id, job.created_by
                last = s.scalars(
                    select(PlanVersion)
                    .where(PlanVersion.period_id == period_id,
                           PlanVersion.status.in_(("optimal", "time_limit")))
                    .order_by(PlanVersion.number.desc())
                    .limit(1)
                ).first()
                previous = None if last is None else {
                    "objective": last.objective, "fulfilment": last.fulfilment,
                    "activities": json.loads(last.activities_json or "[]"),
                    "products": json.loads(last.products_json or "[]"),
                    "resources": json.loads(last.resources_json or "[]"),
                }
            inputs_sha = store.files_sha256(files)
            self._progress(job_id, 25, "solving the plan (HiGHS)")
            result = compute_plan(files, objective, previous)
            self._progress(job_id, 90, "storing the plan version")
            summary = result["summary"]
            with self.db.write() as s:
                number = (
                    s.scalar(
                        select(func.max(PlanVersion.number)).where(
                            PlanVersion.period_id == period_id
                        )
                    )
                    or 0
                ) + 1
                pv = PlanVersion(
                    period_id=period_id,
                    number=number,
                    status=str(summary.get("status", "unknown")),
                    objective=objective,
                    fulfilment=_float(summary.get("fulfilment")),
                    inputs_sha256=str(summary.get("inputs_sha256") or inputs_sha),
                    duality_gap=_float(summary.get("duality_gap")),
                    primal_residual=_float(summary.get("primal_residual")),
                    dual_residual=_float(summary.get("dual_residual")),
                    summary_json=json.dumps(summary),
                    products_json=json.dumps(result["products"]),
                    activities_json=json.dumps(result["activities"]),
                    resources_json=json.dumps(result["resources"]),
                    inputs_json=json.dumps(files),
                )
                s.add(pv)
                s.flush()
                j = s.get(Job, job_id)
                assert j is not None
                j.status, j.progress, j.plan_id, j.finished_at = "done", 100, pv.id, utcnow()
                j.message = f"plan version {number}: {pv.status}"
                store.audit(
                    s, actor, "create", "plan", pv.id, {"period": period_id, "number": number}
                )
        except Exception as e:  # noqa: BLE001 - a job must end in a state, whatever happened
            from econplan.errors import EconplanError

            if not isinstance(e, EconplanError | store.ServiceError):
                log.exception("plan job %s failed", job_id)
            msg = str(e) if isinstance(e, EconplanError | store.ServiceError) else repr(e)
            try:
                with self.db.write() as s:
                    j = s.get(Job, job_id)
                    if j is not None:
                        j.status, j.message, j.finished_at = "failed", msg[:2000], utcnow()
                        store.audit(s, None, "fail", "job", job_id, {"reason": msg[:200]})
            except Exception:  # noqa: BLE001
                log.exception("could not record the failure of job %s", job_id)

    def shutdown(self) -> None:
        """Stop accepting jobs; wait for the running one."""
        self.pool.shutdown(wait=True, cancel_futures=False)


def _float(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None
