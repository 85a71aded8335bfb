"""The scaling keys against the sandbox: the policy call reaches it, and quitting restores
(or, if the operator says so, keeps) what was there before the run.

The sandbox is checked with a boto3 client of its own, not through the monitor's objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from driver.session import RunOptions
from metrics.recording import read_recording
from metrics.records import Event
from sandbox.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY
from tests.tui.helpers import live_monitor, until
from tui.monitor.screens import ConfirmScreen, LiveRun, QuitScreen

PROFILE = """
config:
  phases:
    - {duration: 120, arrivalRate: 10, name: steady}
scenarios:
  - flow:
      - post: {url: /invocations, body: "5,3.5,1.3,0.3", headers: {content-type: text/csv}}
scaling: {min: 1, max: 3, target: 6000}
"""
RESOURCE = "endpoint/loadwatch-sandbox/variant/AllTraffic"


def _autoscaling(live: LiveRun) -> Any:
    target = live.session.target
    return boto3.client("application-autoscaling", endpoint_url=target["runtime_url"],
                        region_name=target["region"], aws_access_key_id=DEFAULT_ACCESS_KEY_ID,
                        aws_secret_access_key=DEFAULT_SECRET_ACCESS_KEY)


def _in_sandbox(live: LiveRun) -> tuple[list[dict], list[dict]]:
    """(scalable targets, scaling policies) of the sandbox's variant, as AWS would answer."""
    client = _autoscaling(live)
    targets = client.describe_scalable_targets(ServiceNamespace="sagemaker",
                                               ResourceIds=[RESOURCE])["ScalableTargets"]
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker",
                                                ResourceId=RESOURCE)["ScalingPolicies"]
    return targets, policies


def _named(name: str):
    return lambda r: isinstance(r, Event) and r.name == name


async def _press_and_confirm(pilot: Any, live: LiveRun, key: str, event: str) -> Event:
    await pilot.press(key)
    assert isinstance(pilot.app.screen, ConfirmScreen)
    waiting = until(live.session, _named(event))
    await pilot.press("y")
    return await waiting


async def test_enable_and_suspend_reach_the_sandbox_and_quit_restores(
        write_profile, tmp_path: Path) -> None:
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(write_profile(PROFILE), options) as (pilot, live):
        assert _in_sandbox(live) == ([], [])

        await pilot.press("e")
        dialog = pilot.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "1-3 instances" in dialog.message and "6000" in dialog.message
        waiting = until(live.session, _named("scaling_enabled"))
        await pilot.press("y")
        await waiting
        targets, policies = _in_sandbox(live)
        assert (targets[0]["MinCapacity"], targets[0]["MaxCapacity"]) == (1, 3)
        assert not targets[0]["SuspendedState"]["DynamicScalingOutSuspended"]
        config = policies[0]["TargetTrackingScalingPolicyConfiguration"]
        assert config["TargetValue"] == 6000

        await _press_and_confirm(pilot, live, "d", "scaling_disabled")
        targets, _ = _in_sandbox(live)
        assert targets[0]["SuspendedState"]["DynamicScalingOutSuspended"]

        await pilot.press("q")
        assert isinstance(pilot.app.screen, QuitScreen)
        assert pilot.app.screen.scaling_note is not None
        await pilot.press("y")  # the default: restore
        await live.task
        await pilot.pause()
        assert _in_sandbox(live) == ([], [])  # as it was before the run
    names = [r.name for r in read_recording(options.record).records if isinstance(r, Event)]
    assert names.index("scaling_enabled") < names.index("scaling_disabled") \
        < names.index("scaling_restored")


async def test_quit_can_keep_the_scaling_change(write_profile, tmp_path: Path) -> None:
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(write_profile(PROFILE), options) as (pilot, live):
        await _press_and_confirm(pilot, live, "e", "scaling_enabled")
        await pilot.press("q", "k")
        await live.task
        await pilot.pause()
        targets, policies = _in_sandbox(live)
        assert targets and policies  # still enabled
    names = [r.name for r in read_recording(options.record).records if isinstance(r, Event)]
    assert "scaling_kept" in names and "scaling_restored" not in names
