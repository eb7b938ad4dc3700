"""Values on a 2-worker Dask LocalCluster equal the one-process kernel."""

from __future__ import annotations

import numpy as np
import pytest

from econplan.generate import generate_arrays
from econplan.kernels import solve_values

distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    c = distributed.Client(cluster)
    c.wait_for_workers(2, timeout=60)  # in-process workers register asynchronously
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize("n,K,parts", [(600, 1, 3), (500, 3, 4)])
def test_distributed_values_equal_one_process(client, tmp_path, n, K, parts):
    from econplan.distributed import distributed_values, write_partitions

    g = generate_arrays(n, K, seed=9)
    write_partitions(g.A, g.output, g.tech_product, g.R, tmp_path, parts, g.resource_ids)
    assert len(list(tmp_path.glob("block-*-inputs.parquet"))) == parts
    one = solve_values(g.A, g.output, g.tech_product, g.R, engine="scipy")
    dist = distributed_values(client, tmp_path)
    np.testing.assert_array_equal(dist.choice, one.choice)
    np.testing.assert_allclose(dist.values, one.values, rtol=1e-9)
    assert dist.residual <= 1e-10
    # the work really ran on both workers
    assert len(client.scheduler_info()["workers"]) == 2


def test_distributed_values_with_products_nothing_can_make(client, tmp_path):
    """Two products nothing can make: ``a`` has no technique; ``b``'s only technique needs
    ``a``. A technique of product 7 needs ``a``, one of product 11 needs ``b``: those two cannot
    run, so products 7 and 11 use their other technique. Values: NaN for ``a`` and ``b``
    (technique −1), and elsewhere those of the economy without them, solved in one process."""
    import scipy.sparse as sp

    from econplan.distributed import distributed_values, write_partitions

    g = generate_arrays(400, 2, seed=9)
    n, m = g.A.shape
    a, b = n, n + 1
    j7, j11 = int(g.choice[7]), int(g.choice[11])  # the labour-cheapest ones
    A = sp.lil_array((n + 2, m + 1))
    A[:n, :m] = g.A
    A[a, j7] = 0.05
    A[b, j11] = 0.02
    A[a, m] = 0.3  # b's only technique
    A = sp.csc_array(A)
    output = np.append(g.output, 1.0)
    tech_product = np.append(g.tech_product, b)
    R = sp.hstack([g.R, sp.csr_array(np.ones((g.R.shape[0], 1)))]).tocsr()
    write_partitions(A, output, tech_product, R, tmp_path, 3, g.resource_ids)
    dist = distributed_values(client, tmp_path)
    assert np.isnan(dist.values[[a, b]]).all() and (dist.choice[[a, b]] == -1).all()
    assert dist.choice[7] != j7 and dist.choice[11] != j11
    keep = np.setdiff1d(np.arange(m), [j7, j11])
    one = solve_values(g.A[:, keep], g.output[keep], g.tech_product[keep], g.R[:, keep],
                       engine="scipy")
    np.testing.assert_array_equal(dist.choice[:n], keep[one.choice])
    np.testing.assert_allclose(dist.values[:n], one.values, rtol=1e-9)
    assert dist.residual <= 1e-10


# -- the planners on the "dask" SpMV engine --------------------------------------------------

@pytest.mark.parametrize("n,K,caps", [(300, 2, False), (300, 1, True)])
def test_fast_planner_on_dask_equals_one_process(client, n, K, caps):
    """The structured planner with every matrix product on the 2 workers gives the one-process
    plan: same techniques, same t*, same activities and duals, and a certificate that holds."""
    from econplan.plan.base import SolverOptions, Status
    from econplan.plan.certificate import fulfilment_certificate
    from econplan.plan.fast import FastSolver

    pb = generate_arrays(n, K, seed=3, capacities=caps, floors=caps).problem()
    one = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy"}))
    with client.as_current():
        dist = FastSolver().solve(pb, SolverOptions(extra={"engine": "dask"}))
    assert one.status == dist.status == Status.OPTIMAL
    assert "dask" in dist.solver_version and "fallback" not in dist.solver_version
    assert dist.t == pytest.approx(one.t, rel=1e-12)
    np.testing.assert_allclose(dist.z, one.z, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dist.p, one.p, rtol=1e-10, atol=1e-14)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, dist.z, dist.p,
                                  dist.u, dist.v)
    assert cert.holds(1e-6)
    # independent check of t* (HiGHS through SciPy, the same helper as the other planners')
    from test_fast import reference_t

    assert dist.t == pytest.approx(reference_t(pb), rel=1e-7)


def test_row_blocks_live_on_both_workers(client):
    import scipy.sparse as sp

    from econplan.distributed import DaskRowBlocks

    M = sp.random_array((400, 300), density=0.05, random_state=1, format="csr")
    x = np.random.default_rng(2).standard_normal(300)
    rhs = np.random.default_rng(3).standard_normal(400)
    rb = DaskRowBlocks(M, client=client)
    assert len(rb.bounds) == 2
    holders = {w for f in rb.blocks for w in client.who_has([f])[f.key]}
    assert len(holders) == 2
    np.testing.assert_allclose(rb.axpy(rhs, x), rhs + M @ x, rtol=1e-14, atol=1e-14)
    X = np.random.default_rng(4).standard_normal((300, 3))
    np.testing.assert_allclose(rb.axpy(None, X), M @ X, rtol=1e-14, atol=1e-14)


def test_pdhg_iterates_on_dask_equal_scipy(client):
    """PDHG's products on the workers: the same iterates as SciPy's (a fixed number of
    iterations; a full first-order solve on Dask is slow at this size, see README)."""
    import scipy.sparse as sp

    from econplan.plan.pdhg import solve_lp

    pb = generate_arrays(60, 2, seed=5, capacities=True).problem()
    d = pb.y - pb.ymin
    K = sp.vstack([sp.hstack([pb.M, sp.csc_array(-d.reshape(-1, 1))]),
                   sp.hstack([-sp.csr_array(pb.R), sp.csc_array((pb.k, 1))])], format="csr")
    q = np.concatenate([pb.ymin, -pb.b])
    c = np.zeros(pb.m + 1)
    c[-1] = -1.0
    lb = np.zeros(pb.m + 1)
    ub = np.concatenate([pb.cap, [np.inf]])
    a = solve_lp(K, c, q, lb, ub, max_iterations=192, engine="scipy")
    with client.as_current():
        b = solve_lp(K, c, q, lb, ub, max_iterations=192, engine="dask")
    assert a.iterations == b.iterations == 192
    assert b.engine == "dask"
    np.testing.assert_allclose(b.x, a.x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.y, a.y, rtol=1e-9, atol=1e-12)


def test_cli_plan_on_a_dask_scheduler(client, generated, tmp_path):
    """``econplan plan --dask ADDRESS`` writes the same plan as the one-process run."""
    from typer.testing import CliRunner

    from econplan.cli import app

    bundle = generated(200, 2, seed=2)
    runner = CliRunner()
    local = runner.invoke(app, ["plan", str(bundle), "--out", str(tmp_path / "one"),
                                "--solver", "fast", "--no-report"])
    assert local.exit_code == 0, local.output
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(tmp_path / "dask"),
                            "--dask", client.scheduler.address, "--no-report"])
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert "(dask)" in summary["solver_version"], summary["solver_version"]
    for name in ("activities.csv", "products.csv", "resources.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    bad = runner.invoke(app, ["plan", str(bundle), "--out", str(tmp_path / "x"),
                              "--dask", client.scheduler.address, "--solver", "highs"])
    assert bad.exit_code == 2 and not (tmp_path / "x").exists()
