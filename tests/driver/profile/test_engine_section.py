"""The engine section: read with its defaults, and every mistake named by file, line, field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driver.profile import ProfileError, parse_profile

ROOT = Path(__file__).resolve().parents[3]
BASE = """config:
  target: http://127.0.0.1:9/
  phases: [{duration: 1, arrivalRate: 1}]
scenarios:
  - flow: [{post: {url: /x}}]
"""


def test_the_section_with_its_defaults_and_the_engine_told_later() -> None:
    profile = parse_profile(BASE + "engine: {url: 'http://127.0.0.1:8000/metrics'}\n")
    assert profile.engine is not None
    assert (profile.engine.url, profile.engine.engine, profile.engine.series,
            profile.engine.interval, profile.engine.timeout) == (
        "http://127.0.0.1:8000/metrics", None, (), 5.0, 2.0)
    full = parse_profile(BASE + """engine:
  url: http://127.0.0.1:8000/metrics
  engine: vllm
  series: [vllm:num_preemptions, 'nv_trt_llm_request_metrics{request_type="context"}']
  interval: 2s
""")
    assert full.engine is not None and full.engine.engine == "vllm"
    assert full.engine.series == ("vllm:num_preemptions",
                                  'nv_trt_llm_request_metrics{request_type="context"}')
    assert full.engine.interval == 2.0
    assert parse_profile(BASE).engine is None


@pytest.mark.parametrize(("section", "expected"), [
    ("engine: {engine: vllm}", r"<profile>:6: engine\.url: missing"),
    ("engine: {url: 'localhost:8000'}", r"<profile>:6: engine\.url: expected an http"),
    ("engine: {url: 'http://h/m', engine: vlm}", r"engine\.engine: .*vllm"),
    ("engine:\n  url: http://h/m\n  series:\n    - ok_name\n    - 'x{a=1}'",
     r"<profile>:10: engine\.series\[1\]: bad labels"),
    ("engine: {url: 'http://h/m', intervall: 5s}", r"engine\.intervall: unknown key; did you "
                                                  r"mean 'interval'\?"),
])
def test_mistakes_name_file_line_and_field(section: str, expected: str) -> None:
    with pytest.raises(ProfileError, match=expected):
        parse_profile(BASE + section + "\n")


def test_validate_exits_2_with_one_line_for_a_bad_engine_section(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(BASE + "engine: {url: 'ftp://h/metrics'}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tui", "validate", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{path}:6: engine.url: expected an http(s) URL" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_bad_engine_metrics_flag_exits_2_before_any_load(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(BASE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tui", "run", str(path), "--headless",
                           "--no-record", "--engine-metrics", "ftp://h/metrics"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("loadwatch: --engine-metrics: expected an http(s) URL, "
                                   "got 'ftp://h/metrics'")
