"""End to end against the sandbox's inference components: a component at zero copies, the
scale-from-zero pair loadwatch puts in place, the cold start measured, copies and instances
recorded, and everything put back (policies, alarm, copy count 0) at the end.

The sandbox runs as a child process with 1 s metrics and 1 s provisioning; CloudWatch alarms
take 10 s periods at the finest, so the cold start is about one alarm period plus the copy's
load time. One run (about 20 s) checks the whole story.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import boto3

from metrics.cold_start import EVENT, find_cold_starts
from metrics.recording import read_recording
from metrics.records import EndpointState, Event
from metrics.timeline import Timeline
from sandbox.config import ComponentConfig, ManagedScaling, SandboxConfig, Timings, profile_named
from sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parents[2]
QUICK = Timings(period_s=1, publication_delay_s=0.5, provisioning_delay_s=1,
                deprovisioning_delay_s=1, default_cooldown_s=1)
LOAD_S = 2.0
ALARM_PERIOD_S = 10  # the finest CloudWatch alarm period loadwatch asks for
PROFILE = """config:
  phases:
    - {duration: 14, arrivalRate: 5, name: wake}
sagemaker:
  endpoint: loadwatch-sandbox
  inferenceComponent: ic-a
  contentType: text/csv
scaling: {enabled: true, min: 0, max: 2, target: 60, scaleFromZero: true,
          scaleOutCooldown: 1, scaleInCooldown: 60}
metrics: {endpointInterval: 1}
scenarios:
  - flow:
      - post:
          body: "5,3.5,1.3,0.3"
"""


async def test_a_component_wakes_from_zero_and_is_put_back(tmp_path):
    config = SandboxConfig(timings=QUICK, profile=profile_named("small"),
                           components=(ComponentConfig(name="ic-a", copies=0, load_s=LOAD_S),),
                           managed_scaling=ManagedScaling(0, 2))
    profile, record = tmp_path / "ic-zero.yml", tmp_path / "zero.jsonl"
    profile.write_text(PROFILE)
    with SandboxProcess(config) as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(sandbox.env())
        env["PYTHONPATH"] = str(ROOT)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tui", "run", str(profile), "--headless", "--record",
            str(record), env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(process.communicate(), 90)
        text = out.decode()
        assert process.returncode == 0, text
        keys = dict(region_name=sandbox.region, endpoint_url=sandbox.endpoint_url,
                    aws_access_key_id=sandbox.credentials.access_key_id,
                    aws_secret_access_key=sandbox.credentials.secret_access_key)
        sm = boto3.client("sagemaker", **keys)
        after = sm.describe_inference_component(InferenceComponentName="ic-a")
        aas = boto3.client("application-autoscaling", **keys)
        targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")
        alarms = boto3.client("cloudwatch", **keys).describe_alarms()["MetricAlarms"]
    # Put back: the copy count asked for is 0 again, nothing registered, no alarm left.
    assert after["RuntimeConfig"]["DesiredCopyCount"] == 0
    assert targets["ScalableTargets"] == [] and alarms == []
    assert "copies 2 -> 0 as at start" in text or "copies 1 -> 0 as at start" in text
    assert "cold starts: 1" in text

    recording = read_recording(record)
    states = [r for r in recording.records if isinstance(r, EndpointState)]
    copies = [s.copy_counts()[0] for s in states]
    instances = [s.instance_counts()[0] for s in states]
    # Copies 0 -> N; instances as the managed fleet has them (the sandbox keeps an idle
    # instance a while before it releases it), at least one once a copy serves.
    assert copies[0] == 0 and max(copies) >= 1 and max(instances) >= 1
    [event] = [r for r in recording.records if isinstance(r, Event) and r.name == EVENT]
    seconds = event.data["seconds"]
    # The alarm fires at the end of the 10 s period the first failure fell in; from it to the
    # first success: the instance's provisioning (1 s) and the copy's load, within one metric
    # period (1 s) and one endpoint poll (1 s) each way.
    failed_at, alarm_at = event.data["failed_at"], event.data["alarm_at"]
    assert alarm_at is not None and event.data["in_service_at"] is not None, event.message
    assert 0 <= alarm_at - failed_at <= ALARM_PERIOD_S + 1, event.message
    assert LOAD_S - 1 <= event.data["success_at"] - alarm_at <= LOAD_S + 1 + 2 + 1, event.message
    # Replay finds the same from the recording alone, and the timeline carries the copies.
    [again] = find_cold_starts(recording.records, recording.header)
    assert again.seconds == seconds
    timeline = Timeline()
    for r in [recording.header, *recording.records]:
        timeline.add(r)
    assert [p.current for p in timeline.copies][:1] == [0] and timeline.copies[-1].current
