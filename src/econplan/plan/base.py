"""The solver interface: one protocol every planning backend implements.

A backend receives a :class:`PlanProblem` (plain arrays, built once from the Economy) and
returns a :class:`SolverResult` (plain arrays). Formulation details that all backends share —
the two-stage fulfilment LP of DESIGN.md — are documented here so a new backend is one file.

Units: activity levels ``z`` are in units of activity of each technique; ``t`` is the
fulfilment ratio (dimensionless); fulfilment duals ``p``, ``u``, ``v`` are in units of t per unit
of product, resource and activity capacity; ``price`` (stage-2 balance duals) is in units of the
cost resource (labour hours by default) per unit of product.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp


class Status(enum.StrEnum):
    """Termination status of a solve (a string so it serialises as itself)."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ITERATION_LIMIT = "iteration_limit"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


#: Why a plan ended ``unbounded``, said the same way by every backend.
UNBOUNDED_MESSAGE = (
    "t* is unbounded: techniques without capacity that use no resource can make every need in "
    "any amount (give them a resource use or a capacity)")


class Capability(enum.StrEnum):
    """What a backend can do; the planner picks a backend by these."""

    FULFILMENT = "fulfilment"  # max t, then min resource cost at t*
    MIN_LABOUR = "min-labour"  # meet targets exactly at least cost
    HARMONY = "harmony"  # max priority-weighted concave fulfilment, then min cost (harmony.py)
    WARM_START = "warm-start"
    EXACT = "exact"  # simplex / IPM with crossover: vertex solution
    GPU = "gpu"


class Objective(enum.StrEnum):
    FULFILMENT = "fulfilment"
    MIN_LABOUR = "min-labour"
    HARMONY = "harmony"


@dataclass(frozen=True)
class SolverOptions:
    """Options common to every backend. Backends ignore what they cannot use."""

    tolerance: float = 1e-9  # primal/dual feasibility tolerance (relative)
    time_limit: float = float("inf")  # seconds
    threads: int = 0  # 0 = backend default
    verbose: bool = False
    progress: bool = False
    warm_start: SolverResult | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PlanProblem:
    """The LP data of one plan, as arrays (n products, m techniques, k resources).

    ``M = B - A`` is the net-output matrix (n × m, CSC); ``R`` resource use (k × m, CSR);
    ``b`` availability (k,); ``cap`` capacity (m,), ``np.inf`` where none; ``y`` targets and
    ``ymin`` floors (n,); ``cost`` the resource-cost weight per resource (k,), labour = 1 and
    others 0 by default; ``tech_product`` (m,) index of the product each technique makes;
    ``output`` (m,) units made per unit of activity; ``w`` (n,) the needs' priority weights
    (dimensionless, used by the ``harmony`` objective; None = 1 everywhere).
    """

    M: sp.csc_array
    R: sp.csr_array
    b: np.ndarray
    cap: np.ndarray
    y: np.ndarray
    ymin: np.ndarray
    cost: np.ndarray
    tech_product: np.ndarray
    output: np.ndarray
    objective: Objective = Objective.FULFILMENT
    w: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.M.shape[0]

    @property
    def m(self) -> int:
        return self.M.shape[1]

    @property
    def k(self) -> int:
        return self.R.shape[0]

    @property
    def c(self) -> np.ndarray:
        """Cost per unit of activity: cost-weighted resource use, shape (m,)."""
        return np.asarray(self.R.T @ self.cost).ravel()


@dataclass
class SolverResult:
    """What a backend returns. Missing duals are ``None``.

    Fulfilment stage: ``t``, ``p`` (n,), ``u`` (k,), ``v`` (m,) — the certificate duals of
    DESIGN.md (p·d = 1 normalisation, d = y − ymin). Resource-minimising stage: ``z`` (m,),
    ``price`` (n,) balance duals ≥ 0 in cost units, ``resource_price`` (k,) and
    ``capacity_price`` (m,) ≥ 0 in cost units.
    For ``min-labour`` the stage-2 problem is min c·z s.t. Mz ≥ y, Rz ≤ b, z ≤ cap and ``t`` = 1.
    ``blocking`` (infeasible only): list of dicts {"kind": "resource"|"capacity",
    "index": resource or technique index, "lacking": amount}.
    For ``harmony`` (:mod:`econplan.plan.harmony`) ``p``, ``u``, ``v`` are the harmony LP's
    duals (units of H per unit, no normalisation), ``harmony`` is stage 1's H* and ``t`` the
    least fulfilment ``min_i t_i`` of the plan z.
    """

    status: Status
    t: float = float("nan")
    z: np.ndarray | None = None
    p: np.ndarray | None = None
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    price: np.ndarray | None = None
    resource_price: np.ndarray | None = None
    capacity_price: np.ndarray | None = None
    solver: str = ""
    solver_version: str = ""
    iterations: int = 0
    seconds: float = 0.0
    blocking: list | None = None
    message: str = ""
    harmony: float = float("nan")


@runtime_checkable
class Solver(Protocol):
    """A planning backend. ``name`` is what ``--solver`` selects."""

    name: str
    capabilities: frozenset[Capability]

    def solve(self, problem: PlanProblem, options: SolverOptions) -> SolverResult:
        """Solve ``problem``; never raise for infeasibility (return Status.INFEASIBLE)."""
        ...
