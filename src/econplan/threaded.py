"""The Anderson fixed-point sweep fused into two passes and run on every core (large n).

:func:`econplan.kernels.fixed_point_solve` spends a sweep on one sparse product and, on NumPy,
about thirty passes over n-vectors around it (the Anderson weights, the new iterate, the
residual, the two history differences, their Gram row, the norm): at 1e6 products that vector
traffic (~250 MB) is as large as the product's own (a 20M-entry matrix, ~240 MB). Here one
sweep is two passes over the rows:

* **pass A** (the product and everything that follows from it, row by row): ``g' = r + s·(M x)``,
  ``f' = g' − x``, the history differences ``ΔG = g' − g`` and ``ΔF = f' − f`` written into
  their slot, and the partial sums of ``‖f'‖²``, ``ΔF·ΔF_slot`` (the Gram row) and ``ΔF·f'``
  (the next weights' right-hand side);
* **pass B** (the next iterate): ``x' = g' − Σ_c γ_c ΔG_c``.

Each pass is cut into row chunks of equal nonzeros, several per core, handed to a thread pool
(the kernels are Numba functions that release the GIL): a core taken by another process just
does fewer chunks, so the sweep is never slower than the serial one by more than a chunk,
unlike a static split whose slowest thread sets the pace. The iteration is exactly that of
:func:`econplan.kernels._anderson_numpy` (same weights, same residual recomputed from a fresh
product at every sweep, same stopping rule); only the order of the partial sums differs.

Used for one right-hand side above :data:`MIN_ROWS` rows when Numba is installed (the
``fast`` extra); ``ECONPLAN_THREADS=0`` turns it off, another number sets the thread count.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

#: Below this many rows the serial NumPy loop is as fast (the passes fit in cache).
MIN_ROWS = 500_000
#: Row chunks per thread: enough for dynamic balance on a shared machine, few enough that the
#: dispatch (~20 µs a chunk) stays far below a sweep.
CHUNKS_PER_THREAD = 8

_KERNELS: dict[str, Any] = {}
_POOL: dict[int, ThreadPoolExecutor] = {}


def threads() -> int:
    """Threads to use: ``ECONPLAN_THREADS`` if set, else the cores this process may run on."""
    env = os.environ.get("ECONPLAN_THREADS")
    if env is not None and env.strip():
        return max(int(env), 0)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def available(rows: int) -> bool:
    """True when the fused threaded sweep applies: Numba importable, ≥ 2 threads allowed and
    at least :data:`MIN_ROWS` rows."""
    if rows < MIN_ROWS or threads() < 2:
        return False
    return numba_importable()


def numba_importable() -> bool:
    """True when Numba (the ``fast`` extra) can be imported; it is not imported here."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _kernels() -> dict[str, Any]:
    """The two row-chunk kernels and the block variant (:mod:`econplan.sweep_kernels`,
    compiled once and cached on disk); Numba is imported lazily."""
    if _KERNELS:
        return _KERNELS
    from . import sweep_kernels as k

    _KERNELS.update(a=k.pass_a, b=k.pass_b, a_block=k.pass_a_block)
    return _KERNELS


def warm_up() -> None:
    """Compile (or load from Numba's disk cache) the kernels and start the pool now, so that
    a timed solve does not pay for it (benchmarks; a long-running service)."""
    if not available(MIN_ROWS):
        return
    import scipy.sparse as sp

    M = sp.csr_array(sp.eye_array(4) * 0.5)
    anderson_solve(M.indptr[:-1], M.indptr[1:], M.indices.astype(np.int32), M.data, None,
                   np.ones(4), None, 1e-12, 50, 3, None)


def _pool(n_threads: int) -> ThreadPoolExecutor:
    if n_threads not in _POOL:
        _POOL[n_threads] = ThreadPoolExecutor(n_threads, thread_name_prefix="econplan-sweep")
    return _POOL[n_threads]


def _chunks(starts: np.ndarray, ends: np.ndarray, n_chunks: int) -> list[tuple[int, int]]:
    """Row ranges holding about equal nonzeros (plus one per row, for the vector work); row i
    holds entries ``starts[i]:ends[i]``."""
    n = len(starts)
    work = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(ends.astype(np.int64) - starts + 1, out=work[1:])
    cuts = np.searchsorted(work, np.linspace(0, work[-1], n_chunks + 1)[1:-1])
    bounds = np.unique(np.concatenate(([0], cuts, [n])))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _each(pool: ThreadPoolExecutor | None, run, count: int) -> None:
    """``run(c)`` for every chunk ``c < count``: on the pool, or here in order."""
    if pool is None:
        for c in range(count):
            run(c)
        return
    for fut in [pool.submit(run, c) for c in range(count)]:
        fut.result()


def anderson_solve(
    starts: np.ndarray,
    ends: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    row_scale: np.ndarray | None,
    rhs: np.ndarray,
    x0: np.ndarray | None,
    tol: float,
    maxiter: int,
    memory: int,
    callback,
    n_threads: int | None = None,
) -> tuple[np.ndarray, int, float]:
    """Solve ``x = rhs + diag(row_scale) M x`` by Anderson acceleration; row i of M holds the
    entries ``starts[i]:ends[i]`` of ``indices``/``data`` (a CSR's ``indptr[:-1]`` and
    ``indptr[1:]``, or the slots of :class:`econplan.chosen.ChosenColumns`). ``rhs`` is one
    vector (n,) or a block (n, w) solved as one flattened vector (one set of Anderson weights
    for the block, as the NumPy loop does).

    The same iteration as the NumPy loop of :func:`econplan.kernels.fixed_point_solve` (its
    Gram bookkeeping and its two guards too), in two fused passes per sweep on a thread pool.
    ``n_threads=1`` runs both passes in the calling thread over all rows at once (callers that
    solve several blocks side by side, one per thread: :func:`block_solve`).
    Returns ``(x, sweeps, relative_residual)``.
    """
    from .kernels import _check_divergence, _check_progress, _History

    k = _kernels()
    shape = np.shape(rhs)
    width = 1 if len(shape) == 1 else int(shape[1])
    pass_b = k["b"]
    if width == 1:
        pass_a = k["a"]
    else:  # the block kernel, called with the row pass's arguments
        def pass_a(lo, hi, *args):
            k["a_block"](lo, hi, width, *args)
    n = shape[0] * width
    rhs = np.ascontiguousarray(rhs, dtype=np.float64).reshape(-1)
    x0 = None if x0 is None else np.asarray(x0, dtype=np.float64).reshape(-1)
    scale_vec = (np.zeros(0) if row_scale is None
                 else np.ascontiguousarray(row_scale, dtype=np.float64))
    norm_rhs = float(np.sqrt(rhs @ rhs))
    if norm_rhs == 0.0:
        return (rhs * 0.0).reshape(shape), 0, 0.0
    n_threads = max(threads() if n_threads is None else n_threads, 1)
    if n_threads == 1:
        chunks = [(0, len(starts))]
        pool = None
    else:
        chunks = _chunks(starts, ends, n_threads * CHUNKS_PER_THREAD)
        pool = _pool(n_threads)
    sums = np.zeros((len(chunks), 1 + 2 * memory))

    x = np.array(rhs if x0 is None else x0, dtype=np.float64)
    g = np.empty(n)
    f = np.empty(n)
    g_new = np.empty(n)
    f_new = np.empty(n)
    x_new = np.empty(n)
    dG = np.zeros((memory, n))
    dF = np.zeros((memory, n))
    hist = _History(memory)

    def sweep_a(x_in, g_old, f_old, g_out, f_out, record: bool, count: int) -> np.ndarray:
        sums[:] = 0.0

        def run(c: int) -> None:
            lo, hi = chunks[c]
            pass_a(lo, hi, starts, ends, indices, data, scale_vec, rhs, x_in, g_old, f_old,
                   g_out, f_out, dG, dF, hist.slot, count, record, sums[c])

        _each(pool, run, len(chunks))
        return sums.sum(axis=0)

    def sweep_b(g_in, gamma: np.ndarray, count: int, x_out) -> None:
        def run(c: int) -> None:
            lo, hi = chunks[c]
            pass_b(lo * width, hi * width, g_in, dG, gamma, count, x_out)

        _each(pool, run, len(chunks))

    tot = sweep_a(x, g, f, g, f, False, 0)  # first product: g = r + Mx, f = g − x
    res = float(np.sqrt(tot[0])) / norm_rhs
    h = np.zeros(0)
    it = 0
    best = res
    empty = np.zeros(memory)
    while res > tol:
        _check_progress(it, maxiter, res)
        if hist.count:
            gamma = hist.weights(h)
            sweep_b(g, np.ascontiguousarray(gamma), hist.count, x_new)
        else:
            sweep_b(g, empty, 0, x_new)
        count = hist.next_count
        tot = sweep_a(x_new, g, f, g_new, f_new, True, count)
        hist.store_row(tot[1:1 + count])
        h = tot[1 + count:1 + 2 * count]
        x, x_new = x_new, x
        g, g_new = g_new, g
        f, f_new = f_new, f
        res = float(np.sqrt(max(tot[0], 0.0))) / norm_rhs
        it += 1
        if callback is not None:
            callback(it, res)
        best = _check_divergence(it, res, best)
    return x.reshape(shape), it, res
