"""A PDHG step in two threaded passes over the matrix (Numba; large LPs).

A PDHG step needs two sparse products, ``K x'`` (for the dual update) and ``Kᵀ y'`` (for the
next primal update); on NumPy about thirty passes over vectors go around them (the clip, the
dual update, the differences, three dot products, four running averages). On the plans that go
to PDHG (alternatives *and* capacities) at 1e5 × 2 the vector passes cost about as much as the
products (measured: 6.6 + 5.7 ms for the products, ~18 ms a step). Here each product is one
pass over the rows of K or of Kᵀ (both CSR), with the vector work that depends on it done on
the spot:

* **dual pass** (rows of K): ``(K x')_i``, then ``y'_i = max(0, y_i + σ (q_i − 2 (K x')_i +
  (K x)_i))`` and the partial sums of ``‖y' − y‖²`` and ``(y' − y)·(K x' − K x)`` (the
  adaptive step's test);
* **transposed pass** (rows of Kᵀ, once the step is accepted): ``(Kᵀ y')_j``, the running
  averages of ``x`` and ``Kᵀy``, and already the *next* step's
  ``x'' = clip(x' − τ' (c − Kᵀ y'), lb, ub)`` with ``‖x'' − x'‖²`` (τ' is known once the
  step is accepted; a restart or a rejected step recomputes it by the primal pass).

(A single pass that scatters ``y'_i K_i·`` into ``Kᵀ y'`` was measured first: the scatter
alone took 18.7 ms at 1e5 × 2 against 5.7 ms for the gather over Kᵀ.)

The rows are cut into a fixed number of chunks of equal nonzeros (:data:`CHUNKS`, or one per
thread beyond that), each with its own partial sums added in chunk order: the same inputs
give the same bits with any number of threads up to :data:`CHUNKS`. Every element is computed
with the same operations in the same order as the NumPy step (products in SciPy's CSR order),
so only the dot products' summation order differs from it. Used by
:func:`econplan.plan.pdhg.solve_lp` on the default engine when Numba is installed (the
``fast`` extra) and K has at least :data:`MIN_ENTRIES` entries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import threaded

__all__ = ["CHUNKS", "MIN_ENTRIES", "FusedStep", "usable"]

#: Below this many entries the NumPy step is as fast (measured, bench/RESULTS.md).
MIN_ENTRIES = 200_000
#: Row chunks per pass, at least: fixed so that partial sums (and so the iterates) do not depend
#: on the number of threads up to this many (more threads get one chunk each). Each chunk is a
#: task for the pool (~20-50 µs): measured at 1e5 × 2 on 2 cores, a step took 9.4 ms with 2
#: chunks, 9.5 with 4, 11.2 with 16 (NumPy: 17.6 ms); at 1e4 × 2, 1.30 / 1.38 / 1.95 ms (1.75).
CHUNKS = 4

_KERNELS: dict[str, Any] = {}


def usable(nnz: int, minimum: int | None = None) -> bool:
    """True when the fused passes apply: Numba importable, ``ECONPLAN_THREADS`` not 0 and at
    least ``minimum`` (default :data:`MIN_ENTRIES`) entries in K."""
    enough = nnz >= (MIN_ENTRIES if minimum is None else minimum)
    return enough and threaded.threads() >= 1 and threaded.numba_importable()


def _kernels() -> dict[str, Any]:
    """The passes (:mod:`econplan.plan.pdhg_kernels`, compiled once and cached on disk);
    Numba is imported lazily."""
    if _KERNELS:
        return _KERNELS
    from . import pdhg_kernels as k

    _KERNELS.update(primal=k.primal, dual=k.dual, transposed=k.transposed, average=k.average)
    return _KERNELS


class FusedStep:
    """The passes of restarted PDHG on a fixed CSR matrix K (scaled units), see the module
    docstring. Outputs are fresh arrays (callers keep references to old iterates: restart
    anchors, candidates); only the running averages are updated in place. K and Kᵀ are the
    CSR arrays the caller already holds (``solve_lp``: its SciPy operators'); Kᵀ is built
    when not given."""

    def __init__(self, K: sp.csr_array, KT: sp.csr_array | None = None,
                 n_threads: int | None = None, n_chunks: int | None = None) -> None:
        self.k = _kernels()
        KT = sp.csr_array(K.T) if KT is None else KT
        self.K = (K.indptr, K.indices, np.ascontiguousarray(K.data, dtype=np.float64))
        self.KT = (KT.indptr, KT.indices, np.ascontiguousarray(KT.data, dtype=np.float64))
        self.shape = K.shape
        t = max(1, threaded.threads() if n_threads is None else n_threads)
        n_chunks = max(CHUNKS, t) if n_chunks is None else n_chunks
        self.rows = threaded._chunks(K.indptr[:-1], K.indptr[1:], n_chunks) or [(0, 0)]
        self.cols = threaded._chunks(KT.indptr[:-1], KT.indptr[1:], n_chunks) or [(0, 0)]
        self.pool = threaded._pool(t) if t > 1 else None

    def _run(self, fn: Any, count: int, width: int) -> np.ndarray:
        """Run ``fn(i, out_row)`` for tasks ``i < count`` on the pool; their partial sums,
        task by task (added in this order by the callers: the same bits on any pool)."""
        out = np.zeros((count, max(width, 1)))
        threaded._each(self.pool, lambda i: fn(i, out[i]), count)
        return out

    def primal(self, x: np.ndarray, kty: np.ndarray, c: np.ndarray, lb: np.ndarray,
               ub: np.ndarray, tau: float) -> tuple[np.ndarray, float]:
        """``x' = clip(x − τ (c − Kᵀy), lb, ub)`` and ``‖x' − x‖²``."""
        xn = np.empty(self.shape[1])
        f = self.k["primal"]
        out = self._run(lambda i, o: f(*self.cols[i], x, kty, c, lb, ub, tau, xn, o),
                        len(self.cols), 1)
        return xn, float(out[:, 0].sum())

    def dual(self, xn: np.ndarray, y: np.ndarray, kx: np.ndarray, q: np.ndarray,
             sigma: float) -> tuple[np.ndarray, np.ndarray, float, float]:
        """``K x'``, ``y'``, ``‖y' − y‖²`` and ``(y' − y)·(K x' − K x)``."""
        nr = self.shape[0]
        kxn, yn = np.empty(nr), np.empty(nr)
        f = self.k["dual"]
        ip, ix, dt = self.K
        out = self._run(lambda i, o: f(*self.rows[i], ip, ix, dt, xn, y, kx, q, sigma, kxn, yn,
                                       o), len(self.rows), 2)
        return kxn, yn, float(out[:, 0].sum()), float(out[:, 1].sum())

    def transposed(self, yn: np.ndarray, xn: np.ndarray, kxn: np.ndarray, c: np.ndarray,
                   lb: np.ndarray, ub: np.ndarray, tau: float, averages: tuple, a: float
                   ) -> tuple[np.ndarray, np.ndarray, float]:
        """``Kᵀ y'``, the next step's ``x''`` (step τ) with ``‖x'' − x'‖²``; the running
        averages ``averages = (x_avg, y_avg, Kx_avg, Kᵀy_avg)`` move ``a`` of the way to
        ``x', y', K x', Kᵀ y'`` (in place; the row vectors' share rides in the same tasks)."""
        nc = self.shape[1]
        ktyn, x2 = np.empty(nc), np.empty(nc)
        f, g = self.k["transposed"], self.k["average"]
        ip, ix, dt = self.KT
        x_avg, y_avg, kx_avg, kty_avg = averages
        n_tasks = len(self.cols)

        def task(i: int, o: np.ndarray) -> None:
            lo, hi = self.cols[i]
            f(lo, hi, ip, ix, dt, yn, xn, c, lb, ub, tau, ktyn, x2, x_avg, kty_avg, a, o)
            for r in self.rows[i::n_tasks]:  # the row chunks, shared out among the tasks
                g(*r, y_avg, yn, a)
                g(*r, kx_avg, kxn, a)

        out = self._run(task, n_tasks, 1)
        return ktyn, x2, float(out[:, 0].sum())
