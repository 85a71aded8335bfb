"""`loadwatch find-capacity` end to end against the sandbox's LLM instance, in concurrency mode."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from driver.profile import parse_profile
from metrics.recording import read_recording
from metrics.records import Event

ROOT = Path(__file__).resolve().parent.parent

# Short answers (16 tokens, about a second each) so that a step's one judged second sees
# several end; the instance's TTFT or TPOT passes its SLO at about 7 to 9 streams in flight.
PROFILE = """\
config:
  phases: [{duration: 10, arrivalRate: 1}]
llm:
  inputTokens: 256
  outputTokens: 16
  slo: {ttft: 500ms, tpot: 60ms}
load:
  mode: concurrency
  timeout: 30s
sagemaker:
  stream: true
"""


@pytest.mark.slow  # about 30 s: 10 of them starting the sandbox on a shared machine
@pytest.mark.xdist_group("measured")
def test_a_streaming_search_finds_the_concurrency_and_recommends_its_target(tmp_path):
    profile = tmp_path / "llm.yml"
    profile.write_text(PROFILE)
    recording = tmp_path / "search.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "tui", "find-capacity", str(profile), "--headless",
         "--sandbox-period", "1", "--start", "6", "--growth", "1.5", "--tolerance", "0.3",
         "--hold", "4", "--no-confirm", "--interval", "60", "--record", str(recording)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "baseline 3 in flight for 4 s, then from 6 in flight x1.5" in out
    assert re.search(r"^ *step in flight run verdict +sent/s goodput % +TTFT p50 +TTFT p99 +"
                     r"TPOT p50 +TPOT p99 +tokens/s +in flight", out, re.MULTILINE)
    found = re.search(r"^maximum sustainable concurrency per instance: (\d+) in flight: goodput",
                      out, re.MULTILINE)
    assert found, out
    assert "objectives: goodput ≥ 95% under TTFT ≤ 500 ms (the profile's llm.slo); TPOT ≤ 60 " \
           "ms (the profile's llm.slo)" in out and "client p99 latency is not an objective" in out
    assert "recommended ConcurrentRequestsPerModel: target = MAX_CONCURRENCY x SAFETY_FACTOR = " \
        in out
    block = out[out.index("scaling:\n"):]
    assert block.startswith("scaling:\n  enabled: true\n  metric: concurrency\n")
    pasted = parse_profile(PROFILE + block)  # what it prints is a valid scaling section
    assert pasted.scaling is not None and pasted.scaling.metric == "concurrency"

    events = [r for r in read_recording(recording).records
              if isinstance(r, Event) and r.source == "capacity"]
    objectives = next(e.data for e in events if e.name == "capacity_objectives")
    assert (objectives["slo_ttft_ms"], objectives["slo_tpot_ms"]) == (500, 60)
    assert objectives["min_goodput_pct"] == 95 and objectives["unit"] == "in flight"
    verdicts = [e.data for e in events if e.name == "capacity_verdict"]
    assert all(v["rate"] == int(v["rate"]) for v in verdicts)
    for verdict in verdicts:
        if not verdict["ended"]:  # one judged second in which no stream ended fails
            assert verdict["reasons"] == ["no request ended"] and not verdict["passed"]
            continue
        assert verdict["passed"] == (verdict["goodput_pct"] >= 95 and verdict["error_rate"] < .05)
        assert verdict["output_tokens_per_s"] > 0 and verdict["ttft_p99_ms"] > 0
    answer = next(e.data for e in events if e.name == "capacity_result")
    max_concurrency = int(found.group(1))
    assert answer["max_concurrency"] == max_concurrency
    assert 2 <= max_concurrency <= 16  # the instance's edge, on a shared machine
    assert answer["target"] == max(1.0, round(max_concurrency * 0.5, 1))
    assert pasted.scaling.target == answer["target"]
    failed = [v["rate"] for v in verdicts if not v["passed"]]
    assert not failed or min(failed) == answer["first_failing"] > max_concurrency
