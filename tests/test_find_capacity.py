"""`loadwatch find-capacity` end to end against the sandbox, and its refusals."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import jsonschema
import pytest
from botocore.stub import Stubber

from driver.aws import ScalingControl
from driver.export import SUMMARY_SCHEMA
from metrics.endpoint import ScalingConfig, resource_id
from metrics.recording import read_recording
from metrics.records import Event
from tui.commands.capacity import _take_one_instance

ROOT = Path(__file__).resolve().parent.parent


def find_capacity(*args: str, timeout: float = 170) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", "find-capacity", "--headless", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.xdist_group("measured")
def test_the_search_finds_a_small_instance_and_applies_the_policy(tmp_path):
    """The sandbox's small instance serves about 50 req/s (1 worker, 20 ms)."""
    recording = tmp_path / "search.jsonl"
    result = find_capacity("--sandbox-instance", "small", "--sandbox-period", "1",
                           "--start", "40", "--tolerance", "0.25", "--interval", "60",
                           "--hold", "8",  # 5 judged seconds: room for 3 overloaded in a row
                           "--apply", "--record", str(recording),
                           "--summary-json", str(tmp_path / "summary.json"), timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "maximum sustainable rate per instance:" in out
    # the start line says what the search does, not the 6-hour bound of its one phase
    assert "phase 1/1 'capacity search': baseline 20 req/s for 28 s, then from 40 req/s x2" \
        in out and "21600" not in out and "runs of 8 s" in out
    spread = next(line for line in out.splitlines() if line.startswith("spread: "))
    assert "failure" in spread and "confirmed by a re-run" in spread
    assert "target = MAX_RPS x SAFETY_FACTOR x 60 = " in out
    assert "scaling:\n  enabled: true\n  min: 1\n  max: 4\n  target: " in out

    replay = read_recording(recording)
    events = [r for r in replay.records if isinstance(r, Event)]
    found = next(e for e in events if e.name == "capacity_result").data
    assert 38 <= found["max_rps"] <= 55  # within 10 % of the ~48 req/s it really serves
    assert found["target"] == round(found["max_rps"] * 0.5 * 60)
    verdicts = [e.data for e in events if e.name == "capacity_verdict"]
    failed = [v["rate"] for v in verdicts if not v["passed"]]
    # From 40 the search doubles to 80, or grows by 1.25 to 50 when latency had bent at 40
    # (issue 22: on a busy host the small instance's p50 rises already at 40 of its ~48).
    top = max(v["rate"] for v in verdicts)
    assert failed and top in (50, 80) and top in failed  # never above the first failure
    assert [v["run"] for v in verdicts if v["rate"] == top] == [1, 2]  # confirmed by a re-run
    assert any(v["stopped_early"] for v in verdicts if not v["passed"])
    assert found["spread"]["bracket"] == [found["max_rps"], found["first_failing_rps"]]
    # The summary for machines holds the same answer, every step, and the exit code.
    summary = json.loads((tmp_path / "summary.json").read_text())
    jsonschema.validate(summary, SUMMARY_SCHEMA)
    assert summary["command"] == "find-capacity" and summary["exit_code"] == 0
    assert summary["capacity"]["found"] is True
    assert summary["capacity"]["answer"]["max_rps"] == found["max_rps"]
    assert [s["rate"] for s in summary["capacity"]["steps"]] == [v["rate"] for v in verdicts]
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
    subprocess.run([sys.executable, "-m", "tui", "report", str(recording), "-o",
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


@pytest.mark.slow
@pytest.mark.xdist_group("measured")
def test_a_plain_http_model_server_is_searched_without_endpoint_checks(tmp_path):
    """nginx -> gunicorn -> Flask + sklearn: no SageMaker, so nothing to check or suspend."""
    from tests.servers.model_server import available, model_server

    if not available():
        pytest.skip("nginx or gunicorn is not installed")
    profile = tmp_path / "model.yml"
    profile.write_text("config:\n  phases: [{duration: 1, arrivalRate: 1}]\n"
                       "scenarios:\n  - flow:\n      - post:\n          url: /invocations\n"
                       "          headers: {content-type: text/csv}\n"
                       "          body: \"5,3.5,1.3,0.3\"\n")
    with model_server(2) as server:
        # What is particular here is the plain HTTP target, not the search (the sandbox test
        # above confirms its failures end to end): a coarse, unconfirmed search is enough.
        result = find_capacity(str(profile), "--target", server.url, "--start", "200",
                               "--growth", "4", "--tolerance", "0.9", "--no-confirm",
                               "--hold", "6", "--interval", "60",
                               "--apply", "--no-record", timeout=400)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "a plain HTTP target: no endpoint to check for one instance and no scaling to " \
           "suspend" in out
    assert "--apply: nothing to apply it to" in out
    assert "cannot search" not in result.stderr
    found = re.search(r"maximum sustainable rate per instance: (at least )?(\d+) req/s", out)
    assert found and int(found.group(2)) >= 200  # it serves 200 req/s with ease
    assert re.search(r"^spread: the edge lies between \d+ req/s \(passed\) "
                     r"and \d+ req/s \(failed 1 of 1 runs\)", out, re.MULTILINE)
