"""Fast array kernels: matrix-free Leontief solves and labour values for millions of products.

Everything here works on plain SciPy sparse arrays and NumPy vectors (optionally PyTorch
tensors); nothing builds a dense matrix or an inverse.

The central object is the *chosen input matrix* for one technique per product,
``Q[h, i] = a_{h, c(i)} / o_{c(i)}`` (units of product h used per unit of product i made), which
is productive (spectral radius < 1) for every economy econplan accepts. Then

* labour values / embodied resources: ``λ (B − A)_c = r_c``  ⇔  ``λ = r̃ + λ Q`` with
  ``r̃_i = r_{c(i)} / o_{c(i)}`` (resource units per unit of product);
* gross outputs for a net output y: ``x = y + Q x`` (units of product), activities
  ``z_{c(i)} = x_i / o_{c(i)}``.

Both are fixed points ``x = rhs + T x`` with ``T = Qᵀ`` or ``Q``, solved by
:func:`fixed_point_solve`: Anderson acceleration (memory 3, equivalent to GMRES on
``(I − T) x = rhs`` for a linear map) on top of the Neumann/Jacobi sweep. The spectrum of Q is
one Perron root (≈ 0.4–0.6 on real and generated economies) and a bulk much closer to 0; the
plain sweep converges at the Perron rate (~40 sweeps to 1e-10), Anderson removes the Perron
mode and converges at the bulk rate (~12–16 sweeps). Convergence is *checked*: the relative
residual ``‖rhs + T x − x‖ / ‖rhs‖`` (2-norm over all columns) is recomputed from a fresh
product with T at every sweep, never updated recursively. With ``ρ(T) < 1`` the relative error
is at most residual / (1 − ρ).

SpMV engines: SciPy (the default), a multi-threaded Numba CSR kernel when Numba is installed
(opt-in: ``ECONPLAN_ENGINE=numba`` or ``engine="numba"``), PyTorch sparse CSR when asked, and
"dask": row blocks held by the workers of the current Dask client
(:class:`econplan.distributed.DaskRowBlocks`).

:func:`solve_values` is the entry point ``econplan.values`` calls above a size threshold:
labour values with alternative techniques by policy iteration on the non-substitution fixed
point ``λ_i = min_{j: p(j)=i} (l_j + Σ_h λ_h a_hj) / o_j`` (ties to the lowest technique index),
then the embodied amounts of every resource for the chosen techniques.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from econplan import chosen, threaded
from econplan.blas import single_threaded
from econplan.errors import EconplanError

__all__ = [
    "ValuesResult",
    "CsrOperator",
    "chosen_input_matrix",
    "fixed_point_solve",
    "grouped_argmin",
    "solve_values",
    "gross_activities",
    "gross_operator",
    "available_engines",
]

_NUMBA: dict[str, Any] = {}


def _numba_kernels() -> dict[str, Any]:
    """Compile (once, cached on disk) the multi-threaded CSR kernels; imported lazily so that
    numba's import cost (~0.4 GB, seconds) is paid only by those who ask for it."""
    if _NUMBA:
        return _NUMBA
    import numba as nb

    @nb.njit(parallel=True, cache=True)
    def csr_axpy(indptr, indices, data, x, rhs, out):  # pragma: no cover - jitted
        n = indptr.shape[0] - 1
        for i in nb.prange(n):
            s = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                s += data[p] * x[indices[p]]
            out[i] = rhs[i] + s

    @nb.njit(parallel=True, cache=True)
    def csr_axpy_multi(indptr, indices, data, x, rhs, out):  # pragma: no cover - jitted
        n = indptr.shape[0] - 1
        k = x.shape[1]
        for i in nb.prange(n):
            for c in range(k):
                out[i, c] = rhs[i, c]
            for p in range(indptr[i], indptr[i + 1]):
                a = data[p]
                h = indices[p]
                for c in range(k):
                    out[i, c] += a * x[h, c]

    _NUMBA.update(axpy=csr_axpy, axpy_multi=csr_axpy_multi)
    return _NUMBA


def _have_numba() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def available_engines() -> list[str]:
    """SpMV engines usable here: always "scipy"; "numba" and "torch" when importable."""
    engines = ["scipy"]
    if _have_numba():
        engines.append("numba")
    try:
        import torch  # noqa: F401

        engines.append("torch")
    except Exception:
        pass
    return engines


def _default_engine() -> str:
    """SciPy unless ``ECONPLAN_ENGINE`` says otherwise.

    The two-thread Numba kernel is ~2x SciPy on an idle 2-core machine but 2-3x *slower* when
    other processes share the cores (measured: 1e5 products, 4.4 ms SciPy vs 10-13 ms Numba at
    load average 7), so it is opt-in: ``ECONPLAN_ENGINE=numba``.
    """
    return os.environ.get("ECONPLAN_ENGINE") or "scipy"


class CsrOperator:
    """``x ↦ rhs + M x`` for a fixed sparse M (CSR, int32 indices where they fit).

    ``engine`` is "scipy", "numba" (multi-threaded, float64), "torch" (``torch.sparse_csr``
    on ``device``, default CPU; vectors are then torch tensors) or "dask" (row blocks on the
    workers of the current Dask client; vectors stay NumPy). Converting M happens once.
    """

    def __init__(
        self,
        M: sp.sparray | sp.spmatrix,
        engine: str | None = None,
        device: str = "cpu",
        row_scale: np.ndarray | None = None,
        ranges: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.engine = engine or _default_engine()
        # ranges: row i's nonzeros are starts[i]:ends[i] (the rest of indptr[i]:indptr[i+1]
        # explicit zeros the threaded sweep may skip: econplan.chosen.ChosenColumns)
        self.ranges = ranges
        if row_scale is not None and self.engine != "scipy":
            M = sp.diags_array(row_scale) @ sp.csr_array(M)  # fold the scale in once
            row_scale = None
        self.row_scale = row_scale  # scipy: x ↦ rhs + diag(row_scale) M x without a copy of M
        M = sp.csr_array(M)
        if M.nnz < 2**31 and M.shape[0] < 2**31:
            M.indices = M.indices.astype(np.int32, copy=False)
            M.indptr = M.indptr.astype(np.int32, copy=False)
        self.shape = M.shape
        self.nnz = M.nnz
        self.M = M
        if self.engine == "numba":
            if not _have_numba():
                raise EconplanError("engine 'numba' requested but numba is not installed")
            self._nb = _numba_kernels()
        if self.engine == "torch":
            import torch

            self.torch = torch
            self.device = device
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.T = self._torch_csr(M, device)
        elif self.engine == "dask":
            from .distributed import DaskRowBlocks

            self._dask = DaskRowBlocks(M)
        elif self.engine not in ("scipy", "numba"):
            raise EconplanError(f"unknown SpMV engine {self.engine!r}")

    def _torch_csr(self, M: sp.csr_array, device: str) -> Any:
        torch = self.torch
        return torch.sparse_csr_tensor(
                torch.from_numpy(M.indptr.astype(np.int64)),
                torch.from_numpy(M.indices.astype(np.int64)),
                torch.from_numpy(M.data.astype(np.float64)),
                size=M.shape,
                device=device,
            )

    def asarray(self, x: np.ndarray) -> Any:
        """Move a NumPy array to this operator's engine (a torch tensor for "torch")."""
        if self.engine == "torch":
            return self.torch.as_tensor(np.ascontiguousarray(x), device=self.device)
        return np.ascontiguousarray(x, dtype=np.float64)

    def tonumpy(self, x: Any) -> np.ndarray:
        if self.engine == "torch":
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def matvec(self, x: Any) -> Any:
        """Return ``M x`` for a vector x (n,) on this engine."""
        if self.engine == "numba":
            out = np.empty(self.shape[0])
            self._nb["axpy"](self.M.indptr, self.M.indices, self.M.data, x,
                             np.zeros(self.shape[0]), out)
            return out
        if self.engine == "torch":
            return (self.T @ x.unsqueeze(1)).squeeze(1)
        if self.engine == "dask":
            return self._dask.axpy(None, x)
        y = self.M @ x
        return y * self.row_scale if self.row_scale is not None else y

    def gather_arrays(self) -> tuple | None:
        """``(starts, ends, indices, data, row_scale)`` of M's rows for the threaded Anderson
        sweep (CPU engines), None on the others."""
        if self.engine not in ("scipy", "numba"):
            return None
        M = self.M
        starts, ends = self.ranges or (M.indptr[:-1], M.indptr[1:])
        return starts, ends, M.indices, M.data, self.row_scale

    def axpy(self, rhs: Any, x: Any) -> Any:
        """Return ``rhs + M x`` (x: vector (n,) or block (n, k))."""
        if self.engine == "numba":
            out = np.empty_like(rhs)
            kern = self._nb["axpy"] if x.ndim == 1 else self._nb["axpy_multi"]
            kern(self.M.indptr, self.M.indices, self.M.data, x, rhs, out)
            return out
        if self.engine == "torch":
            if x.ndim == 1:
                return rhs + (self.T @ x.unsqueeze(1)).squeeze(1)
            return rhs + self.T @ x
        if self.engine == "dask":
            return self._dask.axpy(np.asarray(rhs), x)
        if self.row_scale is not None:
            y = self.M @ x
            y *= self.row_scale if y.ndim == 1 else self.row_scale[:, None]
            y += rhs
            return y
        return rhs + self.M @ x


def _norm(x: Any) -> float:
    return float((x * x).sum()) ** 0.5


def fixed_point_solve(
    op: CsrOperator,
    rhs: Any,
    x0: Any | None = None,
    tol: float = 1e-10,
    maxiter: int = 500,
    memory: int = 3,
    callback: Callable[[int, float], None] | None = None,
    n_threads: int | None = None,
) -> tuple[Any, int, float]:
    """Solve ``x = rhs + M x`` (ρ(M) < 1) by Anderson-accelerated fixed-point iteration.

    Returns ``(x, sweeps, relative_residual)`` with the residual ``‖rhs + Mx − x‖₂ / ‖rhs‖₂``
    recomputed from a fresh product with M at every sweep; stops when it is ≤ ``tol``. The
    Anderson history (``memory`` differences of iterates and residuals) lives in two
    preallocated ``memory × size`` buffers and its Gram matrix is updated one row per sweep, so
    the overhead per sweep is a few vector passes beside the SpMV (on NumPy all of them in place,
    into reused buffers: at 1e6 products the passes cost about a third of the SpMV, and fresh
    8 MB arrays each sweep would add their page faults). Raises :class:`EconplanError` when the
    iteration does not converge within ``maxiter`` sweeps or diverges (an unproductive economy
    makes the residual grow).

    ``n_threads`` given (with Numba): the fused sweep of :func:`econplan.threaded.anderson_solve`
    on that many threads for a vector or a block, whatever its size (a caller solving several
    blocks side by side passes 1, one block per thread); else the fused sweep on every core
    for one large vector, the loop below otherwise.
    """
    arrays = op.gather_arrays()
    if n_threads is not None:
        fused = arrays is not None and threaded.numba_importable()
    else:
        fused = arrays is not None and np.ndim(rhs) == 1 and threaded.available(op.shape[0])
    if fused:
        return threaded.anderson_solve(*arrays, np.asarray(rhs), x0, tol, maxiter, memory,
                                       callback, n_threads=n_threads)
    if op.engine != "torch":
        return _anderson_numpy(op, rhs, x0, tol, maxiter, memory, callback)
    scale = _norm(rhs)
    if scale == 0.0:
        return rhs * 0.0, 0, 0.0
    shape = rhs.shape
    x = rhs if x0 is None else x0
    g = op.axpy(rhs, x)
    f = g - x
    res = _norm(f) / scale
    size = int(np.prod(shape))
    torch = op.torch
    dF = torch.zeros((memory, size), dtype=rhs.dtype, device=rhs.device)
    dG = torch.zeros((memory, size), dtype=rhs.dtype, device=rhs.device)
    hist = _History(memory)
    it = 0
    best = res
    while res > tol:
        _check_progress(it, maxiter, res)
        x_new = g
        if hist.count:
            gamma = hist.weights((dF[:hist.count] @ f.reshape(-1)).detach().cpu().numpy())
            x_new = g - (dG[:hist.count].T @ torch.as_tensor(gamma, dtype=rhs.dtype,
                                                              device=rhs.device)).reshape(shape)
        g_new = op.axpy(rhs, x_new)
        f_new = g_new - x_new
        slot = hist.slot
        dG[slot] = (g_new - g).reshape(-1)
        dF[slot] = (f_new - f).reshape(-1)
        hist.record(dF, lambda v: v.detach().cpu().numpy())
        x, g, f = x_new, g_new, f_new
        res = _norm(f) / scale
        it += 1
        if callback is not None:
            callback(it, res)
        best = _check_divergence(it, res, best)
    return x, it, res


class _History:
    """Bookkeeping of the Anderson history shared by both loops of :func:`fixed_point_solve`:
    how many of the ``memory`` slots hold differences, which one is overwritten next, and the
    Gram matrix ΔFᵀΔF of the residual differences (one row updated per sweep)."""

    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.G = np.zeros((memory, memory))
        self.count = 0  # history entries held
        self.slot = 0  # next slot to overwrite

    def weights(self, h: np.ndarray) -> np.ndarray:
        """Least-squares weights γ = argmin ‖f − ΔF γ‖ from ``h = ΔFᵀ f`` (tiny ridge)."""
        c = self.count
        Gc = self.G[:c, :c]
        try:
            return np.linalg.solve(Gc + 1e-13 * np.trace(Gc) * np.eye(c), h)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(Gc, h, rcond=None)[0]

    def record(self, dF: Any, to_numpy: Callable[[Any], np.ndarray] = np.asarray) -> None:
        """Slot ``slot`` of the differences ``dF`` (memory × size, NumPy or torch) was just
        written: it is held, its Gram row (products of the held differences with it) is
        stored, and the next sweep writes the following slot."""
        self.store_row(to_numpy(dF[:self.next_count] @ dF[self.slot]))

    @property
    def next_count(self) -> int:
        """Differences held once the slot being written is recorded."""
        return min(self.count + 1, self.memory)

    def store_row(self, row: np.ndarray) -> None:
        """Hold the slot just written, with its Gram row ``row`` (its products with the
        :attr:`next_count` held differences, computed by the caller), and move to the next."""
        self.count = self.next_count
        self.G[self.slot, :self.count] = row
        self.G[:self.count, self.slot] = row
        self.slot = (self.slot + 1) % self.memory


def _check_progress(it: int, maxiter: int, res: float) -> None:
    if it >= maxiter:
        raise EconplanError(
            f"fixed-point solve did not converge: relative residual {res:.3g} after {it} "
            "sweeps (is the economy productive?)"
        )


def _check_divergence(it: int, res: float, best: float) -> float:
    if not np.isfinite(res) or (res > 1e6 * max(best, 1e-300) and it > 50):
        raise EconplanError(
            f"fixed-point solve diverges (relative residual {res:.3g}): the chosen input "
            "matrix is not productive"
        )
    return min(best, res)


def _anderson_numpy(
    op: CsrOperator,
    rhs: np.ndarray,
    x0: np.ndarray | None,
    tol: float,
    maxiter: int,
    memory: int,
    callback: Callable[[int, float], None] | None,
) -> tuple[np.ndarray, int, float]:
    """:func:`fixed_point_solve` on NumPy vectors: the same iteration, every vector operation
    in place into buffers allocated once (x, g, f rotate between two sets)."""
    rhs = np.ascontiguousarray(rhs, dtype=np.float64)
    flat_rhs = rhs.reshape(-1)
    scale = float(np.sqrt(flat_rhs @ flat_rhs))
    if scale == 0.0:
        return rhs * 0.0, 0, 0.0
    shape = rhs.shape
    size = rhs.size
    x = np.array(rhs if x0 is None else x0, dtype=np.float64, order="C").reshape(-1)
    g = np.ascontiguousarray(op.axpy(rhs, x.reshape(shape))).reshape(-1)
    f = np.subtract(g, x)
    res = float(np.sqrt(f @ f)) / scale
    dF = np.zeros((memory, size))
    dG = np.zeros((memory, size))
    x_new = np.empty(size)
    f_new = np.empty(size)
    hist = _History(memory)
    it = 0
    best = res
    while res > tol:
        _check_progress(it, maxiter, res)
        if hist.count:
            gamma = hist.weights(dF[:hist.count] @ f)
            np.matmul(gamma, dG[:hist.count], out=x_new)
            np.subtract(g, x_new, out=x_new)
        else:
            x_new[:] = g
        g_new = np.ascontiguousarray(op.axpy(rhs, x_new.reshape(shape))).reshape(-1)
        np.subtract(g_new, x_new, out=f_new)
        slot = hist.slot
        np.subtract(g_new, g, out=dG[slot])
        np.subtract(f_new, f, out=dF[slot])
        hist.record(dF)
        # rotate: the old x and f buffers take the next sweep's new values
        x, x_new = x_new, x
        f, f_new = f_new, f
        g = g_new
        res = float(np.sqrt(f @ f)) / scale
        it += 1
        if callback is not None:
            callback(it, res)
        best = _check_divergence(it, res, best)
    return x.reshape(shape), it, res


def chosen_input_matrix(
    A: sp.sparray | sp.spmatrix, output: np.ndarray, choice: np.ndarray, rows: bool = False
) -> sp.csc_array | sp.csr_array:
    """``Q`` (n × n CSC): column i = inputs per unit of product i under technique ``choice[i]``.

    ``A`` is n × m (units of product per unit of activity), ``output`` (m,) units per unit of
    activity, ``choice`` (n,) technique index per product. The columns are gathered with one
    vectorised index computation (no SciPy fancy indexing), or for large A in one compiled
    pass (:mod:`econplan.chosen`), int32 indices where they fit. ``rows=True`` returns Q in
    CSR form.
    """
    if not isinstance(A, sp.csc_array):  # re-wrapping would forget the sorted-indices check
        A = sp.csc_array(A)
    if not A.has_sorted_indices:
        A = A.copy()
        A.sort_indices()
    choice = np.asarray(choice, dtype=np.int64)
    n = A.shape[0]
    indptr = A.indptr.astype(np.int64)
    counts = indptr[choice + 1] - indptr[choice]
    new_ptr = np.zeros(len(choice) + 1, dtype=np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    total = int(new_ptr[-1])
    itype = np.int32 if total < 2**31 and n < 2**31 else np.int64
    inv_o = 1.0 / np.asarray(output, dtype=np.float64)[choice]
    if len(choice) == A.shape[1] and np.array_equal(choice, np.arange(len(choice))):
        data = A.data * np.repeat(inv_o, counts)  # identity choice: scale columns in place order
        indices = A.indices.astype(itype, copy=False)
    elif chosen.usable(A.nnz):  # one compiled pass, no index arrays of Q's size
        indices, data = chosen.gather_columns(A.indptr, A.indices, A.data, choice,
                                              1.0 / np.asarray(output, dtype=np.float64),
                                              new_ptr, itype)
    else:
        col = np.repeat(np.arange(len(choice)), counts)
        idx = np.arange(total, dtype=np.int64) + (indptr[choice] - new_ptr[:-1])[col]
        data = A.data[idx] * inv_o[col]
        indices = A.indices[idx].astype(itype, copy=False)
    Q = sp.csc_array((data, indices, new_ptr.astype(itype)), shape=(n, len(choice)))
    return sp.csr_array(Q) if rows else Q


def grouped_argmin(
    cost: np.ndarray, order: np.ndarray, starts: np.ndarray, rtol: float = 1e-12
) -> np.ndarray:
    """Per group, the lowest technique index whose cost is within ``rtol`` of the group's min.

    ``order`` sorts techniques by (group, index); ``starts`` are the group starts in ``order``.
    Returns the technique index per group (ties to the lowest index: DESIGN.md's rule).
    """
    if chosen.usable(len(cost), minimum=chosen.MIN_TECHNIQUES):
        return chosen.group_argmin(cost, order, starts, rtol)
    c = cost[order]
    mins = np.minimum.reduceat(c, starts)
    counts = np.diff(np.append(starts, len(c)))
    near = c <= np.repeat(mins, counts) + rtol * np.abs(np.repeat(mins, counts))
    pos = np.where(near, np.arange(len(c)), len(c))
    first = np.minimum.reduceat(pos, starts)
    return order[first]


@dataclass
class ValuesResult:
    """Embodied resources per unit of each product.

    ``values`` (n × k): column r = amount of resource r embodied in one unit of each product
    (resource units per product unit); ``choice`` (n,) technique index chosen per product
    (labour-cheapest, ties to the lowest index); ``residual`` the largest relative residual of
    ``λ (B − A)_c = r_c`` over the resource rows; ``sweeps`` total SpMV sweeps;
    ``policy_iterations`` rounds of technique improvement.
    """

    values: np.ndarray
    choice: np.ndarray
    residual: float
    sweeps: int
    policy_iterations: int
    engine: str


def _group_index(tech_product: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(tech_product, kind="stable")
    counts = np.bincount(tech_product, minlength=n)
    if (counts == 0).any():
        missing = np.nonzero(counts == 0)[0][:5].tolist()
        raise EconplanError(f"products without a technique (indices {missing} …)")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return order, starts


#: Relative residual of the early, screening rounds of :func:`cheapest_policy`.
POLICY_SCREEN_TOL = 1e-7


def cheapest_policy(
    A: sp.csc_array,
    output: np.ndarray,
    cost: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    choice: np.ndarray | None = None,
    lam: np.ndarray | None = None,
    tol: float = 1e-12,
    engine: str | None = None,
    max_policy_iterations: int = 100,
    AT: sp.csr_array | None = None,
    columns: chosen.ChosenColumns | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Cheapest technique per product for technique costs ``cost`` (m,), by policy iteration.

    The non-substitution fixed point ``λ_i = min_{j: p(j)=i} (cost_j + Σ_h λ_h a_hj) / o_j``:
    solve λ for the current choice (Anderson, warm-started), switch every product whose
    cheapest technique is cheaper by more than 1e-12 relative (so it cannot cycle), repeat;
    exact ties end on the lowest technique index. ``order``/``starts`` group techniques by
    product (see :func:`grouped_argmin`). Returns ``(choice, λ, sweeps, policy_iterations)``.

    The early rounds only need λ well enough to see the large improvements: they solve to
    :data:`POLICY_SCREEN_TOL` and switch on gains above 1e-6 relative (10x that error); once
    none is left the rounds above run to ``tol`` from there, so the answer is the same policy
    iteration's, with fewer sweeps spent on policies that are about to change.

    ``columns``: a :class:`econplan.chosen.ChosenColumns` of A to keep Q in across calls
    (only the changed products' columns are rewritten); made here for large A when not given.
    """
    AT = A.T.tocsr() if AT is None else AT  # m × n: row j = inputs of technique j
    if choice is None:
        choice = grouped_argmin(cost / output, order, starts)
    sweeps = 0
    its = 0
    screen = tol < POLICY_SCREEN_TOL
    if columns is None and chosen.usable(A.nnz, engine):
        tp = np.empty(len(order), dtype=np.int64)
        tp[order] = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(order))))
        columns = chosen.ChosenColumns(A, output, tp, len(starts))
    while True:
        if columns is not None:  # Q kept in slots: only the changed columns are rewritten
            columns.update(choice)
            op = columns.transposed(engine)
        else:
            op = CsrOperator(chosen_input_matrix(A, output, choice).T, engine)
        rhs = op.asarray(cost[choice] / output[choice])
        x0 = None if lam is None else op.asarray(lam)
        lam_t, s, _ = fixed_point_solve(op, rhs, x0=x0, tol=POLICY_SCREEN_TOL if screen else tol)
        sweeps += s
        lam = op.tonumpy(lam_t)
        unit = (cost + AT @ lam) / output
        best = grouped_argmin(unit, order, starts)
        cur = unit[choice]
        improve = unit[best] < cur - (1e-6 if screen else 1e-12) * np.abs(cur)
        its += 1
        if not improve.any():
            if screen:
                screen = False  # no large gain left: the exact rounds from here
                continue
            return best, lam, sweeps, its  # equal within 1e-12: the lowest technique index
        if its >= max_policy_iterations:
            raise EconplanError("policy iteration for the cheapest techniques did not converge")
        choice = np.where(improve, best, choice)


@single_threaded
def solve_values(
    A: sp.sparray | sp.spmatrix,
    output: np.ndarray,
    tech_product: np.ndarray,
    R: sp.sparray | sp.spmatrix | np.ndarray,
    labour_row: int = 0,
    tol: float = 1e-10,
    engine: str | None = None,
    choice: np.ndarray | None = None,
    max_policy_iterations: int = 100,
) -> ValuesResult:
    """Labour values and embodied resources, λ(B − A) = r, matrix-free.

    Parameters: ``A`` inputs (n × m, product units per unit of activity); ``output`` (m,);
    ``tech_product`` (m,) product index made by each technique; ``R`` (k × m) resource use per
    unit of activity; ``labour_row`` the row of R that picks the techniques; ``tol`` relative
    residual of every solve; ``engine`` SpMV engine (see :class:`CsrOperator`); ``choice``
    optional starting technique per product (warm start).

    With one technique per product this is one block solve of all k rows. With alternatives,
    policy iteration: solve labour values for the current choice, switch every product to its
    cheapest technique at those values (only on a strict improvement beyond 1e-12 relative, so
    it cannot cycle), repeat until no product switches; then break exact ties towards the lowest
    technique index, and solve all k rows for the final choice.
    """
    A = sp.csc_array(A)
    n, m = A.shape
    output = np.asarray(output, dtype=np.float64)
    tech_product = np.asarray(tech_product, dtype=np.int64)
    Rd = R.toarray() if sp.issparse(R) else np.asarray(R, dtype=np.float64)
    Rd = np.atleast_2d(Rd)
    k = Rd.shape[0]
    labour = Rd[labour_row]
    sweeps = 0
    if m == n and (np.bincount(tech_product, minlength=n) == 1).all():
        # one technique per product: no grouping needed (its stable sort cost ~50 ms at 1e6)
        if np.array_equal(tech_product, np.arange(n)):
            choice = np.arange(n)
        else:
            choice = np.empty(n, dtype=np.int64)
            choice[tech_product] = np.arange(n)
        policy_its = 0
    else:
        order, starts = _group_index(tech_product, n)
        choice, _, s, policy_its = cheapest_policy(
            A, output, labour, order, starts, choice=choice, tol=min(tol, 1e-12), engine=engine,
            max_policy_iterations=max_policy_iterations,
        )
        sweeps += s
    identity = m == n and np.array_equal(choice, np.arange(n))
    if identity and (engine or _default_engine()) == "scipy":
        # Qᵀ = diag(1/o) Aᵀ: use Aᵀ (a free CSR view of A's CSC) and scale per sweep, so the
        # 20M-entry matrix is never copied or rescaled
        QT = sp.csr_array(A.T)
        op = CsrOperator(QT, engine, row_scale=1.0 / output)
    else:
        QT = chosen_input_matrix(A, output, choice).T
        op = CsrOperator(QT, engine)
    Rc = Rd[:, choice] / output[choice]  # k × n
    # one resource: a plain vector (SciPy's SpMV is ~1.5x faster than its 1-column SpMM)
    rhs = op.asarray(np.ascontiguousarray(Rc[0] if k == 1 else Rc.T))
    # one resource: the solve's own residual (recomputed from a fresh product at every sweep)
    # *is* ‖λ − λQ − r̃‖/‖r̃‖, checked against tol itself; several: their joint residual is
    # driven to tol/4 and each row is checked on its own below
    lam_t, s, res = fixed_point_solve(op, rhs, tol=tol if k == 1 else 0.25 * tol)
    sweeps += s
    values = op.tonumpy(lam_t)
    values = values[:, None] if values.ndim == 1 else values
    neg = (values < -1e-9 * max(1.0, float(np.abs(values).max(initial=0.0)))).any(axis=1)
    if neg.any():  # Anderson solves (I − Q)ᵀλ = r̃ even when ρ(Q) ≥ 1: a negative value says so
        raise EconplanError(
            "the economy is not productive: negative embodied amounts for products "
            f"{np.nonzero(neg)[0][:10].tolist()}"
        )
    # checked residual in the original units, per resource row: ‖λ(B−A)_c − r_c‖ / ‖r_c‖
    resid = float(res)
    if k > 1:
        resid = 0.0
        QT = sp.csr_array(QT)
        for r in range(k):
            qv = QT @ values[:, r]
            if op.row_scale is not None:
                qv = qv * op.row_scale
            lhs = values[:, r] - qv
            scale = np.linalg.norm(Rc[r])
            if scale > 0:
                resid = max(resid, float(np.linalg.norm(lhs - Rc[r]) / scale))
    return ValuesResult(values, choice, resid, sweeps, policy_its, op.engine)


def gross_operator(
    A: sp.sparray | sp.spmatrix, output: np.ndarray, choice: np.ndarray,
    engine: str | None = None,
) -> CsrOperator:
    """``x ↦ rhs + Q x`` for the chosen techniques (Q by rows), as :func:`gross_activities`
    uses it."""
    return CsrOperator(chosen_input_matrix(A, output, choice, rows=True), engine)


def gross_activities(
    A: sp.sparray | sp.spmatrix,
    output: np.ndarray,
    choice: np.ndarray,
    Y: np.ndarray,
    tol: float = 1e-12,
    engine: str | None = None,
    op: CsrOperator | None = None,
) -> np.ndarray:
    """Activities of the chosen techniques that make net output ``Y`` (n,) or (n, r).

    Solves ``x = Y + Q x`` for gross outputs and returns ``z = x / o_c`` (units of activity of
    technique ``choice[i]``, per column of Y). ``op``: Q's operator from
    :func:`gross_operator` for this choice, to reuse it across calls.
    """
    op = gross_operator(A, output, choice, engine) if op is None else op
    Y = np.asarray(Y, dtype=np.float64)
    x, _, _ = fixed_point_solve(op, op.asarray(Y), tol=tol)
    x = op.tonumpy(x)
    o = np.asarray(output)[choice]
    return x / (o if x.ndim == 1 else o[:, None])


def solve_left(
    Mc: sp.sparray | sp.spmatrix, rhs: np.ndarray, tol: float = 1e-13, engine: str | None = None
) -> np.ndarray:
    """Solve ``x Mc = rhs`` for every row of ``rhs`` (k × n) with ``Mc = (B − A)_c`` square.

    The interface :mod:`econplan.values` calls above its direct-solve limit. ``Mc`` (n × n) is
    the net-output matrix of the chosen techniques (positive diagonal = output minus any
    self-input, non-positive off-diagonal = inputs). With ``D = diag(Mc)`` and
    ``N = D − Mc ≥ 0`` this is the fixed point ``xᵀ = D⁻¹ rhsᵀ + D⁻¹ Nᵀ xᵀ``, solved for all k
    rows at once by :func:`fixed_point_solve`; the relative residual
    ``‖x Mc − rhs‖ / ‖rhs‖`` (Frobenius) is checked in the original units afterwards and the
    solve refined once if it is above ``10·tol``. Returns x (k × n).
    """
    Mc = sp.csr_array(Mc)
    rhs = np.atleast_2d(np.asarray(rhs, dtype=np.float64))
    diag = Mc.diagonal()
    if (diag <= 0).any():
        bad = np.nonzero(diag <= 0)[0][:5].tolist()
        raise EconplanError(f"chosen techniques use at least their own output (products {bad})")
    N = sp.csr_array(sp.diags_array(diag) - Mc)
    T = sp.csr_array(sp.diags_array(1.0 / diag) @ N.T)
    op = CsrOperator(T, engine)
    target = max(tol, 1e-15)
    b = np.ascontiguousarray((rhs / diag).T)  # n × k
    x_t, _, _ = fixed_point_solve(op, op.asarray(b), tol=target)
    x = op.tonumpy(x_t).T
    MT = Mc.T.tocsr()
    scale = max(float(np.linalg.norm(rhs)), 1e-300)
    res = float(np.linalg.norm((MT @ x.T).T - rhs)) / scale
    if res > 10 * max(tol, 1e-14):  # one refinement step on the residual
        r = rhs - (MT @ x.T).T
        dx_t, _, _ = fixed_point_solve(op, op.asarray(np.ascontiguousarray((r / diag).T)), tol=1e-8)
        x = x + op.tonumpy(dx_t).T
        res = float(np.linalg.norm((MT @ x.T).T - rhs)) / scale
        if res > max(1e3 * tol, 1e-9):
            raise EconplanError(f"value solve did not converge (relative residual {res:.2e})")
    return x
