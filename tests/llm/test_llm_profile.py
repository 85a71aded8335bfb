"""The llm section, sagemaker.stream, load.mode and scaling.metric as the profile reads them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driver.profile import ProfileError, parse_profile
from tests.llm.conftest import write

ROOT = Path(__file__).resolve().parents[2]
PHASES = "config:\n  phases:\n    - {duration: 5, arrivalRate: 2}\n"


def test_defaults_for_a_sagemaker_stream():
    profile = parse_profile(PHASES + "sagemaker:\n  stream: true\n")
    assert profile.llm is not None and profile.load.arrivals == "poisson"
    spec = profile.llm.as_spec(sagemaker=True)
    assert (spec["api"], spec["shape"], spec["transport"]) == ("tgi", "tgi", "sagemaker")
    assert profile.scenarios[0].request.url.source == ""


def test_an_http_target_defaults_to_chat_completions_and_keeps_given_arrivals():
    profile = parse_profile("config:\n  target: http://127.0.0.1:1\n" + PHASES[8:]
                            + "llm: {}\nload: {arrivals: even}\n")
    assert profile.load.arrivals == "even"
    spec = profile.llm.as_spec(sagemaker=False)
    assert (spec["api"], spec["shape"], spec["transport"]) == ("chat", "openai", "sse")
    assert profile.rendered_requests()[0][0].url == "http://127.0.0.1:1/v1/chat/completions"


def test_options_are_read():
    profile = parse_profile(PHASES + """
llm:
  api: completions
  stream: jsonl
  model: m
  inputTokens: {min: 10, max: 20}
  outputTokens: {mean: 100, stddev: 10, max: 150}
  slo: {ttft: 500ms, tpot: 50ms}
  ttftTimeout: 5s
  seed: 3
load: {mode: concurrency}
scaling: {metric: concurrency, target: 8}
""")
    llm = profile.llm
    assert llm.input_tokens == {"kind": "uniform", "low": 10, "high": 20}
    assert llm.output_tokens == {"kind": "normal", "value": 100, "stddev": 10, "maximum": 150}
    assert (llm.slo_ttft, llm.slo_tpot, llm.ttft_timeout) == (0.5, 0.05, 5.0)
    assert llm.resolved_shape(True) == "jsonl" and profile.load.mode == "concurrency"
    assert profile.scaling.metric == "concurrency" and profile.scaling.target == 8


@pytest.mark.parametrize(("text", "expected"), [
    ("llm:\n  inputTokens: 0\n", "<profile>:5: llm.inputTokens: must be at least 1"),
    ("llm:\n  inputTokens: {min: 9, max: 3}\n", "needs 1 <= min <= max"),
    ("llm:\n  slo: {ttft: fast}\n", "<profile>:5: llm.slo.ttft: expected seconds"),
    ("llm:\n  sloo: 1\n", "did you mean 'slo'?"),
    ("load: {mode: closed}\n", "load.mode: expected one of rate, concurrency"),
    ("scaling: {metric: concurrency}\n", "scaling.target: missing"),
])
def test_bad_options_name_line_and_field(text, expected):
    with pytest.raises(ProfileError) as caught:
        parse_profile(PHASES + text)
    assert expected in str(caught.value)


def test_an_invalid_prompts_file_is_exit_2_naming_its_lines(tmp_path):
    (tmp_path / "prompts.jsonl").write_text(
        '{"prompt": "hello"}\n{"prompt": 3}\nnot json\n{"messages": []}\n')
    path = write(tmp_path, "config:\n  target: http://127.0.0.1:9\n" + PHASES[8:]
                 + "llm:\n  prompts: prompts.jsonl\n")
    run = subprocess.run([sys.executable, "-m", "tui", "run", str(path), "--headless"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2
    prompts = tmp_path / "prompts.jsonl"
    assert f"{prompts}:2: llm.prompts: prompt must be a non-empty string" in run.stderr
    assert f"{prompts}:3: llm.prompts: not valid JSON" in run.stderr
    assert f"{prompts}:4: llm.prompts: messages must be a non-empty list" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout.strip() == ""


def test_validate_says_what_a_streaming_profile_sends(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"prompt": "hi"}\n')
    path = write(tmp_path, "config:\n  target: http://127.0.0.1:9\n" + PHASES[8:]
                 + "llm: {slo: {ttft: 500ms}, prompts: p.jsonl, order: random}\n"
                 + "load: {mode: concurrency}\n")
    run = subprocess.run([sys.executable, "-m", "tui", "validate", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (f"streaming LLM: chat requests, openai stream, prompts {tmp_path / 'p.jsonl'} "
            "(random); goodput SLO: TTFT 500 ms; arrivals poisson") in run.stdout
    assert "the rates above are requests kept in flight" in run.stdout
