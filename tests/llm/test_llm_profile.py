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
    # Synthetic prompts take their length from outputTokens: maxTokens would be ignored.
    ("llm:\n  maxTokens: 1000000000\n", "<profile>:5: llm.maxTokens: synthetic prompts take "
     "their output length from llm.outputTokens"),
    ("llm:\n  ignoreEos: true\nsagemaker: {stream: true}\n",
     "<profile>:5: llm.ignoreEos: TGI's generate_stream has no ignore_eos"),
    ("llm:\n  api: chat\n  extraBody: {max_tokens: 5}\n",
     "<profile>:6: llm.extraBody.max_tokens: set by llm.outputTokens or llm.maxTokens"),
    ("llm:\n  extraBody: [1]\n", "llm.extraBody: expected a mapping of body fields"),
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


def test_ignore_eos_and_extra_body_fields_reach_the_body():
    from driver.load.stream_request import LlmRequests
    from driver.profile import Prompt, request_body

    profile = parse_profile("config:\n  target: http://127.0.0.1:1\n" + PHASES[8:] + """
llm:
  api: completions
  ignoreEos: true
  extraBody: {min_tokens: 16, temperature: 0, top_p: 0.9}
""")
    spec = profile.llm.as_spec(sagemaker=False)
    import json
    from types import SimpleNamespace

    # The worker's own body maker (only the counter's in-flight map is looked at when made).
    path = LlmRequests(spec, 0, 30.0, 1, None, SimpleNamespace(in_flight={}),  # type: ignore
                       None)  # type: ignore[arg-type]

    body = json.loads(path._body()[1])
    assert body["ignore_eos"] is True and body["max_tokens"] == 128
    assert (body["min_tokens"], body["temperature"], body["top_p"]) == (16, 0, 0.9)
    tgi = json.loads(request_body(Prompt(prompt="x"), "tgi", extra={"temperature": 0.5}))
    assert tgi["parameters"] == {"max_new_tokens": 128, "details": True, "temperature": 0.5}


@pytest.mark.parametrize(("llm", "warning"), [
    ("{outputTokens: 5000}", "warning: llm.outputTokens: up to 5,000 output tokens, more than "
     "the model's context of 4,096 tokens (the sandbox's llama-2-7b-fp16)"),
    ("{outputTokens: 300, inputTokens: 100, maxModelLen: 256}",
     "warning: llm.outputTokens: up to 300 output tokens, more than the model's context of 256 "
     "tokens (llm.maxModelLen)"),
    ("{outputTokens: 200, inputTokens: {min: 10, max: 100}, maxModelLen: 256}",
     "warning: llm.outputTokens: input plus output reach 300 tokens"),
    ("{outputTokens: {mean: 100, stddev: 20}, maxModelLen: 256}",
     "warning: llm.outputTokens: a normal length with no max can exceed"),
    ("{outputTokens: 100, maxModelLen: 256}", None),
])
def test_validate_warns_when_output_can_exceed_the_models_limit(tmp_path, llm, warning):
    path = write(tmp_path, PHASES + f"llm: {llm}\nsagemaker: {{stream: true}}\n")
    run = subprocess.run([sys.executable, "-m", "tui", "validate", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    if warning is None:
        assert "warning: llm." not in run.stdout
    else:
        assert warning in run.stdout, run.stdout


def test_validate_warns_for_a_prompts_files_max_tokens(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"prompt": "hi", "max_tokens": 9000}\n{"prompt": "x"}\n')
    path = write(tmp_path, "config:\n  target: http://127.0.0.1:9\n" + PHASES[8:]
                 + "llm: {prompts: p.jsonl, maxModelLen: 8192, maxTokens: 64}\n")
    run = subprocess.run([sys.executable, "-m", "tui", "validate", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "warning: llm.prompts (max_tokens): up to 9,000 output tokens" in run.stdout
