"""The chosen technique per product and its input matrix Q, kept in compiled passes.

For one technique ``c(i)`` per product, ``Q[:, i] = A[:, c(i)] / o_{c(i)}`` (units of product
used per unit of product i made; see :mod:`econplan.kernels`). Policy iteration and the
structured planner need Q (for values, by columns: Qᵀ's rows) once per change of choice and
Q by rows (gross outputs) once per plan column, about a hundred times per plan. Profiled at
1e6 products × 2 techniques (``fast``, no capacities, 138 s): 50 s went to building these
matrices with vectorised NumPy gathers and SciPy conversions, and 12 s to the per-product
argmin, against 46 s for the solves themselves. Here:

* :class:`ChosenColumns` keeps Q by columns in *slots* sized for the longest technique of each
  product, so a change of choice rewrites only the columns of the products that changed
  (after the first round of a policy iteration: a few per cent). The unused tail of a slot
  holds explicit zeros, so the slots read as one valid CSR matrix (Qᵀ) for SciPy, and the
  threaded sweep (:mod:`econplan.threaded`) skips the tails through ``starts``/``ends``.
* :func:`gather_columns` is the same copy into slots with no room to spare, for callers
  that build Q once.
* :func:`group_argmin` is the per-product argmin with DESIGN.md's tie rule in one pass.

The kernels are Numba functions (the ``fast`` extra); :func:`usable` says when they pay (and
are importable), else callers use the NumPy/SciPy code they had, which gives the same arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from econplan import threaded

__all__ = [
    "MIN_ENTRIES",
    "MIN_TECHNIQUES",
    "ChosenColumns",
    "gather_columns",
    "group_argmin",
    "usable",
]

#: Below this many entries in A the NumPy code is about as fast once Numba's import and the
#: kernels' loading (~0.5-0.7 s, once per process) are counted: measured through the CLI at
#: 2e4 × 2 (8e5 entries) 0.2-0.4 s slower with the compiled passes, in the solver at 3e4 × 2
#: (1.2e6 entries) 0.5 s faster.
MIN_ENTRIES = 1_000_000
#: The same for the per-product argmin, in techniques.
MIN_TECHNIQUES = 50_000

_KERNELS: dict[str, Any] = {}


def usable(size: int, engine: str | None = None, minimum: int | None = None) -> bool:
    """True when the compiled passes apply: ``size`` (A's entries, or the techniques for
    :func:`group_argmin`) is at least ``minimum`` (default :data:`MIN_ENTRIES`), the SpMV
    engine is a CPU one ("scipy", the default, or "numba") and Numba is importable."""
    if size < (MIN_ENTRIES if minimum is None else minimum):
        return False
    return (engine or "scipy") in ("scipy", "numba") and threaded.numba_importable()


def _kernels() -> dict[str, Any]:
    if _KERNELS:
        return _KERNELS
    import numba as nb

    @nb.njit(nogil=True, cache=True)
    def fill_slots(which, indptr, indices, data, choice, inv_o, slot, ends, out_idx,
                   out_data):  # pragma: no cover - jitted
        # rewrite the slots of products `which`: the chosen column, then explicit zeros
        for w in range(which.shape[0]):
            i = which[w]
            j = choice[i]
            q = slot[i]
            s = inv_o[j]
            for p in range(indptr[j], indptr[j + 1]):
                out_idx[q] = indices[p]
                out_data[q] = data[p] * s
                q += 1
            ends[i] = q
            for r in range(q, slot[i + 1]):
                out_idx[r] = 0
                out_data[r] = 0.0

    @nb.njit(nogil=True, cache=True)
    def argmin(cost, order, starts, rtol, out):  # pragma: no cover - jitted
        # per group: the lowest technique index within rtol of the group's least cost
        g = starts.shape[0]
        total = order.shape[0]
        for k in range(g):
            lo = starts[k]
            hi = starts[k + 1] if k + 1 < g else total
            if hi <= lo:  # no technique: never read past the group (NumPy's reduceat fails)
                raise ValueError("a product without techniques")
            best = cost[order[lo]]
            for p in range(lo + 1, hi):
                c = cost[order[p]]
                if c < best:
                    best = c
            limit = best + rtol * abs(best)
            pick = -1
            for p in range(lo, hi):
                j = order[p]
                if cost[j] <= limit and (pick < 0 or j < pick):
                    pick = j
            out[k] = pick

    _KERNELS.update(fill_slots=fill_slots, argmin=argmin)
    return _KERNELS


def gather_columns(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    choice: np.ndarray,
    inv_o: np.ndarray,
    new_ptr: np.ndarray,
    itype: type,
) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``choice`` of the CSC arrays (``indptr``, ``indices``, ``data``), column
    ``choice[i]`` multiplied by ``inv_o[choice[i]]`` (``inv_o`` per technique), laid out at
    ``new_ptr`` (the cumulative column lengths: slots with no room to spare). Returns
    ``(indices, data)`` of the gathered matrix, indices of type ``itype``."""
    total = int(new_ptr[-1])
    out_idx = np.empty(total, dtype=itype)
    out_data = np.empty(total, dtype=np.float64)
    choice = np.asarray(choice, dtype=np.int64)
    ends = np.empty(len(choice), dtype=np.int64)
    _kernels()["fill_slots"](np.arange(len(choice)), indptr, indices, data, choice, inv_o,
                             np.asarray(new_ptr, dtype=np.int64), ends, out_idx, out_data)
    return out_idx, out_data


def group_argmin(cost: np.ndarray, order: np.ndarray, starts: np.ndarray,
                 rtol: float) -> np.ndarray:
    """Per group of ``order`` (groups start at ``starts``): the lowest technique index whose
    cost is within ``rtol`` of the group's least (see :func:`econplan.kernels.grouped_argmin`,
    which calls this for large inputs)."""
    out = np.empty(len(starts), dtype=np.int64)
    _kernels()["argmin"](np.ascontiguousarray(cost, dtype=np.float64), order,
                         np.asarray(starts, dtype=np.int64), float(rtol), out)
    return out


class ChosenColumns:
    """Q by columns for a choice that changes a little at a time (policy iteration).

    Column i lives in a fixed slot ``slot[i]:slot[i+1]`` as long as product i's longest
    technique; entries ``slot[i]:ends[i]`` hold the chosen technique's inputs per unit of
    output, the rest explicit zeros. :meth:`update` rewrites the slots of the products whose
    choice changed. :meth:`transposed` gives ``x ↦ rhs + Qᵀx`` as a
    :class:`econplan.kernels.CsrOperator` over the slots (a valid CSR of Qᵀ with explicit
    zeros), whose threaded sweep reads only ``slot[i]:ends[i]``.
    """

    def __init__(self, A: sp.csc_array, output: np.ndarray, tech_product: np.ndarray,
                 n: int) -> None:
        self.A = A if A.format == "csc" else sp.csc_array(A)
        self.inv_o = 1.0 / np.asarray(output, dtype=np.float64)
        lengths = np.diff(self.A.indptr).astype(np.int64)
        longest = np.zeros(n, dtype=np.int64)
        np.maximum.at(longest, np.asarray(tech_product, dtype=np.int64), lengths)
        self.slot = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(longest, out=self.slot[1:])
        total = int(self.slot[-1])
        itype = np.int32 if total < 2**31 and n < 2**31 else np.int64
        self.indices = np.zeros(total, dtype=itype)
        self.data = np.zeros(total, dtype=np.float64)
        self.ends = self.slot[:-1].copy()
        self.choice: np.ndarray | None = None
        self.indptr = self.slot.astype(itype)  # the slots as a CSR's indptr (same index type)

    def update(self, choice: np.ndarray) -> int:
        """Hold ``choice`` (n,); returns how many columns were rewritten."""
        choice = np.asarray(choice, dtype=np.int64)
        which = (np.arange(len(choice)) if self.choice is None
                 else np.nonzero(choice != self.choice)[0])
        if len(which):
            _kernels()["fill_slots"](which, self.A.indptr, self.A.indices, self.A.data, choice,
                                     self.inv_o, self.slot, self.ends, self.indices,
                                     self.data)
        self.choice = choice.copy()
        return len(which)

    def transposed(self, engine: str | None = None) -> Any:
        """``x ↦ rhs + Qᵀx`` for the held choice (shares the slot arrays: valid until the
        next :meth:`update`)."""
        from .kernels import CsrOperator

        n = len(self.slot) - 1
        QT = sp.csr_array((self.data, self.indices, self.indptr), shape=(n, n))
        return CsrOperator(QT, engine, ranges=(self.slot[:-1], self.ends))
