"""econplan computes with one BLAS thread (econplan.blas) and gives the setting back."""

from __future__ import annotations

import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from econplan import blas
from econplan.generate import generate_arrays
from econplan.plan import SOLVERS, SolverOptions


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def two_threads():
    if not _blas_threads():
        pytest.skip("no BLAS library seen by threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        yield


def test_limited_sets_one_thread_and_restores(two_threads, monkeypatch):
    monkeypatch.delenv("ECONPLAN_BLAS_THREADS", raising=False)
    with blas.limited():
        assert _blas_threads() == {1}
    assert _blas_threads() == {2}
    monkeypatch.setenv("ECONPLAN_BLAS_THREADS", "0")  # 0: leave BLAS alone
    with blas.limited():
        assert _blas_threads() == {2}
    monkeypatch.setenv("ECONPLAN_BLAS_THREADS", "3")
    assert blas.blas_threads() == 3
    monkeypatch.setenv("ECONPLAN_BLAS_THREADS", "many")
    assert blas.blas_threads() == 1


@pytest.mark.parametrize("name", ["highs", "fast", "pdhg"])
def test_solvers_compute_with_one_blas_thread(two_threads, monkeypatch, name):
    monkeypatch.delenv("ECONPLAN_BLAS_THREADS", raising=False)
    import econplan.plan.unmade as unmade
    from econplan.plan.highs import HighsSolver

    seen: list[set[int]] = []
    owner, attr = (HighsSolver, "_configure") if name == "highs" else (unmade, "solve_made")
    real = getattr(owner, attr)

    def spy(*a, **k):  # the backend's own work, inside its solve()
        seen.append(_blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(owner, attr, spy)
    pb = generate_arrays(60, 2, seed=1, capacities=True).problem()
    res = SOLVERS[name].solve(pb, SolverOptions())
    assert res.status.value == "optimal"
    assert seen and all(s == {1} for s in seen)
    assert _blas_threads() == {2}  # given back


def test_the_command_limits_the_process():
    code = ("import sys; sys.argv=['econplan','--help']\n"
            "from threadpoolctl import threadpool_info\n"
            "import econplan.cli as c\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print({i['num_threads'] for i in threadpool_info() if i['user_api']=='blas'})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"OPENBLAS_NUM_THREADS": "2", "PATH": ""}, timeout=120)
    assert out.stdout.strip().splitlines()[-1] in ("{1}", "set()"), out.stdout + out.stderr
