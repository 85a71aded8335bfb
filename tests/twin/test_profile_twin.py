"""A profile's ``sandbox: {twin: twin.yml}``: ``loadwatch run`` serves its sandbox like the twin,
and a missing file or field is one line naming the profile's line and field, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driver.profile import ProfileError, parse_profile
from metrics.recording import read_recording
from metrics.records import Tick
from sandbox.config import InstanceProfile, SandboxConfig, Timings
from twin.model import Twin, save_twin

ROOT = Path(__file__).resolve().parents[2]
# One slow instance: 2 workers x 25 ms = 80 req/s, a queue of 4. The default sandbox instance
# serves about 420 req/s, so 200 req/s is turned away here and served there.
SLOW = Twin.from_sandbox(SandboxConfig(
    profile=InstanceProfile("ml.c5.large", vcpus=2, memory_gib=4.0, workers=2,
                            service_time_ms=25.0, jitter_ms=1.0, queue_bound=4),
    timings=Timings(period_s=5.0, publication_delay_s=2.0, provisioning_delay_s=8.0)))
PROFILE = """\
config:
  phases:
    - {name: over, duration: 4, arrivalRate: 200}
scenarios:
  - flow:
      - post: {headers: {content-type: text/csv}, body: "5,3.5,1.3,0.3"}
scaling:
  enabled: false
"""


@pytest.mark.parametrize(("section", "expected"), [
    ("sandbox: {twin: nowhere.yml}\n", r"p\.yml:9: sandbox\.twin: no such file: .*nowhere\.yml"),
    ("sandbox: {}\n", r"p\.yml:9: sandbox\.twin: missing: a twin file"),
    ("sandbox: {twn: twin.yml}\n", r"p\.yml:9: sandbox\.twn: unknown key; did you mean 'twin'"),
])
def test_a_bad_section_names_file_line_and_field(tmp_path: Path, section: str,
                                                  expected: str) -> None:
    with pytest.raises(ProfileError, match=expected):
        parse_profile(PROFILE + section, "p.yml", base_dir=tmp_path)


def test_a_twin_only_serves_the_built_in_sandbox(tmp_path: Path) -> None:
    save_twin(SLOW, tmp_path / "twin.yml")
    text = PROFILE.replace("config:\n", "config:\n  target: http://127.0.0.1:9/\n")
    with pytest.raises(ProfileError, match=r"sandbox\.twin: only for the built-in sandbox"):
        parse_profile(text + "sandbox: {twin: twin.yml}\n", "p.yml", base_dir=tmp_path)


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", "run", str(tmp_path / "p.yml"),
                           "--headless", "--interval", "30", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_twin_file_missing_a_field_stops_the_run_before_any_load(tmp_path: Path) -> None:
    twin = tmp_path / "twin.yml"
    save_twin(SLOW, twin)
    twin.write_text(twin.read_text().replace("  workers:", "  wrkers:"))
    (tmp_path / "p.yml").write_text(PROFILE + "sandbox:\n  twin: twin.yml\n")
    done = _run(tmp_path, "--no-record")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"loadwatch: {tmp_path / 'p.yml'}:10: sandbox.twin: {twin}: fields.workers: missing "
        "(requests one instance serves in parallel)")


def test_run_serves_the_sandbox_like_the_profiles_twin(tmp_path: Path) -> None:
    save_twin(SLOW, tmp_path / "twin.yml")
    (tmp_path / "p.yml").write_text(PROFILE + "sandbox:\n  twin: twin.yml\n")
    done = _run(tmp_path, "--record", str(tmp_path / "run.jsonl"))
    assert done.returncode in (0, 1), done.stderr
    assert "serving like the twin" in done.stdout + done.stderr
    ticks = [r for r in read_recording(tmp_path / "run.jsonl").records if isinstance(r, Tick)]
    sent = sum(t.sent for t in ticks)
    ok = sum(t.outcomes.get("ok", 0) for t in ticks)
    # The twin's one instance serves 80 req/s of the 200 sent; the default one would serve all.
    assert sent >= 700
    assert 0.25 < ok / sent < 0.6
