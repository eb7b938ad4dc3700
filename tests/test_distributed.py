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
