"""The child-process launcher and the command line: ready without sleeping, nothing left behind."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import boto3
import psutil
import pytest

from sandbox.cli import build_parser, config_from_args
from sandbox.config import REALISTIC, SandboxConfig, config_from_json, config_to_json
from sandbox.process import SandboxProcess, SandboxStartError
from tests.sandbox.conftest import SMALL, TEST_TIMINGS

ROOT = Path(__file__).resolve().parents[2]


def gone(pid: int, within: float = 10.0) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_start_env_and_stop() -> None:
    config = SandboxConfig(endpoint_name="blog-endpoint", profile=SMALL, timings=TEST_TIMINGS)
    with SandboxProcess(config) as sandbox:
        pid = sandbox.pid
        assert pid is not None and psutil.pid_exists(pid)
        env = sandbox.env()
        assert env["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
        assert sandbox.endpoint_url.startswith("http://127.0.0.1:")
        assert env["LOADWATCH_SANDBOX_ENDPOINT"] == "blog-endpoint"
        # A client configured from the environment alone reaches the child.
        session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                region_name=env["AWS_DEFAULT_REGION"])
        runtime = session.client("sagemaker-runtime", endpoint_url=env["AWS_ENDPOINT_URL"])
        answer = runtime.invoke_endpoint(EndpointName="blog-endpoint", Body=b"5,3.5,1.3,0.3",
                                         ContentType="text/csv")
        assert answer["Body"].read() == b"setosa\n"
        log_path = sandbox.log_path
    assert sandbox.stop() is None, "stopping twice is harmless"
    assert gone(pid)
    assert log_path is not None and not os.path.exists(log_path), "a clean stop removes its log"


PARENT = textwrap.dedent("""
    import sys, threading
    from sandbox.process import SandboxProcess
    holder = {}
    def start():
        holder["sandbox"] = SandboxProcess().start()
    if sys.argv[1] == "thread":
        worker = threading.Thread(target=start)
        worker.start()
        worker.join()
    else:
        start()
    print(holder["sandbox"].pid, flush=True)
    threading.Event().wait(60)
""")


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_killing_the_parent_leaves_no_child(started_from: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, started_from], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert psutil.pid_exists(child)
        parent.send_signal(signal.SIGKILL)  # no atexit, no finally: only the kernel acts
        parent.wait(timeout=10)
        assert gone(child), f"sandbox {child} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_child_that_dies_at_start_is_reported() -> None:
    with pytest.raises(SandboxStartError) as caught:
        SandboxProcess(SandboxConfig(), python="/bin/false").start()
    assert "exited with status 1" in str(caught.value)


def test_the_command_line_prints_the_environment_and_stops_on_sigint() -> None:
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--instance-type", "small",
               "--endpoint", "cli-endpoint", "--period", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        env = {}
        for line in process.stdout:
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                env[name] = value
            if line.startswith("Ctrl-C"):
                break
        assert env["LOADWATCH_SANDBOX_ENDPOINT"] == "cli-endpoint"
        assert env["LOADWATCH_SANDBOX_VARIANT"] == "AllTraffic"

        # Another program that knows only the environment printed reaches the sandbox.
        reader = ("import boto3; print(boto3.client('sagemaker').describe_endpoint_config("
                  "EndpointConfigName='cli-endpoint-config')['ProductionVariants'][0]"
                  "['InstanceType'])")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        answer = subprocess.run([sys.executable, "-c", reader], env={**clean, **env},
                                capture_output=True, text=True, timeout=60, check=True)
        assert answer.stdout.strip() == "ml.c5.large"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_flags_build_the_configuration() -> None:
    args = build_parser().parse_args([
        "--realistic", "--instances", "2", "--workers", "8", "--queue-bound", "64",
        "--routing", "least-outstanding", "--provisioning-delay", "90", "--seed", "3"])
    config = config_from_args(args)
    assert config.timings == dataclasses.replace(REALISTIC, provisioning_delay_s=90.0)
    assert (config.profile.instance_type, config.profile.workers,
            config.profile.queue_bound) == ("ml.m4.xlarge", 8, 64)
    assert (config.initial_instances, config.routing, config.seed) == (
        2, "least-outstanding", 3)
    assert config_from_json(config_to_json(config)) == config
    assert json.loads(config_to_json(config))["profile"]["workers"] == 8
