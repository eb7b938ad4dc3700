"""Labour values and other embodied resources (DESIGN.md, "Labour values").

With one technique per product, ``λ = r (B − A)⁻¹`` for every resource row r. With
alternatives, the technique of each product is the cheapest in labour (non-substitution
theorem), ties broken by technique id: the fixed point of
``λ_i = min_{j: p(j)=i} (r_labour,j + Σ_h λ_h a_hj) / o_j``, found by policy iteration
(solve for λ under a choice, improve the choice, repeat until it no longer changes).

The economy must be productive: the chosen input matrix ``Â = A_c diag(1/o_c)`` must have
spectral radius < 1. That holds exactly when ``(I − Â) x = 1`` has a solution ``x ≥ 1``
(Perron–Frobenius), which is how it is checked; when it fails, the strongly connected groups
of products whose own block fails are named.

Units: a value is in the resource's unit per unit of the product (hours per tonne, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from .blas import single_threaded
from .errors import BundleError, EconplanError

if TYPE_CHECKING:
    from .model import Economy

#: Up to this many products the square solves are dense LAPACK (exact, and faster than sparse
#: LU, whose fill-in on input–output matrices is near total); above it the matrix-free
#: Anderson-accelerated kernel of :mod:`econplan.kernels`, to a checked residual.
DIRECT_LIMIT = 1_000
#: Relative tolerance under which two technique costs count as a tie (lower id wins).
TIE_RTOL = 1e-12


@dataclass(frozen=True)
class Choice:
    """The technique chosen per product: ``technique[i]`` is a technique index or -1 when
    product i cannot be produced (no usable technique)."""

    technique: np.ndarray
    producible: np.ndarray  # (n,) bool

    @property
    def products(self) -> np.ndarray:
        return np.flatnonzero(self.producible)

    @property
    def columns(self) -> np.ndarray:
        return self.technique[self.producible]


@dataclass(frozen=True)
class Structure:
    """The arrays the value computation needs: ``M = B − A`` (n × m, CSC), ``A`` (n × m),
    output o (m,), the product each technique makes (m,), the resource rows R (k × m) and
    which row is labour. Built from an Economy or a PlanProblem alike."""

    M: sp.csc_array
    A: sp.csc_array
    output: np.ndarray
    tech_product: np.ndarray
    R: sp.csr_array
    labour_index: int = 0

    @property
    def n_products(self) -> int:
        return self.M.shape[0]

    @property
    def n_techniques(self) -> int:
        return self.M.shape[1]

    @classmethod
    def of(cls, obj) -> Structure:
        if isinstance(obj, Structure):
            return obj
        if hasattr(obj, "A"):
            return cls(obj.M, obj.A, np.asarray(obj.output), np.asarray(obj.tech_product),
                       obj.R, getattr(obj, "labour_index", 0))
        m = obj.M.shape[1]
        B = sp.csc_array((np.asarray(obj.output), (np.asarray(obj.tech_product), np.arange(m))),
                         shape=obj.M.shape)
        A = (B - obj.M).tocsc()
        A.eliminate_zeros()
        return cls(obj.M, A, np.asarray(obj.output), np.asarray(obj.tech_product), obj.R, 0)


def usable(economy) -> tuple[np.ndarray, np.ndarray]:
    """Techniques all of whose inputs can be produced, and the products they can make.

    A technique that needs a product nothing makes can never run; a product whose only
    techniques are such cannot be made either, and so on. Returns ``(usable_j, producible_i)``.
    """
    economy = Structure.of(economy)
    n, m = economy.n_products, economy.n_techniques
    A = economy.A
    producible = np.zeros(n, dtype=bool)
    producible[economy.tech_product] = True
    ok = np.ones(m, dtype=bool)
    pattern = A.copy()
    pattern.data = np.ones_like(pattern.data)
    while True:
        missing = pattern.T @ (~producible).astype(float)
        ok_new = missing == 0
        prod_new = np.zeros(n, dtype=bool)
        prod_new[economy.tech_product[ok_new]] = True
        if (ok_new == ok).all() and (prod_new == producible).all():
            return ok, producible
        ok, producible = ok_new, prod_new


def _square(economy, choice: Choice) -> sp.csc_array:
    """``M_c`` = chosen columns of ``B − A``, restricted to producible products (square)."""
    rows = choice.products
    Mc = economy.M[:, choice.columns]
    return Mc[rows, :].tocsc()


def solve_left(Mc: sp.csc_array, rhs: np.ndarray, tol: float = 1e-13) -> np.ndarray:
    """Solve ``x Mc = rhs`` for each row of ``rhs`` (k × n); returns k × n.

    Sparse LU up to :data:`DIRECT_LIMIT` products, the fast kernel above it.
    """
    rhs = np.atleast_2d(rhs)
    n = Mc.shape[0]
    if n == 0:
        return np.zeros_like(rhs)
    if n <= DIRECT_LIMIT:
        x = np.linalg.solve(Mc.T.toarray(), rhs.T).T
        if not np.all(np.isfinite(x)):
            raise np.linalg.LinAlgError("singular system")
        return x
    from .kernels import solve_left as iterative

    return iterative(Mc, rhs, tol=tol)


def labour_choice(problem) -> tuple[np.ndarray, np.ndarray]:
    """For a PlanProblem: the chosen technique columns and the rows of unproducible
    products (used to crash-start the simplex)."""
    choice, _ = choose_techniques(Structure.of(problem))
    return choice.columns, np.flatnonzero(~choice.producible)


def choose_techniques(economy) -> tuple[Choice, np.ndarray]:
    """Non-substitution choice by policy iteration; returns ``(choice, labour values)``.

    An :class:`~econplan.model.Economy` (immutable) keeps the answer: loading checks
    productivity with it and ``econplan values`` then needs it again (at 1e6 products one
    policy iteration is ~20 s)."""
    keep = hasattr(economy, "product_ids")  # an Economy, not a Structure or PlanProblem
    if keep and "_labour_choice" in economy.__dict__:
        return economy.__dict__["_labour_choice"]
    found = _choose_techniques(Structure.of(economy))
    if keep:
        for a in (found[0].technique, found[0].producible, found[1]):
            a.flags.writeable = False  # shared by every later caller
        economy.__dict__["_labour_choice"] = found
    return found


def _choose_techniques(economy: Structure) -> tuple[Choice, np.ndarray]:
    n = economy.n_products
    ok, producible, lab, technique = _direct_labour_choice(economy)
    o = np.asarray(economy.output)
    tp = np.asarray(economy.tech_product)
    A = economy.A
    good = None  # (technique, values) of the last policy that could run on its own
    # starts tried in turn while no policy has run yet: the least-direct-labour start can
    # use up more than it makes (a cheap technique fed by a product that needs much of it
    # back: a fuzzer found 22 of 40 such economies wrongly called unproductive), and then
    # Bellman sweeps from 0, the contract's own fixed point, settle on a runnable choice; a
    # labour-free technique making a product from as much of itself costs 0 for ever from
    # there (an outside check, session 26: valid economies refused on load), and the LP of
    # _runnable_choice gives the least-labour choice that runs
    starts = [lambda: _value_sweeps(np.zeros(n), lab, A, o, tp, ok, producible),
              lambda: _runnable_choice(economy, lab, ok, producible)]
    for _ in range(200):
        choice = Choice(technique, producible)
        lam = _policy_values(economy, choice, lab)
        if lam is None:
            # this policy uses up more than it makes
            if good is not None:
                # from a policy that runs, only a tie can lead to one that does not (the
                # lowest id among equally cheap techniques: a labour-free technique making
                # a product from as much of itself is as cheap as any): switch only where a
                # technique is strictly cheaper than in the last good one
                g_tech, g_lam = good
                new = _argmin_by_product(np.where(ok, (lab + A.T @ g_lam) / o, np.inf), tp,
                                         n, keep=g_tech)
                if (new == g_tech).all() or (new == technique).all():
                    return Choice(g_tech, producible), g_lam
            else:
                new = technique
                while starts and (new is None or (new == technique).all()):
                    new = starts.pop(0)()
                if new is None or (new == technique).all():
                    return choice, np.zeros(n)  # no choice runs: the check reports it
            technique = new
            continue
        good = (technique, lam)
        unit = np.where(ok, (lab + A.T @ lam) / o, np.inf)
        new = _argmin_by_product(unit, tp, n)
        if (new == technique).all():
            return choice, lam
        technique = new
    raise RuntimeError("technique choice did not settle in 200 rounds")


def _runnable_choice(economy: Structure, lab: np.ndarray, ok: np.ndarray,
                     producible: np.ndarray) -> np.ndarray | None:
    """One technique per producible product that can run on its own, the cheapest in labour:
    a vertex of ``min Σ_j (l_j + δ o_j) z_j`` subject to ``(B − A) z ≥ 1`` on the producible
    products, ``z ≥ 0`` over the usable techniques (HiGHS's dual simplex). Each product's row
    needs a technique of its own in the basis, so the basis is one technique per product,
    with ``M_c z_c ≥ 1 > 0``: a productive choice (an M-matrix), and by the non-substitution
    theorem the least-labour one (δ, a millionth of the mean positive labour per unit of
    output, only keeps zero-labour loops from being free). None when the LP has no optimum
    (no choice runs). Sized like the economy: only for economies the cheaper starts fail."""
    from scipy.optimize import linprog

    rows = np.flatnonzero(producible)
    cols = np.flatnonzero(ok)
    if not len(rows):
        return np.full(len(producible), -1, dtype=np.int64)
    o = np.asarray(economy.output)
    per = lab[cols] / o[cols]
    delta = 1e-6 * (float(per[per > 0].mean()) if (per > 0).any() else 1.0)
    M = sp.csr_array(economy.M)[rows, :][:, cols]
    res = linprog(lab[cols] + delta * o[cols], A_ub=-M, b_ub=-np.ones(len(rows)),
                  bounds=(0, None), method="highs-ds")
    if res.status != 0:
        return None
    made = np.zeros(economy.n_techniques)
    made[cols] = res.x * o[cols]
    tp = np.asarray(economy.tech_product)
    with np.errstate(divide="ignore"):  # (positive costs: the tie rule is relative)
        pick = _argmin_by_product(np.where(made > 0, 1.0 / made, np.inf), tp, len(producible))
    return np.where(producible, pick, -1)


def _policy_values(economy: Structure, choice: Choice, lab: np.ndarray) -> np.ndarray | None:
    """Labour values (n,) of one technique per product, or None when that choice cannot run
    on its own (singular, not finite, or negative values: it uses up more than it makes)."""
    lam = np.zeros(economy.n_products)
    Mc = _square(economy, choice)
    try:
        lam[choice.products] = solve_left(Mc, lab[choice.columns][None, :])[0]
    except (np.linalg.LinAlgError, EconplanError, RuntimeError, FloatingPointError):
        return None
    scale = max(float(np.max(np.abs(lam), initial=0.0)), 1.0)
    if not np.all(np.isfinite(lam)) or (lam < -1e-9 * scale).any():
        return None
    # λ ≥ 0 with every chosen technique using labour proves the choice productive (λ M_c = l
    # > 0, M_c a Z-matrix); where some use none, λ says nothing there (a labour-free
    # technique making 1 of a product from 1.5 of it has λ = 0): check the block itself
    if (lab[choice.columns] <= 0).any() and not _block_ok(
            Mc, np.asarray(economy.output)[choice.columns]):
        return None
    return lam


def _value_sweeps(lam: np.ndarray, lab: np.ndarray, A: sp.csc_array, o: np.ndarray,
                  tp: np.ndarray, ok: np.ndarray, producible: np.ndarray,
                  sweeps: int = 1000, settle: int = 5) -> np.ndarray:
    """Value iteration ``λ_i ← min_j (l_j + Σ_h λ_h a_hj) / o_j`` from ``lam`` until the
    cheapest technique per product has not changed for ``settle`` sweeps (at most
    ``sweeps``); returns that choice (technique per product, -1 where none)."""
    n = len(lam)
    lam = lam.copy()
    choice = None
    same = 0
    for _ in range(sweeps):
        unit = np.where(ok, (lab + A.T @ lam) / o, np.inf)
        new = _argmin_by_product(unit, tp, n)
        best = np.full(n, np.inf)
        np.minimum.at(best, tp, unit)
        lam = np.where(producible & np.isfinite(best), best, 0.0)
        same = same + 1 if choice is not None and (new == choice).all() else 0
        choice = new
        if same >= settle:
            break
    return choice


def _direct_labour_choice(economy: Structure
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The starting policy: per product, the usable technique with least direct labour per
    unit of output. Returns ``(usable_j, producible_i, labour row, technique per product)``."""
    ok, producible = usable(economy)
    lab = economy.R[[economy.labour_index], :].toarray().ravel()
    cost = np.where(ok, lab / np.asarray(economy.output), np.inf)
    technique = _argmin_by_product(cost, np.asarray(economy.tech_product), economy.n_products)
    return ok, producible, lab, technique


def _argmin_by_product(cost: np.ndarray, tp: np.ndarray, n: int,
                       keep: np.ndarray | None = None) -> np.ndarray:
    """For each product, the technique of least ``cost``; among techniques within
    :data:`TIE_RTOL` of the least, the lowest index (= lowest id, techniques are sorted).
    With ``keep`` (technique per product, -1 for none), a product keeps that technique when
    it is among the least (no switch on a tie)."""
    best = np.full(n, np.inf)
    np.minimum.at(best, tp, cost)
    finite = np.isfinite(cost)
    tied = finite & (cost <= best[tp] * (1 + TIE_RTOL) + 1e-300)
    choice = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(tied)
    # lowest index per product: iterate in reverse so the lowest wins
    choice[tp[idx[::-1]]] = idx[::-1]
    if keep is not None:
        kept = (keep >= 0) & (choice >= 0)
        kept[kept] = tied[keep[kept]]
        choice = np.where(kept, keep, choice)
    return choice


@single_threaded
def check_productive(economy: Economy) -> None:
    """Raise :class:`BundleError` naming the products that cannot yield net output."""
    choice, _ = choose_techniques_safe(economy)
    rows = choice.products
    if not len(rows):
        return
    Mc = _square(economy, choice)
    o = np.asarray(economy.output)[choice.columns]
    if _block_ok(Mc, o):
        return
    # name the strongly connected groups whose own block is not productive
    Ahat = (sp.diags(o) - Mc).tocsc() @ sp.diags(1 / o)
    ncomp, labels = csgraph.connected_components(Ahat != 0, directed=True, connection="strong")
    bad: list[str] = []
    bad_tech: dict[str, float] = {}
    for c in range(ncomp):
        members = np.flatnonzero(labels == c)
        sub = Mc[members, :][:, members]
        if len(members) == 1 and Ahat[members[0], members[0]] == 0:
            continue
        if not _block_ok(sub.tocsc(), o[members]):
            bad.extend(str(economy.product_ids[rows[i]]) for i in members)
            bad_tech.update((str(economy.technique_ids[choice.columns[i]]),
                             float(economy.output[choice.columns[i]])) for i in members)
    shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
    file = economy.files.get("inputs", "inputs.csv")
    raise BundleError(
        file,
        "economy is not productive: products "
        f"{shown or '(several)'} use up at least as much of themselves as they make "
        "(lower their input amounts or raise their outputs)", field="amount",
        line=_largest_input_line(file, bad, bad_tech),
    )


def _largest_input_line(file: str, products: list[str], techniques: dict[str, float]
                        ) -> int | None:
    """The line of ``file`` (the bundle's inputs table) with the largest input per unit of
    output by which one of ``techniques`` (id -> output) uses one of ``products``: within
    an unproductive group, the row most likely at fault (the first such line on a tie).
    The table is read again (the economy keeps no file lines for its inputs: 40M rows at
    1e6 × 2), only on this error path; None when it cannot be read."""
    from .bundle import read_table
    from .model import _line
    from .schema import TABLES

    path = Path(file)
    if not path.is_file():
        return None
    try:
        df = read_table(path.parent, TABLES["inputs"])
    except (BundleError, OSError, ValueError):
        return None
    tech = df["technique"].astype(str).str.strip()
    hit = (df["product"].astype(str).str.strip().isin(products)
           & tech.isin(list(techniques))).to_numpy()
    if not hit.any():
        return None
    rows = np.flatnonzero(hit)
    per_unit = (df["amount"].to_numpy(float)[rows]
                / np.array([techniques[t] for t in tech.to_numpy(str)[rows]]))
    return _line(df, int(rows[int(np.argmax(per_unit))]))


def choose_techniques_safe(economy: Economy) -> tuple[Choice, np.ndarray]:
    """:func:`choose_techniques`, with a singular system reported as unproductive."""
    try:
        return choose_techniques(economy)
    except (RuntimeError, np.linalg.LinAlgError, EconplanError):
        economy = Structure.of(economy)
        _, producible, _, technique = _direct_labour_choice(economy)
        return Choice(technique, producible), np.full(economy.n_products, np.nan)


def _block_ok(Mc: sp.csc_array, o: np.ndarray) -> bool:
    """True when the block is productive: ``Mc w = 1`` has ``w ≥ 1/o`` (so ``x = o·w ≥ 1``)."""
    try:
        w = solve_left(sp.csc_array(Mc.T), np.ones((1, Mc.shape[0])))[0]
    except (RuntimeError, np.linalg.LinAlgError, EconplanError):
        return False
    x = w * o
    return bool(np.all(np.isfinite(x)) and np.all(x >= 1 - 1e-9))


@single_threaded
def compute_values(economy: Economy, progress: bool = False) -> pd.DataFrame:
    """Embodied amount of every resource per unit of every product (labour first).

    Products that cannot be produced get empty (NaN) values and an empty technique.
    """
    choice, lam = choose_techniques(economy)
    n = economy.n_products
    R = economy.R
    cols = choice.columns
    Rc = R[:, cols].toarray() if R.shape[0] * len(cols) <= 5e7 else None
    out = np.full((economy.n_resources, n), np.nan)
    if len(cols):
        rhs = Rc if Rc is not None else np.vstack(
            [R[[k], :][:, cols].toarray().ravel() for k in range(R.shape[0])])
        out[:, choice.products] = solve_left(_square(economy, choice), rhs)
    df = pd.DataFrame({"product": economy.product_ids.astype(str)})
    for k, rid in enumerate(economy.resource_ids):
        df[str(rid)] = out[k]
    tech = np.where(choice.technique >= 0,
                    economy.technique_ids[np.maximum(choice.technique, 0)], "")
    df["technique"] = tech.astype(str)
    return df
