"""Differential fuzzer: econplan's backends against each other on economies unlike the generator's.

The generator (``econplan generate``) makes one family of economies: two techniques a product,
hubs, capacities near a reference plan. Outside tools send others. This script draws economies
with 1-4 techniques a product, 0-11 inputs a technique, 1-3 resources, a tenth to 60 % of the
techniques capped and floors on some needs, plans each with every backend named, and prints one
JSON line per economy: status, t*, certified gap and seconds per backend, and ``rel``, the
relative difference of t* between the first two. A last line sums up disagreements (status, or
t* beyond 1e-6) and the economies where the first backend took over three times the second's
time (plus 5 s).

    python bench/fuzz_odd.py --seeds 100:160                       # fast vs highs, 150-900 products
    python bench/fuzz_odd.py --seeds 0:5 --products 1800:3200 --solvers fast

Session 20 ran ``--seeds 100:160`` (the same t* and status in all 60; DESIGN.md, "Restricted-LP
tries on economies that are not the generator's").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from econplan import Economy  # noqa: E402


def odd_economy(seed: int, n: int) -> Economy:
    """An economy of ``n`` products drawn from ``seed`` (module docstring for its shape)."""
    rng = np.random.default_rng(seed)
    k_res = int(rng.integers(1, 4))
    prods = [f"q{i:05d}" for i in range(n)]
    techs, inputs, use = [], [], []
    cap_share = float(rng.choice([0.1, 0.3, 0.6]))
    for i in range(n):
        for a in range(int(rng.integers(1, 5))):
            tid = f"{prods[i]}-{a}"
            out = float(rng.choice([1.0, 0.5, 3.0]))
            cap = float(rng.uniform(1, 50)) if rng.random() < cap_share else np.nan
            techs.append({"id": tid, "product": prods[i], "output": out, "capacity": cap})
            share = rng.uniform(0.1, 0.8)  # inputs per unit of output below 0.8: productive
            picks = rng.choice(n, size=int(rng.integers(0, 12)), replace=False)
            weights = rng.dirichlet(np.ones(len(picks))) if len(picks) else []
            for h, w in zip(picks, weights, strict=False):
                if w * share * out > 1e-6:
                    inputs.append({"technique": tid, "product": prods[h],
                                   "amount": w * share * out})
            for r in range(k_res):
                if r == 0 or rng.random() < 0.5:
                    use.append({"technique": tid, "resource": f"r{r}",
                                "amount": float(rng.uniform(0.1, 5))})
    needs = []
    for i in range(n):
        if rng.random() < 0.7:
            target = float(rng.uniform(0.5, 20))
            floor = target * float(rng.choice([0.0, 0.0, 0.02, 0.05]))
            needs.append({"product": prods[i], "target": target,
                          "priority": float(rng.uniform(0.5, 2)), "floor": floor})
    tables = {
        "products": pd.DataFrame({"id": prods, "name": prods, "unit": "u"}),
        "techniques": pd.DataFrame(techs),
        "inputs": pd.DataFrame(inputs, columns=["technique", "product", "amount"]),
        "resources": pd.DataFrame({"id": [f"r{r}" for r in range(k_res)], "name": "r",
                                   "unit": "h",
                                   "available": rng.uniform(1.0, 4.0, k_res) * n * 40}),
        "resource_use": pd.DataFrame(use),
        "needs": pd.DataFrame(needs),
    }
    return Economy.from_tables({"name": f"odd {seed}", "period": "p"}, tables)


def _span(text: str) -> tuple[int, int]:
    lo, hi = text.split(":")
    return int(lo), int(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="100:160", help="LO:HI, one economy per seed")
    ap.add_argument("--products", default="150:900", help="LO:HI products, drawn per seed")
    ap.add_argument("--solvers", default="fast,highs", help="backends, comma-separated")
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per plan")
    args = ap.parse_args()
    solvers = args.solvers.split(",")
    lo, hi = _span(args.products)
    disagree, slow = [], []
    for seed in range(*_span(args.seeds)):
        n = int(np.random.default_rng(1000 + seed).integers(lo, hi))
        economy = odd_economy(seed, n)
        row: dict = {"seed": seed, "products": n, "techniques": economy.n_techniques}
        for solver in solvers:
            t0 = time.perf_counter()
            plan = economy.plan(solver=solver, time_limit=args.time_limit)
            s = plan.summary
            row[solver] = {"status": plan.status, "t": s.get("fulfilment"),
                           "gap": s.get("duality_gap"),
                           "seconds": round(time.perf_counter() - t0, 1)}
        if len(solvers) > 1:
            a, b = (row[x] for x in solvers[:2])
            if a["t"] is not None and b["t"] is not None:
                row["rel"] = abs(a["t"] - b["t"]) / max(abs(b["t"]), 1e-12)
            if a["status"] != b["status"] or row.get("rel", 0.0) > 1e-6:
                disagree.append(seed)
            if a["seconds"] > 3 * b["seconds"] + 5:
                slow.append(seed)
        print(json.dumps(row), flush=True)
    print(json.dumps({"disagree": disagree, "slow": slow}))


if __name__ == "__main__":
    main()
