"""Instances that saturate: below capacity all is well, above it latency grows and 5XX appear.

A small instance profile (1 worker, 20 ms: about 50 RPS) keeps the load tiny; an open-loop
aiohttp client sends a bounded number of signed requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sandbox.config import SandboxConfig
from sandbox.endpoint import IN_SERVICE, OK, PROVISIONING, Endpoint
from sandbox.model import IrisModel
from sandbox.server import SandboxThread
from sandbox.simulation import Simulation
from tests.sandbox.conftest import (
    SMALL,
    TEST_TIMINGS,
    MovableClock,
    SignedInvoker,
    client,
    metric_value,
    open_loop,
    step,
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


async def test_below_capacity_no_errors_and_no_queueing(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    sandbox = start_sandbox(profile=SMALL)
    results = await open_loop(SignedInvoker(sandbox), rate=20, seconds=2.0)
    assert {status for _, status, _ in results} == {200}
    latencies = [latency for _, _, latency in results]
    # 20 ms of service; the rest is this noisy 2-core machine.
    assert percentile(latencies, 0.5) < 0.060


async def test_above_capacity_latency_grows_and_the_queue_overflows(
        start_sandbox: Callable[..., SandboxThread], clock: MovableClock) -> None:
    sandbox = start_sandbox(profile=SMALL)
    results = await open_loop(SignedInvoker(sandbox), rate=150, seconds=2.0)  # 3x capacity
    statuses = [status for _, status, _ in results]
    assert statuses.count(503) > len(results) / 3
    assert set(statuses) <= {200, 503}
    served = [latency for _, status, latency in results if status == 200]
    # A full queue of 10 ahead at 20 ms each: about 200 ms, ten times the service time.
    assert percentile(served, 0.9) > 0.150
    step(sandbox, clock, 3.0)
    cloudwatch = client(sandbox, "cloudwatch")
    assert metric_value(cloudwatch, sandbox, "Invocations") == len(results)
    assert metric_value(cloudwatch, sandbox, "Invocation5XXErrors") == statuses.count(503)
    assert metric_value(cloudwatch, sandbox, "ModelLatency", "Maximum") > 150_000


async def test_the_container_time_limit_is_a_model_error(
        start_sandbox: Callable[..., SandboxThread], clock: MovableClock) -> None:
    profile = SMALL.replace(queue_bound=1000, container_timeout_s=0.3)
    sandbox = start_sandbox(profile=profile)
    results = await open_loop(SignedInvoker(sandbox), rate=100, seconds=1.0)
    statuses = [status for _, status, _ in results]
    assert statuses.count(424) > 10
    assert set(statuses) <= {200, 424}
    timed_out = [latency for _, status, latency in results if status == 424]
    assert min(timed_out) >= 0.29
    step(sandbox, clock, 3.0)
    cloudwatch = client(sandbox, "cloudwatch")
    assert metric_value(cloudwatch, sandbox, "Invocation5XXErrors") == statuses.count(424)
    assert metric_value(cloudwatch, sandbox, "InvocationModelErrors") == statuses.count(424)
    assert metric_value(cloudwatch, sandbox, "Invocation4XXErrors") == 0


# --- routing and provisioning on the endpoint itself -------------------------------------


def endpoint_of(model: IrisModel, **changes: object) -> Endpoint:
    config = SandboxConfig(timings=TEST_TIMINGS, profile=SMALL, seed=1).replace(**changes)
    return Simulation(config, model, now=0.0).endpoint


async def invoke_together(endpoint: Endpoint, count: int) -> list[str]:
    served = await asyncio.gather(*[
        endpoint.invoke(b"5,3.5,1.3,0.3", "text/csv", 0.0) for _ in range(count)])
    return [s.kind for s in served]


async def test_least_outstanding_spreads_a_burst(iris_model: IrisModel) -> None:
    endpoint = endpoint_of(iris_model, initial_instances=2, routing="least-outstanding")
    assert await invoke_together(endpoint, 6) == [OK] * 6
    assert [i.served for i in endpoint.instances] == [3, 3]


async def test_random_routing_uses_every_instance(iris_model: IrisModel) -> None:
    endpoint = endpoint_of(iris_model, initial_instances=3,
                           profile=SMALL.replace(queue_bound=100))
    assert await invoke_together(endpoint, 30) == [OK] * 30
    assert all(i.served > 0 for i in endpoint.instances)


async def test_new_instances_serve_only_after_provisioning(iris_model: IrisModel) -> None:
    endpoint = endpoint_of(iris_model)
    endpoint.set_desired(2, now=100.0)
    assert (endpoint.status, endpoint.desired, endpoint.current) == ("Updating", 2, 1)
    assert [i.state for i in endpoint.instances] == [IN_SERVICE, PROVISIONING]
    await invoke_together(endpoint, 4)
    assert [i.served for i in endpoint.instances] == [4, 0]
    assert not endpoint.advance(100.9)
    assert endpoint.advance(101.0)  # the update finished
    assert (endpoint.status, endpoint.current) == ("InService", 2)
    endpoint.set_desired(1, now=200.0)
    assert (endpoint.status, endpoint.current) == ("Updating", 2)  # draining still serves
    assert endpoint.advance(200.5)
    assert endpoint.current == 1
    assert [i.number for i in endpoint.instances] == [1], "the newest instance goes first"
