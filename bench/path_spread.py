"""How much the first-order route's time depends on its path: the 1e4 x 2 plan with capacities
and floors (bench case plan_1e4x2_caps) on several seeds, with one BLAS thread (econplan's
default) or with OpenBLAS's own threads.

Usage (from the repository root, on an otherwise idle machine)::

    python bench/path_spread.py --seeds 0 1 2            # one BLAS thread
    ECONPLAN_BLAS_THREADS=0 python bench/path_spread.py --seeds 0 1 2   # OpenBLAS's threads

Each seed runs in a fresh process; prints seconds, status, t* and PDHG iterations. Session 13
(idle 2-core AMD EPYC): one thread 40.6 / 69.5 / 26.0 s, two threads 26.9 / 18.8 / 21.8 s on
seeds 0 / 1 / 2, the same t* each time; the cost per PDHG iteration was the same either way
(2.4 ms), the iterations to the first check and the restricted LPs that followed were not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(seed: int, n: int) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from econplan.generate import generate_arrays
    from econplan.plan.base import SolverOptions
    from econplan.plan.fast import FastSolver

    pb = generate_arrays(n, 2, seed=seed, capacities=True, floors=True).problem()
    t = time.perf_counter()
    r = FastSolver().solve(pb, SolverOptions(time_limit=600))
    return {"seed": seed, "seconds": round(time.perf_counter() - t, 1),
            "status": r.status.value, "t": r.t, "iterations": r.iterations}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--products", type=int, default=10_000)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.products)))
        return
    for seed in args.seeds:
        p = subprocess.run([sys.executable, __file__, "--one", str(seed), "--products",
                            str(args.products)], capture_output=True, text=True, cwd=ROOT)
        print(p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-500:],
              flush=True)


if __name__ == "__main__":
    main()
