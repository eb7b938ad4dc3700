"""Synthetic economies that look like real ones, productive by construction.

:func:`generate` builds a bundle (the tables of DESIGN.md) for ``n`` products with ``K``
alternative techniques each, deterministically from a seed, and optionally writes it as a
bundle folder (CSV or Parquet). :func:`generate_arrays` returns the same economy as sparse
matrices, for benchmarks and for the fast solvers, without building string tables.

How the economy is built (all vectorised; no Python loop over products):

* **Units.** Every product ``i`` has a hidden unit price ``s_i`` (lognormal), so that amounts
  are stated in physical units (kWh, tonnes, hours of care …) while the generator reasons in a
  common value scale. An input amount is ``a_ij = c_ij · o_j · s_p(j) / s_i`` where ``c_ij`` is
  the *value share* of input ``i`` in one unit of technique ``j``'s output.
* **Productivity.** The value shares of every technique sum to ``ρ_j ∈ [0.35, 0.6]``. In the
  value scale every column of any chosen input matrix sums to at most 0.6, so whatever technique
  is chosen for each product the spectral radius of the input matrix (per unit of output) lies
  between min ρ_j and max ρ_j: in [0.35, 0.6]. Iterative solvers are tested honestly (about
  40–50 Neumann steps to 1e-10), and the economy is productive for every choice of techniques.
* **Inputs.** 10–30 inputs per technique (fewer when n is small), among them a few *hub*
  products (energy, transport, construction, …) used by most techniques with a larger share,
  and the rest drawn with a heavy-tailed distance from the product itself (a sector structure:
  many inputs from "nearby" products, some from far away), distinct by construction. Value
  shares are lognormal (heavy-tailed amounts).
* **Resources.** ``labour`` (hours; first), ``land`` (hectares; a minority of products) and
  ``co2`` (tonnes; an emissions budget). With K alternatives per product, the alternatives trade
  labour against CO₂ and inputs (alternative ``a`` is labour-intensive, later letters are more
  energy- and CO₂-intensive), so the choice of techniques matters.
* **Needs.** About 85 % of products have a positive target (final demand); with
  ``floors=True`` about half of them have a floor of 20–60 % of the target.
* **Availabilities.** A quick internal solve finds the labour-cheapest techniques
  (non-substitution value iteration) and the gross outputs they need for the floors and for the
  rest of the targets. Labour is set so that, on that reference plan, the fulfilment ratio is
  ``τ ∈ [0.86, 0.95]`` (labour binds); CO₂ is set near the same point (binding on some seeds,
  forcing a mix of techniques); land is ample. With ``capacities=True`` a quarter of the
  reference techniques get a capacity that binds slightly before ``τ`` and half of the
  alternatives a capacity of a fraction of the product's gross output; all capacities admit the
  floor plan, so floors are always feasible.

Deterministic: the same arguments give byte-identical files (same library versions).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

__all__ = ["GeneratedEconomy", "generate", "generate_arrays", "tables_from_arrays", "write_tables"]

HUBS = [
    ("energy", "MWh", 0.95, 6.0),
    ("transport", "tkm", 0.9, 4.0),
    ("construction", "m2", 0.6, 2.0),
    ("communications", "GB", 0.7, 1.5),
    ("finance and insurance", "service", 0.6, 1.5),
    ("water supply", "m3", 0.6, 1.0),
    ("basic chemicals", "t", 0.5, 2.0),
    ("machinery", "unit", 0.5, 2.5),
]
SECTORS = [
    ("cereals", "t"),
    ("vegetables", "t"),
    ("dairy", "kl"),
    ("textiles", "m2"),
    ("wood products", "m3"),
    ("paper", "t"),
    ("plastics", "t"),
    ("steel", "t"),
    ("electronics", "unit"),
    ("vehicles", "unit"),
    ("furniture", "unit"),
    ("pharmaceuticals", "kg"),
    ("health care", "hours of care"),
    ("education", "hours of teaching"),
    ("housing", "m2"),
    ("software", "licence"),
]
RESOURCES = [
    ("labour", "Labour", "hours"),
    ("land", "Agricultural land", "ha"),
    ("co2", "CO2 emissions budget", "t"),
]
LAND_SECTORS = {0, 1, 2, 4}  # sectors that use land heavily


@dataclass
class GeneratedEconomy:
    """A synthetic economy as arrays (n products, m = n·K techniques, k resources).

    ``A`` inputs (n × m CSC, units of product per unit of activity); ``R`` resource use
    (k × m CSR, resource units per unit of activity); ``output`` (m,) units of product per unit
    of activity; ``tech_product`` (m,) int32 product index of each technique (technique
    ``j = i·K + q``); ``cap`` (m,) capacity in units of activity, ``inf`` = none;
    ``available`` (k,); ``target``, ``floor``, ``priority`` (n,). ``choice`` (n,) is the
    labour-cheapest technique per product and ``tau`` the fulfilment ratio of the reference plan
    the availabilities were sized on (diagnostics; not part of the bundle).
    """

    n: int
    K: int
    seed: int
    A: sp.csc_array
    R: sp.csr_array
    output: np.ndarray
    tech_product: np.ndarray
    cap: np.ndarray
    available: np.ndarray
    target: np.ndarray
    floor: np.ndarray
    priority: np.ndarray
    unit_price: np.ndarray
    choice: np.ndarray
    tau: float
    product_names: list[str] | np.ndarray
    product_units: np.ndarray

    @property
    def m(self) -> int:
        return self.A.shape[1]

    @property
    def k(self) -> int:
        return self.R.shape[0]

    @property
    def resource_ids(self) -> list[str]:
        return [r[0] for r in RESOURCES]

    def net_output_matrix(self) -> sp.csc_array:
        """``M = B − A`` (n × m CSC), net output per unit of activity of each technique."""
        B = sp.csc_array(
            (self.output, (self.tech_product, np.arange(self.m))), shape=(self.n, self.m)
        )
        return sp.csc_array(B - self.A)

    def problem(self, objective: str = "fulfilment"):  # -> PlanProblem
        """The LP data as a :class:`econplan.plan.base.PlanProblem` (labour cost weight 1)."""
        from econplan.plan.base import Objective, PlanProblem

        cost = np.zeros(self.k)
        cost[0] = 1.0
        return PlanProblem(
            M=self.net_output_matrix(),
            R=self.R,
            b=self.available.copy(),
            cap=self.cap.copy(),
            y=self.target.copy(),
            ymin=self.floor.copy(),
            cost=cost,
            tech_product=self.tech_product.astype(np.int64),
            output=self.output.copy(),
            objective=Objective(objective),
            w=self.priority.copy(),
        )


class _Progress:
    """Stage messages on stderr when asked for (generation of big economies takes seconds)."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.on:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _segment_ids(counts: np.ndarray) -> np.ndarray:
    """For counts c_0, c_1, … return 0 (c_0 times), 1 (c_1 times), … as int64."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def _segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarted at the start of every segment."""
    cs = np.cumsum(values)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    before = np.concatenate(([0], cs))[starts]
    return cs - np.repeat(before, counts)


def _labour_min_choice(
    A: sp.csc_array, labour: np.ndarray, output: np.ndarray, n: int, K: int
) -> np.ndarray:
    """Labour-cheapest technique per product (non-substitution), by value iteration.

    λ_i = min_q (l_j + Σ_h λ_h a_hj) / o_j with j = i·K + q; a contraction of modulus ≤ 0.6 in
    the value scale, so ~60 sweeps reach 1e-12. Ties go to the lowest technique index (id).
    """
    AT = A.T.tocsr()  # m × n
    direct = labour / output
    lam = direct.reshape(n, K).min(axis=1)
    for _ in range(200):
        cost = (labour + AT @ lam) / output
        new = cost.reshape(n, K).min(axis=1)
        done = np.max(np.abs(new - lam) / np.maximum(new, 1e-300)) < 1e-12
        lam = new
        if done:
            break
    cost = (labour + AT @ lam) / output
    return np.arange(n) * K + cost.reshape(n, K).argmin(axis=1)


def _gross_activity(A_c: sp.csc_array, o_c: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Activities z with (O − A_c) z = Y for the chosen techniques (one per product).

    Neumann iteration x ← Y + A_c (x / o) on gross outputs x = o·z (columns of Y at once);
    converges geometrically (spectral radius ≤ 0.6). Returns z (n × columns of Y).
    """
    x = Y.copy()
    for _ in range(300):
        new = Y + A_c @ (x / o_c[:, None])
        err = np.max(np.abs(new - x)) / max(np.max(np.abs(new)), 1e-300)
        x = new
        if err < 1e-13:
            break
    return x / o_c[:, None]


def generate_arrays(
    products: int,
    techniques_per_product: int = 1,
    seed: int = 0,
    capacities: bool = False,
    floors: bool = False,
    progress: bool = False,
) -> GeneratedEconomy:
    """Build a synthetic economy as sparse matrices (see the module docstring for the model).

    Deterministic by ``seed``; the capacity and floor flags do not change the rest of the
    economy (each part draws from its own random stream).
    """
    n = int(products)
    K = int(techniques_per_product)
    if n < 2:
        raise ValueError("products must be at least 2")
    if not 1 <= K <= 26:
        raise ValueError("techniques_per_product must be between 1 and 26")
    say = _Progress(progress)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    r_struct, r_amount, r_res, r_need, r_cap, r_floor, r_out, r_avail = streams
    m = n * K
    tech_product = np.repeat(np.arange(n, dtype=np.int32), K)
    alt = np.tile(np.arange(K), n)  # q: 0 = labour-intensive … K-1 = energy/CO2-intensive
    theta = alt / (K - 1) if K > 1 else np.zeros(m)

    # --- unit prices and outputs ------------------------------------------------------------
    unit_price = np.exp(r_out.normal(0.0, 1.0, n))
    output = np.where(r_out.random(m) < 0.7, 1.0, np.round(np.exp(r_out.normal(0, 0.7, m)), 3))
    output = np.maximum(output, 0.05)

    # --- structure: hubs + heavy-tailed-distance inputs ---------------------------------------
    say("drawing input structure")
    H = min(len(HUBS), max(1, n // 40))
    N = n - H  # non-hub products
    lo, hi = min(10, n - 1), min(30, n - 1)
    d = r_struct.integers(lo, hi + 1, size=m)
    hub_prob = np.array([h[2] for h in HUBS[:H]])
    hub_mask = r_struct.random((m, H)) < hub_prob
    hub_mask[np.arange(m)[tech_product < H], tech_product[tech_product < H]] = False  # no self
    n_hub = hub_mask.sum(axis=1)
    d_nonhub = np.clip(d - n_hub, 0, N - 1).astype(np.int64)
    # distinct non-hub inputs: cumulative sums of positive gaps, each gap at most (N-1)//d so
    # the offsets stay in [1, N-1] and never wrap onto themselves or the product itself.
    E = int(d_nonhub.sum())
    seg = _segment_ids(d_nonhub)
    maxgap = np.maximum((N - 1) // np.maximum(d_nonhub, 1), 1)[seg]
    gaps = 1 + np.floor(np.exp(r_struct.normal(1.2, 2.2, E))).astype(np.int64)
    gaps = np.minimum(gaps, maxgap)
    offsets = _segment_cumsum(gaps, d_nonhub)
    own = np.where(tech_product >= H, tech_product - H, r_struct.integers(0, N, m))
    nonhub_rows = H + (own[seg] + offsets) % N
    hub_j, hub_h = np.nonzero(hub_mask)
    rows = np.concatenate([hub_h.astype(np.int64), nonhub_rows])
    cols = np.concatenate([hub_j.astype(np.int64), seg])
    del seg, gaps, offsets, maxgap, nonhub_rows

    # --- amounts: lognormal value shares normalised to rho_j -----------------------------------
    say(f"amounts for {len(rows):,} input entries")
    weight = np.exp(r_amount.normal(0.0, 1.0, len(rows)))
    hub_boost = np.array([h[3] for h in HUBS[:H]])
    is_hub = np.arange(len(rows)) < len(hub_h)
    weight[is_hub] *= hub_boost[rows[is_hub]]
    # energy/CO2-intensive alternatives lean more on hubs (energy, machinery)
    weight[is_hub] *= 1.0 + 1.5 * theta[cols[is_hub]]
    rho = 0.35 + 0.15 * r_amount.random(m) + 0.1 * theta
    colsum = np.bincount(cols, weights=weight, minlength=m)
    share = weight * (rho / np.where(colsum > 0, colsum, 1.0))[cols]
    amount = share * (output * unit_price[tech_product])[cols] / unit_price[rows]
    del weight, share, is_hub
    A = sp.csc_array(
        (amount, (rows.astype(np.int32), cols.astype(np.int32))), shape=(n, m)
    )
    del rows, cols, amount
    A.sum_duplicates()
    A.sort_indices()
    A.indices = A.indices.astype(np.int32, copy=False)
    A.indptr = A.indptr.astype(np.int64 if A.nnz >= 2**31 else np.int32, copy=False)

    # --- resources ------------------------------------------------------------------------------
    say("resources")
    value_out = output * unit_price[tech_product]  # value of one unit of activity's output
    value_added = (1.0 - rho) * value_out
    labour = value_added * np.exp(r_res.normal(0.0, 0.3, m)) * (1.25 - 0.5 * theta)
    sector = (np.arange(n) * len(SECTORS)) // n
    land_prod = np.isin(sector, list(LAND_SECTORS)) & (np.arange(n) >= H)
    land_prod |= r_res.random(n) < 0.03
    land = np.where(
        land_prod[tech_product],
        value_out * np.exp(r_res.normal(-1.5, 1.0, m)) * (1.4 - 0.6 * theta),
        0.0,
    )
    co2_base = np.exp(r_res.normal(-2.0, 1.3, m))
    co2_base[tech_product == 0] *= 20.0  # the energy sector emits most
    co2 = value_out * co2_base * (0.4 + 2.0 * theta)
    co2[r_res.random(m) < 0.1] = 0.0
    R = sp.csr_array(np.vstack([labour, land, co2]))  # k × m, dense rows are small (3 × m)
    R.eliminate_zeros()
    k = R.shape[0]

    # --- needs ----------------------------------------------------------------------------------
    say("needs")
    has_target = r_need.random(n) < 0.85
    has_target[: min(H, 1)] = True
    target = np.where(has_target, np.exp(r_need.normal(0.0, 1.2, n)) / unit_price, 0.0)
    priority = np.where(r_need.random(n) < 0.1, 2.0, 1.0)
    floor = np.zeros(n)
    if floors:
        fl = has_target & (r_floor.random(n) < 0.5)
        floor = np.where(fl, target * (0.2 + 0.4 * r_floor.random(n)), 0.0)

    # --- reference plan: labour-cheapest techniques, gross activities -------------------------
    say("reference plan (labour-cheapest techniques)")
    choice = _labour_min_choice(A, labour, output, n, K) if K > 1 else np.arange(n)
    A_c = A[:, choice] if K > 1 else A
    o_c = output[choice]
    Z = _gross_activity(sp.csc_array(A_c), o_c, np.column_stack([floor, target - floor]))
    z_min, z_d = Z[:, 0], Z[:, 1]
    Rc = R[:, choice] if K > 1 else R
    U_min = Rc @ z_min
    U_d = Rc @ z_d
    tau = float(0.86 + 0.09 * r_avail.random())
    tau_res = np.array([tau, 1.6, tau * (0.97 + 0.2 * r_avail.random())])
    available = U_min + tau_res[:k] * U_d
    available[available <= 0] = 1.0

    # --- capacities -----------------------------------------------------------------------------
    cap = np.full(m, np.inf)
    if capacities:
        ref = choice[r_cap.random(n) < 0.25]
        frac = 0.96 + 0.04 * r_cap.random(len(ref))
        pr = tech_product[ref]
        cap[ref] = z_min[pr] + tau * frac * z_d[pr]
        if K > 1:
            others = np.setdiff1d(np.arange(m), choice, assume_unique=True)
            others = others[r_cap.random(len(others)) < 0.5]
            pr = tech_product[others]
            gross = (z_min + z_d)[pr] * o_c[pr]
            cap[others] = gross / output[others] * (0.1 + 0.4 * r_cap.random(len(others)))
        cap[(cap <= 0) | ~np.isfinite(cap)] = np.inf
    say("arrays done")
    return GeneratedEconomy(
        n=n,
        K=K,
        seed=seed,
        A=A,
        R=R,
        output=output,
        tech_product=tech_product,
        cap=cap,
        available=available,
        target=target,
        floor=floor,
        priority=priority,
        unit_price=unit_price,
        choice=choice,
        tau=tau,
        product_names=_product_names(n, H),
        product_units=_product_units(n, H),
    )


def _ids(prefix: str, numbers: np.ndarray, width: int, suffix: pa.Array | None = None) -> pa.Array:
    """Arrow string ids ``prefix + zero-padded number (+ suffix)`` built without Python loops."""
    s = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    parts = [pa.scalar(prefix), s] if suffix is None else [pa.scalar(prefix), s, suffix]
    return pc.binary_join_element_wise(*parts, "")


def _product_names(n: int, H: int) -> np.ndarray:
    sector = (np.arange(n) * len(SECTORS)) // n
    names = np.array([s[0] for s in SECTORS], dtype=object)[sector]
    names[:H] = [h[0] for h in HUBS[:H]]
    return names


def _product_units(n: int, H: int) -> np.ndarray:
    sector = (np.arange(n) * len(SECTORS)) // n
    units = np.array([s[1] for s in SECTORS], dtype=object)[sector]
    units[:H] = [h[1] for h in HUBS[:H]]
    return units


def _id_width(n: int) -> int:
    return max(6, len(str(n)))


def tables_from_arrays(g: GeneratedEconomy) -> dict[str, pa.Table]:
    """The bundle tables of ``g`` as Arrow tables (DESIGN.md columns, string ids)."""
    n, K, m = g.n, g.K, g.m
    w = _id_width(n)
    pid = _ids("P", np.arange(1, n + 1), w)
    letters = pa.array([chr(ord("a") + q) for q in range(K)]).take(
        pa.array(np.tile(np.arange(K, dtype=np.int32), n))
    )
    tid = _ids("T", np.repeat(np.arange(1, n + 1), K), w, letters)
    H_names = pa.array(np.asarray(g.product_names, dtype=object).tolist(), pa.string())
    is_hub = np.zeros(n, dtype=bool)
    is_hub[: min(len(HUBS), max(1, n // 40))] = True
    num = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    names = pc.if_else(
        pa.array(is_hub), H_names, pc.binary_join_element_wise(H_names, num, " #")
    )
    products = pa.table(
        {
            "id": pid,
            "name": names,
            "unit": pa.array(np.asarray(g.product_units, dtype=object).tolist(), pa.string()),
        }
    )
    cap = pa.array(g.cap, mask=~np.isfinite(g.cap))
    techniques = pa.table(
        {
            "id": tid,
            "product": pid.take(pa.array(g.tech_product)),
            "output": pa.array(g.output),
            "capacity": cap,
        }
    )
    A = g.A
    col_of = np.repeat(np.arange(m, dtype=np.int32), np.diff(A.indptr))
    inputs = pa.table(
        {
            "technique": tid.take(pa.array(col_of)),
            "product": pid.take(pa.array(A.indices.astype(np.int32))),
            "amount": pa.array(A.data),
        }
    )
    Rt = g.R.T.tocsr()  # m × k: triples ordered by technique, then resource
    rid = pa.array(g.resource_ids)
    res_tech = np.repeat(np.arange(m, dtype=np.int32), np.diff(Rt.indptr))
    resource_use = pa.table(
        {
            "technique": tid.take(pa.array(res_tech)),
            "resource": rid.take(pa.array(Rt.indices.astype(np.int32))),
            "amount": pa.array(Rt.data),
        }
    )
    resources = pa.table(
        {
            "id": rid,
            "name": pa.array([r[1] for r in RESOURCES]),
            "unit": pa.array([r[2] for r in RESOURCES]),
            "available": pa.array(g.available),
        }
    )
    listed = np.nonzero(g.target > 0)[0].astype(np.int32)
    needs = pa.table(
        {
            "product": pid.take(pa.array(listed)),
            "target": pa.array(g.target[listed]),
            "priority": pa.array(g.priority[listed]),
            "floor": pa.array(g.floor[listed]),
        }
    )
    return {
        "products": products,
        "techniques": techniques,
        "inputs": inputs,
        "resources": resources,
        "resource_use": resource_use,
        "needs": needs,
    }


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_tables(
    out: str | Path, meta: dict[str, str], tables: dict[str, pa.Table], format: str = "csv"
) -> Path:
    """Write a bundle folder atomically: fill a temporary folder beside ``out``, then rename.

    An existing ``out`` is replaced only after the new bundle is complete.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if format not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', not {format!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        lines = [f"{key} = {_toml_str(str(val))}" for key, val in meta.items()]
        (tmp / "economy.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, table in tables.items():
            if format == "csv":
                opts = pacsv.WriteOptions(
                    include_header=False, quoting_style="none", batch_size=1 << 16
                )
                with open(tmp / f"{name}.csv", "wb") as fh:
                    fh.write((",".join(table.column_names) + "\n").encode("utf-8"))
                    pacsv.write_csv(table, fh, write_options=opts)
            else:
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def generate(
    out: str | Path | None,
    products: int,
    techniques_per_product: int = 1,
    seed: int = 0,
    capacities: bool = False,
    floors: bool = False,
    format: str = "csv",
    progress: bool = False,
) -> dict[str, pd.DataFrame]:
    """Generate a synthetic economy bundle; write it to ``out`` when given.

    Returns the tables {"products", "techniques", "inputs", "resources", "resource_use",
    "needs"} as pandas DataFrames with exactly the DESIGN.md columns (ids are strings:
    products ``P000001``…, techniques ``T000001a``… with letters a, b, … for the alternatives;
    resources ``labour``, ``land``, ``co2``; ``capacity`` NaN = none). With ``out`` the bundle
    folder (``economy.toml`` plus CSV or Parquet files) is written atomically. 1e6 products take
    well under a minute (Parquet recommended at that size).
    """
    say = _Progress(progress)
    g = generate_arrays(products, techniques_per_product, seed, capacities, floors, progress)
    say("building tables")
    tables = tables_from_arrays(g)
    meta = {
        "name": f"synthetic-{g.n}x{g.K}-seed{seed}",
        "period": "synthetic year",
        "description": (
            f"Synthetic economy from econplan.generate: {g.n} products, {g.K} technique(s) "
            f"per product, seed {seed}, capacities={capacities}, floors={floors}."
        ),
    }
    if out is not None:
        say(f"writing {format} bundle to {out}")
        write_tables(out, meta, tables, format)
    say("converting to pandas")
    frames = {name: t.to_pandas() for name, t in tables.items()}
    say("done")
    return frames
