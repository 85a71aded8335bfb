"""`loadwatch find-capacity` end to end against the sandbox, and its refusals."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from driver.scaling import ScalingControl
from metrics.endpoint import ScalingConfig, resource_id
from metrics.recording import read_recording
from metrics.records import Event
from tui.capacity_cmd import _take_one_instance

ROOT = Path(__file__).resolve().parent.parent


def find_capacity(*args: str, timeout: float = 170) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", "find-capacity", "--headless", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_the_search_finds_a_small_instance_and_applies_the_policy(tmp_path):
    """The sandbox's small instance serves about 50 req/s (1 worker, 20 ms)."""
    recording = tmp_path / "search.jsonl"
    result = find_capacity("--sandbox-instance", "small", "--sandbox-period", "1",
                           "--start", "20", "--tolerance", "0.1", "--interval", "60",
                           "--apply", "--record", str(recording))
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "maximum sustainable rate per instance:" in out
    assert "target = MAX_RPS x SAFETY_FACTOR x 60 = " in out
    assert "scaling:\n  enabled: true\n  min: 1\n  max: 4\n  target: " in out

    replay = read_recording(recording)
    events = [r for r in replay.records if isinstance(r, Event)]
    found = next(e for e in events if e.name == "capacity_result").data
    assert 38 <= found["max_rps"] <= 55  # within 10 % of the ~48 req/s it really serves
    assert found["target"] == round(found["max_rps"] * 0.5 * 60)
    verdicts = [e.data for e in events if e.name == "capacity_verdict"]
    failed = [v["rate"] for v in verdicts if not v["passed"]]
    assert failed and max(v["rate"] for v in verdicts) == min(
        r for r in failed if r >= max(failed)) == 80  # never above the first clear failure
    assert any(v["stopped_early"] for v in verdicts if not v["passed"])
    # The sandbox starts with no policy, so nothing was suspended or restored; after the
    # search, --apply put the recommended policy on.
    names = [e.name for e in events if e.source in ("scaling", "capacity")]
    assert "scaling_restored" not in names and names[-1] == "capacity_applied"
    applied = next(e for e in events if e.name == "capacity_applied")
    assert f"target tracking {found['target']}/instance/min" in applied.message
    # The run is a recording like any other: it replays, and says how it ended.
    assert replay.complete and replay.footer.reason == "completed"
    assert replay.header.meta["steered_by"] == "the capacity search"
    # ...and its report shows the search: every step with its verdict, and the answer.
    report = tmp_path / "search.html"
    subprocess.run([sys.executable, "-m", "tui.cli", "report", str(recording), "-o",
                    str(report)], cwd=ROOT, check=True, capture_output=True, timeout=60)
    html = report.read_text()
    assert "<h3>Capacity search</h3>" in html
    assert f"one instance sustains {found['max_rps']:g} req/s" in html
    assert html.count('<td class="text ok">pass</td>') == sum(v["passed"] for v in verdicts)
    assert "The rate was set by the capacity search" in html  # not a 6-hour plan


def test_an_endpoint_with_several_instances_is_refused_before_any_load(tmp_path):
    recording = tmp_path / "never.jsonl"
    result = find_capacity("--sandbox-instances", "2", "--record", str(recording), timeout=90)
    assert result.returncode == 2
    assert "cannot search: endpoint loadwatch-sandbox variant AllTraffic runs 2 instances" \
        in result.stderr
    assert not recording.exists()  # nothing was run


class _Prepared:
    """What _take_one_instance reads of a prepared run."""

    def __init__(self, control: ScalingControl, instances: int) -> None:
        self.scaling = control
        self.endpoint, self.variant = "ep", "AllTraffic"
        self.session = type("S", (), {"meta": {"aws": {"instances": instances}}})()


def test_no_permission_to_suspend_scaling_is_refused():
    client = boto3.client("application-autoscaling", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s")
    control = ScalingControl(client, "ep", "AllTraffic")
    control.saved = control.current = ScalingConfig(
        resource_id("ep", "AllTraffic"),
        {"MinCapacity": 1, "MaxCapacity": 4,
         "SuspendedState": {"DynamicScalingInSuspended": False,
                            "DynamicScalingOutSuspended": False,
                            "ScheduledScalingSuspended": False}},
        ({"PolicyName": "p", "PolicyType": "TargetTrackingScaling",
          "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 100.0}},))
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_scalable_targets", "AccessDeniedException",
                                 "User is not authorized to perform: "
                                 "application-autoscaling:DescribeScalableTargets", 400)
        reason = asyncio.run(_take_one_instance(_Prepared(control, 1)))
    assert reason is not None
    assert reason.startswith("scaling must be suspended for the search, and that failed")
    assert "AccessDeniedException" in reason


def test_one_instance_and_no_scaling_needs_nothing_changed():
    client = boto3.client("application-autoscaling", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s")
    control = ScalingControl(client, "ep", "AllTraffic")
    control.saved = ScalingConfig(resource_id("ep", "AllTraffic"))
    with Stubber(client):  # no call expected: a stub with nothing queued fails on any call
        assert asyncio.run(_take_one_instance(_Prepared(control, 1))) is None
    assert json.dumps(control.saved.to_dict())
