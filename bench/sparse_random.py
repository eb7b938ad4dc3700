"""Random sparse economies (not econplan's generator): which exact backend is faster?

    .venv/bin/python bench/sparse_random.py [--seeds 0 1 4 6 9 10] [--solvers highs fast portfolio]

Each economy has 500-3,000 products, 1-4 techniques per product, 10-100 % of them capped,
at most 8 inputs per technique, 1-3 resources (``econ`` below; seed = economy). Every solver
runs on it in turn, in this process; t* is checked against SciPy's HiGHS interior point on the
LP written from the tables (tests/test_plan.py's ``reference_t``). Measured 2026-12-03 on the
2-core AMD EPYC machine (seconds; the economies of seeds 0-11):

| seed | products | techniques | highs | fast | portfolio (winner) | HiGHS IPM (reference) |
|---|---|---|---|---|---|---|
| 0 | 2626 | 5283 | 47.9 | 3.2 | 4.5 (fast) | 2.1 |
| 1 | 1682 | 4213 | 5.1 | 37.9 | 5.9-10.2 (highs) | 0.5 |
| 4 | 2316 | 5754 | 30.2 | 38.7 | 30.5 (highs) | 1.4 |
| 6 | 1612 | 3255 | 8.3 | 38.8 | 9.6 (highs) | - |
| 9 | 1553 | 3872 | 12.1 | 41.7 | 13.6 (highs) | - |
| 10 | 2441 | 3681 | 458.7 | 30.7-34.2 | 61.6-65.4 (fast) | 2.2 |

(HiGHS's interior point is fast on these sparse economies but ~50 s at 2,000 x 2 on the
generated ones and > 15 min at 1e4 x 2, so it is a reference here, not a backend choice.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from econplan import Economy  # noqa: E402
from test_plan import reference_t  # noqa: E402


def econ(seed, nlo, nhi):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(nlo, nhi))
    k_res = int(rng.integers(1, 4))
    maxK = int(rng.integers(1, 5))
    capp = float(rng.choice([0.1, 0.3, 0.7, 1.0]))
    prods = [f"q{i:03d}" for i in range(n)]
    techs, inputs, use = [], [], []
    for i in range(n):
        for a in range(int(rng.integers(1, maxK + 1))):
            tid = f"{prods[i]}-{a}"
            out = float(rng.choice([1.0, 0.5, 3.0]))
            cap = float(rng.uniform(1, 50)) if rng.random() < capp else np.nan
            techs.append({"id": tid, "product": prods[i], "output": out, "capacity": cap})
            share = rng.uniform(0.1, 0.8)
            picks = rng.choice(n, size=int(rng.integers(0, min(n, 8) + 1)), replace=False)
            w = rng.dirichlet(np.ones(len(picks))) if len(picks) else []
            for h, wh in zip(picks, w, strict=False):
                if wh * share * out > 1e-6:
                    inputs.append(
                        {"technique": tid, "product": prods[h], "amount": wh * share * out}
                    )
            for r in range(k_res):
                if r == 0 or rng.random() < 0.5:
                    use.append(
                        {
                            "technique": tid,
                            "resource": f"r{r}",
                            "amount": float(rng.uniform(0.1, 5)),
                        }
                    )
    needs = []
    for i in range(n):
        if rng.random() < 0.7:
            target = float(rng.uniform(0.5, 20))
            floor = target * float(rng.choice([0.0, 0.0, 0.0, 0.02]))
            needs.append(
                {
                    "product": prods[i],
                    "target": target,
                    "priority": float(rng.uniform(0.5, 2)),
                    "floor": floor,
                }
            )
    if not needs:
        needs.append({"product": prods[0], "target": 1.0, "priority": 1.0, "floor": 0.0})
    avail = rng.uniform(50, 500, k_res) * n / 10
    tables = {
        "products": pd.DataFrame({"id": prods, "name": prods, "unit": "u"}),
        "techniques": pd.DataFrame(techs),
        "inputs": pd.DataFrame(inputs, columns=["technique", "product", "amount"]),
        "resources": pd.DataFrame(
            {"id": [f"r{r}" for r in range(k_res)], "name": "r", "unit": "h", "available": avail}
        ),
        "resource_use": pd.DataFrame(use),
        "needs": pd.DataFrame(needs),
    }
    return Economy.from_tables({"name": f"random {seed}", "period": "p"}, tables)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 4, 6, 9, 10])
    ap.add_argument("--solvers", nargs="*", default=["highs", "fast", "portfolio"])
    ap.add_argument("--time-limit", type=float, default=900.0)
    args = ap.parse_args()
    print("| seed | products | techniques | solver | status | seconds | t | t (IPM) | gap |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        e = econ(seed, 500, 3000)
        t0 = time.perf_counter()
        t_ref = reference_t(e)
        ref_s = time.perf_counter() - t0
        for solver in args.solvers:
            t0 = time.perf_counter()
            plan = e.plan(solver=solver, time_limit=args.time_limit)
            sec = time.perf_counter() - t0
            s = plan.summary
            print(
                f"| {seed} | {e.n_products} | {e.n_techniques} | {s['solver']} ({solver}) | "
                f"{plan.status} | {sec:.1f} | {plan.fulfilment:.10g} | {t_ref:.10g} "
                f"({ref_s:.1f} s) | {s.get('duality_gap', float('nan')):.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
