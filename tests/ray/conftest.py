"""A local Ray cluster for the Ray pool's tests: a head with no CPU (no worker lands there)
and two worker nodes with one CPU and a resource naming each. One cluster per module: it takes
10–25 s to start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:
    import ray
except ImportError:  # the tests themselves skip with the reason (test_ray_pool.py)
    ray = None


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[object]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0,
        # A removed node is declared dead within about a second, not the default 15 s.
        "_system_config": {"health_check_period_ms": 200, "health_check_failure_threshold": 3,
                           "health_check_initial_delay_ms": 0},
    })
    cluster.nodes_by_name = {  # type: ignore[attr-defined]
        name: cluster.add_node(num_cpus=1, resources={name: 1})
        for name in ("node_a", "node_b")}
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
