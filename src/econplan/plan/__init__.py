"""Planning: formulation, solver backends and the Plan they produce.

Backends register in :data:`SOLVERS` by name; :func:`make_plan` picks one (``solver=None``:
HiGHS below :data:`FAST_ABOVE` techniques, the structured ``fast`` backend above, when
installed), solves, and wraps the result with its certificate in a :class:`Plan`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..blas import single_threaded
from .base import (
    Capability,
    Objective,
    PlanProblem,
    Solver,
    SolverOptions,
    SolverResult,
    Status,
)
from .firstorder import PdhgSolver
from .highs import HighsSolver
from .portfolio import PortfolioSolver
from .result import Plan
from .scipy_backend import ScipySolver

if TYPE_CHECKING:
    from ..model import Economy

__all__ = [
    "Capability", "Objective", "Plan", "PlanProblem", "Solver", "SolverOptions",
    "SolverResult", "Status", "SOLVERS", "make_plan",
]

SOLVERS: dict[str, Solver] = {"highs": HighsSolver(), "scipy": ScipySolver(),
                               "pdhg": PdhgSolver(), "portfolio": PortfolioSolver()}
try:  # the structured first-order backend (issue 5) when present
    from .fast import FastSolver

    SOLVERS["fast"] = FastSolver()
except ImportError:  # pragma: no cover - optional module
    pass

#: Default solver switches from HiGHS to ``fast`` above this many techniques: measured in
#: bench/RESULTS.md, HiGHS's simplex needs > 180 s at 1e4 products × 2 techniques, where
#: ``fast`` certifies in ~1 s (and hands over to HiGHS itself when it cannot certify).
FAST_ABOVE = 20_000

#: With alternatives *and* capacities HiGHS slows down sooner (2,000 products × 2: ~30 s,
#: where ``fast`` — its first-order route — certifies to 1e-6 in ~5 s; bench/RESULTS.md), so
#: ``fast`` is the default above this many techniques for such economies.
FAST_ABOVE_WITH_CAPACITIES = 4_000

#: ...but the size alone does not say which backend is faster for such an economy (sparser
#: economies than the generated ones flip the order; :mod:`econplan.plan.portfolio`), so
#: between these numbers of techniques the default races ``fast`` and ``highs`` on the two
#: cores and keeps the first certified answer. Above ``RACE_UNTIL`` HiGHS's factorisations
#: would only take memory from ``fast``.
RACE_ABOVE = 2_000
RACE_UNTIL = 50_000

#: The capability a backend needs for each objective.
NEEDS = {Objective.FULFILMENT: Capability.FULFILMENT, Objective.MIN_LABOUR: Capability.MIN_LABOUR,
         Objective.HARMONY: Capability.HARMONY}


def default_solver(economy: Economy) -> str:
    """``fast`` above the measured sizes where HiGHS's simplex becomes slow, else ``highs``;
    for economies with alternatives and capacities of middling size, ``portfolio`` (both
    raced)."""
    if "fast" not in SOLVERS:
        return "highs"
    m = economy.n_techniques
    hard = m > economy.n_products and bool(np.isfinite(np.asarray(economy.cap)).any())
    if hard and RACE_ABOVE < m <= RACE_UNTIL:
        return "portfolio"
    if m > FAST_ABOVE or (hard and m > FAST_ABOVE_WITH_CAPACITIES):
        return "fast"
    return "highs"


@single_threaded
def make_plan(
    economy: Economy,
    objective: str = "fulfilment",
    solver: str | None = None,
    **options: Any,
) -> Plan:
    """Solve the plan of ``economy`` and return it with valuations and certificate.

    ``objective``: ``fulfilment`` (DESIGN.md's two-stage Kantorovich plan), ``min-labour`` or
    ``harmony`` (:mod:`econplan.plan.harmony`; HiGHS only, the default for it whatever the
    size). ``solver``: a key of :data:`SOLVERS`; one without the objective's capability is
    refused (ValueError). ``options``: fields of :class:`SolverOptions`;
    ``warm_start`` may be a previous :class:`Plan`, the folder of one written by
    ``econplan plan`` or a :class:`SolverResult` (:func:`econplan.plan.warm.warm_start_from`:
    matched by id; backends without :attr:`Capability.WARM_START` start cold, and the plan's
    message says so). An infeasible plan is returned with ``status == "infeasible"`` and
    ``blocking`` set.
    """
    try:
        obj = Objective(objective)
    except ValueError:
        raise ValueError(f"unknown objective {objective!r}; choose from "
                         f"{', '.join(o.value for o in Objective)}") from None
    # harmony: HiGHS whatever the size (the only backend with the capability)
    name = solver or ("highs" if obj == Objective.HARMONY else default_solver(economy))
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose from {', '.join(sorted(SOLVERS))}")
    backend = SOLVERS[name]
    if NEEDS[obj] not in backend.capabilities:
        able = sorted(s for s, b in SOLVERS.items() if NEEDS[obj] in b.capabilities)
        raise ValueError(f"solver {name!r} cannot plan objective {obj.value!r} "
                         f"(use {' or '.join(able)})")
    warm_used: bool | None = None  # None: no previous plan given
    cold = ""  # why a previous plan given is not used
    if options.get("warm_start") is not None:
        from .warm import warm_start_from

        options = dict(options)  # read (and checked) even when the backend cannot use it
        options["warm_start"] = warm_start_from(economy, options["warm_start"])
        z0 = getattr(options["warm_start"], "z", None)
        if z0 is None or not bool(np.any(np.asarray(z0) > 0)):
            # nothing of this economy runs in it (another economy's plan): every backend
            # would start cold, so it is not reported as used (an outside check, session
            # 26: warm_start true for a plan with no technique id in common)
            cold = "the previous plan runs no technique of this economy (another economy's plan?)"
        elif Capability.WARM_START not in backend.capabilities or obj == Objective.HARMONY:
            # harmony plans start cold on every backend (ExactSolver._harmony)
            cold = (f"solver {name!r} starts cold"
                    + (" on harmony plans" if obj == Objective.HARMONY else ""))
        warm_used = not cold
        if cold:
            options["warm_start"] = None
    known = set(SolverOptions.__dataclass_fields__)
    extra = {k: v for k, v in options.items() if k not in known}
    opts = SolverOptions(**{k: v for k, v in options.items() if k in known})
    if extra:
        opts = SolverOptions(**{**opts.__dict__, "extra": {**opts.extra, **extra}})
    start = time.perf_counter()
    result = backend.solve(economy.problem(obj.value), opts)
    seconds = time.perf_counter() - start
    if cold:
        note = f"warm start not used: {cold}"
        result.message = f"{note}. {result.message}" if result.message else note
    plan = Plan(economy, result, objective=obj.value, seconds=seconds)
    if warm_used is not None:
        plan.summary["warm_start"] = warm_used
    return plan
