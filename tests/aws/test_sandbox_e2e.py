"""End to end against the sandbox: the same client code as for AWS, real processes, no mocks.

The sandbox runs as a child process with its clock compressed (1 s metric periods, instances
that serve after 1 s) so a scale-out happens within seconds. Tests wait for what the run
prints (a scaling activity, an instance count), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from metrics.endpoint import read_scaling_config
from metrics.recording import read_recording
from metrics.records import Datapoint, EndpointState, Event, ScalingActivity
from sandbox.config import SandboxConfig, Timings, profile_named
from sandbox.process import SandboxProcess
from tests.aws.conftest import sagemaker_profile

ROOT = Path(__file__).resolve().parents[2]
QUICK = Timings(period_s=1, publication_delay_s=0.5, provisioning_delay_s=1,
                deprovisioning_delay_s=1, default_cooldown_s=1)


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(SandboxConfig(timings=QUICK, profile=profile_named("small"))) as process:
        yield process


def cli_env(sandbox: SandboxProcess | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if sandbox is not None:
        env.update(sandbox.env())
    env["PYTHONPATH"] = str(ROOT)
    return env


def autoscaling(sandbox: SandboxProcess):
    return boto3.client("application-autoscaling", region_name=sandbox.region,
                        endpoint_url=sandbox.endpoint_url,
                        aws_access_key_id=sandbox.credentials.access_key_id,
                        aws_secret_access_key=sandbox.credentials.secret_access_key)


def users_scaling(sandbox: SandboxProcess) -> None:
    """The endpoint's owner had a suspended policy of their own before loadwatch ran."""
    aas = autoscaling(sandbox)
    resource = f"endpoint/{sandbox.endpoint_name}/variant/{sandbox.variant}"
    dimension = "sagemaker:variant:DesiredInstanceCount"
    aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=dimension,
        MinCapacity=1, MaxCapacity=2,
        SuspendedState={"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True,
                        "ScheduledScalingSuspended": False})
    aas.put_scaling_policy(
        PolicyName="owners-policy", ServiceNamespace="sagemaker", ResourceId=resource,
        ScalableDimension=dimension, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 5000.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})


async def start_cli(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def read_until(process: asyncio.subprocess.Process, *needles: str) -> list[str]:
    """Lines printed until each needle has appeared in some line, in any order."""
    assert process.stdout is not None
    lines, missing = [], set(needles)
    while missing:
        raw = await asyncio.wait_for(process.stdout.readline(), 90)
        if not raw:
            err = await process.stderr.read() if process.stderr else b""
            raise AssertionError(f"exited before printing {missing}:\n" + "".join(lines)
                                 + err.decode())
        line = raw.decode()
        lines.append(line)
        missing = {n for n in missing if n not in line}
    return lines


SCALING_RUN = sagemaker_profile(
    "    - {duration: 120, arrivalRate: 20, name: steady}", "loadwatch-sandbox",
    "scaling: {min: 1, max: 2, target: 600, scaleOutCooldown: 1, scaleInCooldown: 60, "
    "enabled: true}\nmetrics: {period: 1, pollInterval: 1, endpointInterval: 1}")


async def test_a_run_records_server_metrics_scaling_and_restores_on_ctrl_c(
        sandbox, write_profile, tmp_path):
    users_scaling(sandbox)
    before = read_scaling_config(autoscaling(sandbox), sandbox.endpoint_name, sandbox.variant)
    recording = tmp_path / "run.jsonl"
    process = await start_cli("run", "--headless", "--interval", "1", "--record",
                              str(recording), str(write_profile(SCALING_RUN)),
                              env=cli_env(sandbox))
    # 20 req/s is 1200 a minute against a target of 600: target tracking adds an instance.
    await read_until(process, "scaling enabled", "scaling Successful", "instances 2/2")
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 130, err.decode()
    assert "scaling restored: target tracking 5000/instance/min, 1-2 instances, suspended" \
        in out.decode()
    after = read_scaling_config(autoscaling(sandbox), sandbox.endpoint_name, sandbox.variant)
    assert after == before

    run = read_recording(recording)
    assert run.complete and run.footer.reason == "interrupted"
    events = [r for r in run.records if isinstance(r, Event) and r.source == "scaling"]
    names = [e.name for e in events]
    assert names[0] == "scaling_saved" and names[-1] == "scaling_restored"
    assert "scaling_enabled" in names and "policy_in_force" in names
    saved = next(e for e in events if e.name == "scaling_saved")
    assert saved.data["saved"] == before.to_dict()

    datapoints = [r for r in run.records if isinstance(r, Datapoint)]
    invocations = [d for d in datapoints if d.metric == "Invocations" and d.stat == "Sum"]
    assert invocations and all(d.period == 1 and d.unit == "count" for d in invocations)
    assert max(d.value for d in invocations) >= 10
    latency = [d for d in datapoints if d.metric == "ModelLatency" and d.stat == "p99"]
    assert latency and all(d.unit == "ms" and 1 < d.value < 1000 for d in latency)
    states = [r for r in run.records if isinstance(r, EndpointState)]
    assert {s.variants[0]["desired"] for s in states} >= {1, 2}
    activities = [r for r in run.records if isinstance(r, ScalingActivity)]
    assert any(a.status == "Successful" for a in activities)
    raw = recording.read_text()
    assert sandbox.credentials.secret_access_key not in raw


SANDBOX_PROFILE = sagemaker_profile("    - {duration: 2, arrivalRate: 10, name: short}",
                                    endpoint=None)


async def test_a_profile_without_target_runs_on_its_own_sandbox(write_profile, tmp_path):
    recording = tmp_path / "sandbox.jsonl"
    process = await start_cli("run", "--headless", "--record", str(recording),
                              str(write_profile(SANDBOX_PROFILE)), env=cli_env())
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    first = out.decode().splitlines()[0]
    assert first.startswith("sandbox: http://127.0.0.1:")
    pid = int(first.split("(pid ")[1].split(")")[0])
    with pytest.raises(ProcessLookupError):  # stopped with the run
        os.kill(pid, 0)
    run = read_recording(recording)
    assert run.header.meta["aws"]["sandbox"] is True
    assert run.header.target == "sagemaker:loadwatch-sandbox/AllTraffic (the sandbox)"
    assert run.footer.summary["total"]["ok"] == 20
    assert any(isinstance(r, EndpointState) and r.status == "InService" for r in run.records)


async def run_scaling(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await start_cli("scaling", *args, env=env)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_the_scaling_command_enables_disables_and_restores(sandbox, tmp_path):
    env = cli_env(sandbox)
    name = ["--endpoint", sandbox.endpoint_name]
    code, out, _ = await run_scaling("enable", *name, "--min", "1", "--max", "3",
                                     "--target", "900", env=env)
    assert code == 0
    assert out.splitlines()[-1] == ("scaling enabled: target tracking 900/instance/min, "
                                    "1-3 instances, enabled")
    code, out, _ = await run_scaling("disable", *name, env=env)
    assert code == 0 and out.splitlines()[-1].endswith("1-3 instances, suspended")
    code, out, _ = await run_scaling("show", *name, env=env)
    assert code == 0 and "dynamic scale-out suspended, scale-in suspended" in out
    assert "policy loadwatch-target-tracking: target 900" in out

    # A recording from a run that found no scaling: restore takes the endpoint from it.
    recording = tmp_path / "kept.jsonl"
    header = {"type": "header", "format": 1, "tool_version": "test", "started_at": "",
              "t": 0, "target": "x", "meta": {"aws": {
                  "endpoint": sandbox.endpoint_name, "variant": sandbox.variant,
                  "region": sandbox.region}}}
    saved = {"type": "event", "t": 0, "elapsed": 0, "source": "scaling",
             "name": "scaling_saved", "data": {"saved": {
                 "resource_id": f"endpoint/{sandbox.endpoint_name}/variant/{sandbox.variant}",
                 "target": None, "policies": []}}}
    recording.write_text(json.dumps(header) + "\n" + json.dumps(saved) + "\n")
    code, out, _ = await run_scaling("restore", "--from", str(recording), env=env)
    assert code == 0 and "scaling restored: no scaling" in out
    after = read_scaling_config(autoscaling(sandbox), sandbox.endpoint_name, sandbox.variant)
    assert after.mode == "none" and after.target is None


async def test_the_scaling_command_fails_in_one_line(sandbox):
    env = cli_env(sandbox)
    code, _, err = await run_scaling("show", "--endpoint", "nope", "--region", "us-east-1",
                                       env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("loadwatch: reading the scaling configuration:")
    code, _, err = await run_scaling("restore", "--endpoint", "x", env=env)
    assert code == 2 and "restore needs --from RECORDING" in err
