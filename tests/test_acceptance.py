"""Issue 4's acceptance: the blog's BEFORE and AFTER, with the real driver and poller.

Both runs are real headless sessions (`loadwatch run --headless`, worker processes, the
CloudWatch and endpoint pollers) against a sandbox child process whose clock is compressed
(1 s metric periods, instances that serve 2 s after they are asked for) and whose instance
serves about 50 req/s. BEFORE: no autoscaling, load above one instance's capacity → 5XX and a
p99 far above the unloaded one. AFTER: target tracking (1 to 4 instances), same load → the
endpoint scales out, then errors stay under 1 % and p99 comes back near the unloaded value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics import hdr
from metrics.recording import read_recording
from metrics.records import Datapoint, EndpointState, Tick
from metrics.stats import Aggregate
from sandbox.config import SandboxConfig, Timings, profile_named
from sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
QUICK = Timings(period_s=1, publication_delay_s=0.5, provisioning_delay_s=2,
                deprovisioning_delay_s=1, default_cooldown_s=1)
OVERLOAD_RPS = 80  # 1.6 times the small instance


def profile(overload_seconds: int, scaling: str) -> str:
    return f"""
config:
  phases:
    - {{name: unloaded, duration: 8, arrivalRate: 10}}
    - {{name: overload, duration: {overload_seconds}, arrivalRate: {OVERLOAD_RPS}}}
sagemaker: {{endpoint: loadwatch-sandbox}}
scaling: {scaling}
metrics: {{period: 1, pollInterval: 1, endpointInterval: 1}}
load: {{timeout: 5}}
scenarios:
  - flow:
      - post: {{body: "5,3.5,1.3,0.3", headers: {{content-type: text/csv}}}}
"""


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    # The small instance with a queue as deep in time as the blog's ml.m4.xlarge (128 x 10 ms
    # there, 40 x 20 ms here): a saturated instance makes requests wait before it sheds them.
    instance = profile_named("small").replace(queue_bound=40)
    with SandboxProcess(SandboxConfig(timings=QUICK, profile=instance)) as process:
        yield process


def run(sandbox: SandboxProcess, tmp_path: Path, name: str, text: str):
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    recording = tmp_path / f"{name}.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(sandbox.env())
    result = subprocess.run([sys.executable, "-m", "tui", "run", str(path), "--headless",
                             "--interval", "60", "--record", str(recording)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return read_recording(recording)


def p99(ticks: list[Tick]) -> float:
    return hdr.percentile_ms(hdr.merge(t.latency for t in ticks), 99)


@pytest.mark.slow
@pytest.mark.xdist_group("measured")
def test_before_and_after_autoscaling(sandbox, tmp_path):
    before = run(sandbox, tmp_path, "before", profile(15, "{enabled: false}"))
    ticks = [r for r in before.records if isinstance(r, Tick)]
    unloaded = [t for t in ticks if t.phase == "unloaded" and t.second >= 2]
    overload = [t for t in ticks if t.phase == "overload"]
    unloaded_p99 = p99(unloaded)
    assert Aggregate().extend(unloaded).snapshot()["error_rate"] == 0
    assert sum(t.outcomes.get("5xx", 0) for t in overload) > 0
    assert p99(overload) > 10 * unloaded_p99
    server_5xx = [d for d in before.records if isinstance(d, Datapoint)
                  and d.metric == "Invocation5XXErrors" and d.stat == "Sum"]
    assert sum(d.value for d in server_5xx) > 0  # the poller saw them too

    after = run(sandbox, tmp_path, "after", profile(
        30, "{enabled: true, min: 1, max: 4, target: 1500, scaleOutCooldown: 1, "
            "scaleInCooldown: 600}"))
    states = [r for r in after.records if isinstance(r, EndpointState)]
    scaled = next(s for s in states if s.status == "InService"
                  and s.variants[0]["current"] >= 2)
    ticks = [r for r in after.records if isinstance(r, Tick)]
    settled = [t for t in ticks if t.phase == "overload" and t.in_schedule
               and t.second >= scaled.elapsed + 3]
    assert len(settled) >= 10, "the scale-out came too late to judge what followed"
    figures = Aggregate().extend(settled).snapshot()
    assert figures["error_rate"] < 0.01
    # Near the unloaded value, judged as the search judges a run: the median of the seconds'
    # p99s, which one stall of a busy host cannot swing (the whole run's p99 can: one 60 ms
    # stall among ~1,000 requests); and the whole tail far below BEFORE's overloaded one.
    per_second = sorted(p99([t]) for t in settled)
    assert per_second[len(per_second) // 2] < 3 * unloaded_p99
    assert p99(settled) < p99(overload) / 3
    assert max(s.variants[0]["current"] for s in states) >= 2
