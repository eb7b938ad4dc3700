"""One contestant of :func:`econplan.plan.portfolio.race`, run as
``python -m econplan.plan.contestant NAME JOB OUT``: read ``(problem, options)`` from the
pickle JOB, solve with backend NAME, write the SolverResult to OUT (a temporary file renamed
into place, so the parent never reads half a result)."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from .base import SolverResult, Status


def main(name: str, job: Path, out: Path) -> None:
    """Child process: read (problem, options) from ``job``, solve with backend ``name``, write
    the SolverResult to ``out`` (via a temporary file renamed into place)."""
    try:
        from ..blas import limit_process
        from . import SOLVERS

        limit_process()

        problem, options = pickle.loads(job.read_bytes())
        from .highs import highs_threads

        highs_threads(options.threads)  # every HiGHS run in this process: the same count
        res = SOLVERS[name].solve(problem, options)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised there
        res = SolverResult(Status.ERROR, solver=name, message=f"{type(exc).__name__}: {exc}")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
