"""Labour values over an economy partitioned into product blocks, and the SpMV engine
"dask" that runs every solver's matrix products on a Dask cluster.

The economy is split by *product blocks*: block p holds the techniques that make products
``lo_p … hi_p − 1`` — their input columns of A, outputs and resource use — as two Parquet files
(``block-<p>-inputs.parquet``: technique, product, amount; ``block-<p>-techniques.parquet``:
technique, product, output and one column per resource). Each Dask worker loads its blocks once
and keeps them in memory; per sweep the driver broadcasts the current value vector λ (n floats)
and every block returns its slice of ``r̃ + λ Q`` — the same SpMV the one-process kernel does,
row block by row block. The driver runs the same Anderson-accelerated iteration as
:func:`econplan.kernels.fixed_point_solve` (so the answers agree to the solve tolerance) and the
same policy iteration over alternatives, the cheapest-technique choice being made inside each
block (each product's alternatives live in one block).

The engine "dask" (:class:`DaskRowBlocks`, used by :class:`econplan.kernels.CsrOperator`)
serves the planners: each sparse matrix a solver multiplies with (the Leontief inputs and their
transpose for ``fast``, the constraint matrix and its transpose for ``pdhg``) is cut into row
blocks of about equal numbers of entries, one per worker, sent once and kept there; each
product then ships the vector to every worker and gathers the block results. The planning
logic, the repairs and the certificate stay in the driver, on vectors, so the plan is the
one-process plan up to the order of floating-point sums.

Pointing it at a real cluster: start ``dask scheduler`` on one machine and ``dask worker
tcp://SCHEDULER:8786`` on each node, put the partitions where every worker can read them (a
shared file system or object store path), and pass ``Client("tcp://SCHEDULER:8786")`` to
:func:`distributed_values`. Traffic per sweep is one broadcast of λ (8·n bytes) and the
gathered slices (8·n bytes in total).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import EconplanError
from .kernels import ValuesResult, fixed_point_solve

#: seconds to wait for a just-started cluster's first worker to register before giving up
WAIT_FOR_WORKERS = 10.0

__all__ = ["write_partitions", "distributed_values", "Block", "DaskRowBlocks"]


def write_partitions(
    A: sp.sparray,
    output: np.ndarray,
    tech_product: np.ndarray,
    R: sp.sparray | np.ndarray,
    out: str | Path,
    parts: int,
    resource_ids: list[str] | None = None,
) -> list[Path]:
    """Write the economy as ``parts`` product blocks of Parquet files; returns the block stems.

    ``A`` n × m inputs, ``output`` (m,), ``tech_product`` (m,), ``R`` k × m (units as in
    :func:`econplan.kernels.solve_values`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    A = sp.csc_array(A)
    n, m = A.shape
    Rd = R.toarray() if sp.issparse(R) else np.asarray(R)
    k = Rd.shape[0]
    rid = resource_ids or [f"r{i}" for i in range(k)]
    tp = np.asarray(tech_product, dtype=np.int64)
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    stems = []
    for p in range(parts):
        lo, hi = bounds[p], bounds[p + 1]
        techs = np.nonzero((tp >= lo) & (tp < hi))[0]
        sub = A[:, techs].tocoo()
        pd.DataFrame(
            {"technique": techs[sub.col], "product": sub.row.astype(np.int64), "amount": sub.data}
        ).to_parquet(out / f"block-{p}-inputs.parquet", index=False)
        tdf = pd.DataFrame({"technique": techs, "product": tp[techs], "output": output[techs]})
        for i, name in enumerate(rid):
            tdf[name] = Rd[i, techs]
        tdf.to_parquet(out / f"block-{p}-techniques.parquet", index=False)
        stems.append(out / f"block-{p}")
    (out / "blocks.txt").write_text(
        f"{n} {parts}\n" + "\n".join(f"{bounds[p]} {bounds[p + 1]}" for p in range(parts)) + "\n"
    )
    return stems


@dataclass
class Block:
    """One product block held by a worker (local technique order = sorted global index)."""

    lo: int
    hi: int
    n: int
    A: sp.csc_array  # n × m_p inputs of the block's techniques
    output: np.ndarray
    local_product: np.ndarray  # (m_p,) product index minus lo
    R: np.ndarray  # k × m_p
    techs: np.ndarray  # (m_p,) global technique index of each local technique
    choice: np.ndarray | None = None  # (hi − lo,) local technique index per product, −1: none
    QT: sp.csr_array | None = None  # (hi − lo) × n rows of Qᵀ for the current choice
    usable: np.ndarray | None = None  # (m_p,) techniques whose inputs can all be made


def _load_block(stem: str, lo: int, hi: int, n: int) -> Block:
    inputs = pd.read_parquet(f"{stem}-inputs.parquet")
    techs = pd.read_parquet(f"{stem}-techniques.parquet").sort_values("technique")
    gidx = techs["technique"].to_numpy()
    local = np.searchsorted(gidx, inputs["technique"].to_numpy())
    A = sp.csc_array(
        (inputs["amount"].to_numpy(), (inputs["product"].to_numpy(), local)), shape=(n, len(gidx))
    )
    res_cols = [c for c in techs.columns if c not in ("technique", "product", "output")]
    return Block(lo, hi, n, A, techs["output"].to_numpy(), techs["product"].to_numpy() - lo,
                 techs[res_cols].to_numpy().T.copy(), gidx)


def _made(block: Block, producible: np.ndarray | None) -> tuple[Block, np.ndarray]:
    """One round of the producibility fixed point inside the block: its techniques whose
    inputs are all producible (``producible`` (n,) bool; ``None``: every product with a
    technique counts, the first round) and the block's products they make (hi − lo,)."""
    if producible is None:
        usable = np.ones(len(block.techs), dtype=bool)
    else:
        pattern = block.A.copy()
        pattern.data = np.ones_like(pattern.data)
        usable = (pattern.T @ (~producible).astype(float)) == 0
    made = np.zeros(block.hi - block.lo, dtype=bool)
    made[block.local_product[usable]] = True
    return replace(block, usable=usable), made


def _cheapest(block: Block, lam: np.ndarray | None, labour_row: int) -> np.ndarray:
    """Cheapest usable technique in labour per product of the block (ties: lowest index;
    −1 for a product nothing usable makes)."""
    cost = block.R[labour_row] + (0.0 if lam is None else block.A.T @ lam)
    cost = cost / block.output
    if block.usable is not None:
        cost = np.where(block.usable, cost, np.inf)
    nloc = block.hi - block.lo
    order = np.lexsort((np.arange(len(cost)), cost, block.local_product))
    first = np.ones(len(order), dtype=bool)
    first[1:] = block.local_product[order][1:] != block.local_product[order][:-1]
    first &= np.isfinite(cost[order])
    best = np.full(nloc, -1, dtype=np.int64)
    best[block.local_product[order][first]] = order[first]
    return best


def _choose(block: Block, lam: np.ndarray | None, labour_row: int) -> tuple[Block, int]:
    """Policy improvement inside the block; rebuild its rows of Qᵀ. Returns (block, switches)."""
    best = _cheapest(block, lam, labour_row)
    if block.choice is None or lam is None:
        new = best
    else:
        cost = (block.R[labour_row] + block.A.T @ lam) / block.output
        made = best >= 0
        cur = cost[np.maximum(block.choice, 0)]
        improve = made & (cost[np.maximum(best, 0)] < cur - 1e-12 * np.abs(cur))
        new = np.where(improve, best, block.choice)
    switches = 0 if block.choice is None else int((new != block.choice).sum())
    # a product nothing can make has an empty row of Qᵀ and a zero right-hand side: its entry
    # of λ stays 0 and, since no usable technique consumes it, touches no other entry
    made = new >= 0
    c = np.maximum(new, 0)
    Qc = block.A[:, c] @ sp.diags_array(np.where(made, 1.0 / block.output[c], 0.0))
    qt = sp.csr_array(Qc.T)
    return replace(block, choice=new, QT=qt), switches


def _rhs(block: Block, rows: list[int]) -> np.ndarray:
    made = block.choice >= 0
    c = np.maximum(block.choice, 0)
    return (block.R[rows][:, c] * np.where(made, 1.0 / block.output[c], 0.0)).T


def _axpy(block: Block, rhs: np.ndarray, x: np.ndarray) -> np.ndarray:
    return rhs + block.QT @ x


class DaskOperator:
    """``x ↦ rhs + Qᵀ x`` with the rows of Qᵀ spread over Dask workers (one future per block).

    Quacks like :class:`econplan.kernels.CsrOperator` (engine "dask") so the one-process
    iteration runs unchanged.
    """

    engine = "dask"

    def __init__(self, client: Any, blocks: list[Any], bounds: list[tuple[int, int]]) -> None:
        self.client = client
        self.blocks = blocks
        self.bounds = bounds

    def asarray(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float64)

    def tonumpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    def gather_arrays(self) -> None:
        """No local row arrays for the threaded sweep: the rows live on the workers."""
        return None

    def axpy(self, rhs: np.ndarray, x: np.ndarray) -> np.ndarray:
        xf = self.client.scatter(x, broadcast=True)
        futs = [
            self.client.submit(_axpy, b, rhs[lo:hi], xf, pure=False)
            for b, (lo, hi) in zip(self.blocks, self.bounds, strict=True)
        ]
        return np.concatenate(self.client.gather(futs))


def distributed_values(
    client: Any,
    folder: str | Path,
    labour_row: int = 0,
    tol: float = 1e-10,
    max_policy_iterations: int = 100,
) -> ValuesResult:
    """Labour values and embodied resources of a partitioned economy, on a Dask ``client``.

    Same mathematics and result as :func:`econplan.kernels.solve_values` (choice by policy
    iteration, ties to the lowest technique index; all resource rows solved for the final
    choice), with every SpMV done block by block on the workers. ``folder`` holds the output of
    :func:`write_partitions`.
    """
    folder = Path(folder)
    lines = (folder / "blocks.txt").read_text().split("\n")
    n, parts = map(int, lines[0].split())
    bounds = [tuple(map(int, lines[1 + p].split())) for p in range(parts)]
    blocks = [
        client.submit(_load_block, str(folder / f"block-{p}"), lo, hi, n, pure=False)
        for p, (lo, hi) in enumerate(bounds)
    ]
    # products nothing can make (no technique, or only techniques that need such products):
    # the fixed point of "made by a technique all of whose inputs are made", one round trip
    # per level; their values come back NaN and their technique −1, as econplan.values gives
    producible = None
    while True:
        pairs = [client.submit(_made, b, producible, pure=False) for b in blocks]
        blocks = [client.submit(lambda pr: pr[0], pr) for pr in pairs]
        made = np.concatenate(client.gather([client.submit(lambda pr: pr[1], pr)
                                             for pr in pairs]))
        if producible is not None and np.array_equal(made, producible):
            break
        producible = made
    lam = None
    sweeps = 0
    its = 0
    while True:
        pairs = [client.submit(_choose, b, lam, labour_row, pure=False) for b in blocks]
        blocks = [client.submit(lambda pr: pr[0], pr) for pr in pairs]
        switches = sum(client.gather([client.submit(lambda pr: pr[1], pr) for pr in pairs]))
        if lam is not None and switches == 0:
            break
        its += 1
        if its > max_policy_iterations:
            raise EconplanError("distributed policy iteration did not converge")
        op = DaskOperator(client, blocks, bounds)
        rhs = np.concatenate(client.gather([client.submit(_rhs, b, [labour_row]) for b in blocks]))
        x, s, _ = fixed_point_solve(op, rhs[:, 0], x0=lam, tol=min(tol, 1e-12))
        sweeps += s
        lam = x
    op = DaskOperator(client, blocks, bounds)
    k = client.submit(lambda b: b.R.shape[0], blocks[0]).result()
    rhs = np.concatenate(client.gather([client.submit(_rhs, b, list(range(k))) for b in blocks]))
    x, s, res = fixed_point_solve(op, np.ascontiguousarray(rhs), tol=0.25 * tol)
    sweeps += s
    choice = np.concatenate(client.gather([
        client.submit(lambda b: np.where(b.choice >= 0, b.techs[np.maximum(b.choice, 0)], -1),
                      b) for b in blocks]))
    x = np.array(x, dtype=np.float64)
    x[~producible] = np.nan
    return ValuesResult(x, choice, res, sweeps, its, "dask")


def _row_block_axpy(block: sp.csr_array, x: np.ndarray, rhs: np.ndarray | None) -> np.ndarray:
    y = block @ x
    return y if rhs is None else y + rhs


class DaskRowBlocks:
    """``x ↦ rhs + M x`` with the rows of M cut into blocks held by the workers of a Dask
    client (module docstring). ``client``: a ``distributed.Client`` (default: the current
    one, e.g. ``Client("tcp://scheduler:8786")`` made before planning); ``parts``: number of
    blocks (default: one per worker). Traffic per product: the vector x to every worker
    (8·len(x) bytes each) and the result (8·rows bytes in all)."""

    def __init__(self, M: sp.csr_array, client: Any | None = None,
                 parts: int | None = None) -> None:
        try:
            from distributed import get_client
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EconplanError("engine 'dask' needs dask[distributed] "
                                "(pip install 'econplan[dask]')") from exc
        if client is None:
            try:
                client = get_client()
            except ValueError as exc:
                raise EconplanError("engine 'dask' needs a Dask client: create one first, "
                                    "e.g. distributed.Client('tcp://scheduler:8786')") from exc
        self.client = client
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:  # a cluster just started: its workers may not have registered yet
            try:
                client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
            except (TimeoutError, OSError):
                pass
            workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise EconplanError("engine 'dask': the Dask cluster has no workers")
        parts = max(1, min(parts or len(workers), M.shape[0]))
        M = sp.csr_array(M)
        # row bounds with about equal numbers of entries per block
        targets = np.linspace(0, M.nnz, parts + 1)
        bounds = np.searchsorted(M.indptr, targets, side="left")
        bounds[0], bounds[-1] = 0, M.shape[0]
        bounds = np.maximum.accumulate(bounds)
        self.bounds = [(int(bounds[p]), int(bounds[p + 1])) for p in range(parts)
                       if bounds[p + 1] > bounds[p]]
        self.shape = M.shape
        self.blocks = [
            client.scatter(sp.csr_array(M[lo:hi]), workers=[workers[p % len(workers)]],
                           hash=False)
            for p, (lo, hi) in enumerate(self.bounds)
        ]

    def axpy(self, rhs: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        """``rhs + M x`` (``M x`` when rhs is None); x a vector or a block of columns."""
        xf = self.client.scatter(np.ascontiguousarray(x), broadcast=True, hash=False)
        futs = [
            self.client.submit(_row_block_axpy, blk, xf, None if rhs is None else rhs[lo:hi],
                               pure=False)
            for blk, (lo, hi) in zip(self.blocks, self.bounds, strict=True)
        ]
        return np.concatenate(self.client.gather(futs))
