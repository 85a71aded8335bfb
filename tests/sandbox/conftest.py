"""Fixtures for the sandbox's tests: real sandboxes on 127.0.0.1 port 0 and real boto3 clients.

Sandboxes run in a thread (``SandboxThread``) so that synchronous boto3 calls can reach them.
They run on a clock the test can move forward (``MovableClock``): instead of waiting for a
metric period to end and its datapoints to be published, a test advances the clock and steps
the simulation. Signatures stay valid because the clock moves by seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from sandbox.config import INSTANCE_PROFILES, SandboxConfig, Timings
from sandbox.model import IrisModel
from sandbox.server import SandboxThread

# One-second periods so that wall-clock tests stay short; the fast preset is 10 s.
TEST_TIMINGS = Timings(period_s=1, publication_delay_s=0.5, provisioning_delay_s=1.0,
                       deprovisioning_delay_s=0.5, default_cooldown_s=2.0,
                       idle_instance_release_s=2.0)
SMALL = INSTANCE_PROFILES["small"]  # 1 worker, 20 ms: about 50 RPS
RESOURCE_ID = "endpoint/loadwatch-sandbox/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)


class MovableClock:
    """Wall-clock time plus an offset that tests can only increase."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@pytest.fixture(scope="session")
def iris_model() -> IrisModel:
    """Trained once per test session (importing scikit-learn takes a second or two)."""
    return IrisModel()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def start_sandbox(iris_model: IrisModel, clock: MovableClock
                  ) -> Iterator[Callable[..., SandboxThread]]:
    """Start sandboxes with ``SandboxConfig`` changes; all are stopped after the test."""
    started: list[SandboxThread] = []

    def start(**changes: Any) -> SandboxThread:
        config = SandboxConfig(timings=TEST_TIMINGS, seed=7).replace(**changes)
        handle = SandboxThread(config, model=iris_model, wall=clock)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., SandboxThread]) -> SandboxThread:
    return start_sandbox()


def client(handle: Any, service: str, session: Any = None, **overrides: Any) -> Any:
    """A boto3 client for ``service`` pointed at the sandbox, with retries off."""
    options: dict[str, Any] = {
        "endpoint_url": handle.endpoint_url,
        "region_name": handle.region,
        "aws_access_key_id": handle.credentials.access_key_id,
        "aws_secret_access_key": handle.credentials.secret_access_key,
        "config": NO_RETRIES,
    }
    options.update(overrides)
    if session is not None:
        return session.create_client(service, **options)
    return boto3.client(service, **options)


def step(handle: SandboxThread, clock: MovableClock, seconds: float = 0.0) -> None:
    """Move the clock forward and let the simulation catch up, on the sandbox's loop."""
    clock.advance(seconds)
    handle.call(lambda: handle.server.simulation.step(clock()))


def align(clock: MovableClock) -> None:
    """Move the clock just past the next whole second, so a short burst stays in one period."""
    now = clock()
    clock.advance(math.ceil(now) - now + 0.01)


def cloudwatch_session(tmp_path: Path, protocol: str) -> botocore.session.Session:
    """A botocore session whose CloudWatch model speaks only ``protocol``.

    botocore picks the first protocol it supports from the model's list; this version prefers
    JSON 1.0 over CBOR, so a copy of the model with one protocol, put first on the loader's
    search path, is how a test gets a real client of either kind.
    """
    session = botocore.session.Session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocol"] = protocol
    model["metadata"]["protocols"] = [protocol]
    folder = tmp_path / f"models-{protocol}" / "cloudwatch" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    loader.search_paths.insert(0, str(tmp_path / f"models-{protocol}"))
    return session


def endpoint_dimensions(handle: Any) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": handle.endpoint_name},
            {"Name": "VariantName", "Value": handle.variant}]


ALL_TIME = 60 * 2**26  # one period (a multiple of 60, as CloudWatch requires) from the
# epoch to 2225: every datapoint in a single bucket


def metric_value(cloudwatch: Any, handle: Any, name: str, stat: str = "Sum",
                 namespace: str = "AWS/SageMaker") -> float | None:
    """One statistic of a metric over everything published so far (None: no datapoints)."""
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name,
                       "Dimensions": endpoint_dimensions(handle)},
            "Period": ALL_TIME, "Stat": stat}}],
        StartTime=0, EndTime=time.time() + 3600)
    values = response["MetricDataResults"][0]["Values"]
    assert len(values) <= 1
    return values[0] if values else None


class SignedInvoker:
    """Signs InvokeEndpoint requests the way botocore does, for a raw aiohttp load loop."""

    def __init__(self, handle: Any, body: bytes = b"5,3.5,1.3,0.3") -> None:
        self.url = f"{handle.endpoint_url}/endpoints/{handle.endpoint_name}/invocations"
        self.body = body
        self._credentials = BotoCredentials(handle.credentials.access_key_id,
                                            handle.credentials.secret_access_key)
        self._region = handle.region

    def headers(self) -> dict[str, str]:
        request = AWSRequest(method="POST", url=self.url, data=self.body,
                             headers={"Content-Type": "text/csv"})
        SigV4Auth(self._credentials, "sagemaker", self._region).add_auth(request)
        return dict(request.headers.items())


async def open_loop(invoker: SignedInvoker, rate: float, seconds: float
                    ) -> list[tuple[float, int, float]]:
    """Send at ``rate`` per second for ``seconds`` whatever the answers: (sent, status, latency).

    Latency runs from the intended send time, so queueing in the client counts too. The
    request count is bounded (rate x seconds) and every request has a 30 s timeout.
    """
    timeout = aiohttp.ClientTimeout(total=30)
    results: list[tuple[float, int, float]] = []
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=500)) as session:
        async def one(intended: float) -> None:
            async with session.post(invoker.url, data=invoker.body,
                                    headers=invoker.headers()) as response:
                await response.read()
                results.append((intended - start, response.status,
                                time.perf_counter() - intended))

        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            intended = start + i / rate
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(intended)))
        await asyncio.gather(*tasks)
    return sorted(results)
