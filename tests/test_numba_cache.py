"""The compiled kernels come from Numba's disk cache in every process after the first.

Kernels that called inlined helpers held as closure variables of a factory function missed
the cache in every new process (each saved a fresh entry) and compiled again: ~1.4 s before
the first threaded sweep and ~2 s before the first fused PDHG step of every plan. The helpers
are now module globals (econplan.sweep_kernels, econplan.plan.pdhg_kernels)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

SCRIPT = """
import numpy as np, scipy.sparse as sp
from econplan import threaded
from econplan.plan import pdhg_step
M = sp.csr_array(sp.random_array((40, 40), density=0.1, random_state=0) * 0.1)
args = (M.indptr[:-1], M.indptr[1:], M.indices.astype(np.int32), M.data, None)
threaded.anderson_solve(*args, np.ones(40), None, 1e-12, 100, 3, None, n_threads=1)
threaded.anderson_solve(*args, np.ones((40, 3)), None, 1e-12, 100, 3, None, n_threads=1)
K = sp.csr_array(sp.random_array((30, 50), density=0.2, random_state=1))
f = pdhg_step.FusedStep(K, n_threads=1)
x, y = np.zeros(50), np.zeros(30)
xn, _ = f.primal(x, np.zeros(50), np.ones(50), np.zeros(50), np.ones(50), 0.1)
kxn, yn, _, _ = f.dual(xn, y, np.zeros(30), np.ones(30), 0.1)
f.transposed(yn, xn, kxn, np.ones(50), np.zeros(50), np.ones(50), 0.1,
             (x.copy(), y.copy(), y.copy(), x.copy()), 0.5)
"""


def _run(cache_dir: str) -> str:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, NUMBA_DEBUG_CACHE="1")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return out.stdout + out.stderr


def test_second_process_loads_every_kernel_from_the_cache(tmp_path):
    first = _run(str(tmp_path))
    assert "data saved" in first  # the first process compiled and stored the kernels
    second = _run(str(tmp_path))
    saved = [line for line in second.splitlines() if "data saved" in line]
    assert not saved, f"kernels compiled again in a second process: {saved}"
    for kernel in ("pass_a-", "pass_a_block", "pass_b", "primal", "dual", "transposed"):
        assert any("data loaded" in line and kernel in line for line in second.splitlines()), \
            kernel
