"""The real worker against the sandbox's two streaming routes (a sandbox process each time)."""

from __future__ import annotations

import pytest

from driver.aws import FrozenCredentials
from driver.profile import load_profile
from driver.session import RunOptions, prepare_run
from metrics.llm import LlmAggregate
from metrics.records import Tick
from sandbox.cli import LLM_INSTANCE
from sandbox.config import SandboxConfig, profile_named
from sandbox.process import SandboxProcess
from tests.llm.conftest import write
from tui.console import launch

SHORT = """
config:
  phases:
    - {duration: 2, arrivalRate: 3}
llm:
  inputTokens: 16
  outputTokens: 8
load:
  arrivals: even
  timeout: 30s
"""


async def _run(prepared) -> tuple[object, list[Tick]]:
    records: list = []
    prepared.session.subscribe(records.append)
    try:
        result = await prepared.session.run()
    finally:
        await prepared.close()
    return result, [r for r in records if isinstance(r, Tick)]


async def test_sagemaker_response_stream_signed_and_read(tmp_path):
    path = write(tmp_path, SHORT + "sagemaker:\n  stream: true\nmetrics:\n  enabled: false\n")
    result, ticks = await _run(await launch(load_profile(path), RunOptions()))
    snap = LlmAggregate().extend(ticks).snapshot()
    assert result.summary["total"]["ok"] == 6, result.summary["total"]["error_codes"]
    # TGI's details.generated_tokens gave exact counts; TTFT includes the prefill (26 ms+).
    assert snap["output_tokens"] == 6 * 8 and snap["output_tokens_estimated"] == 0
    assert snap["stream_errors"] == {}
    assert snap["ttft_sent_ms"]["min"] >= 26
    assert 20 <= snap["tpot_ms"]["p50"] <= 60
    assert result.summary["llm"]["total"]["goodput"] == 6


@pytest.mark.parametrize("api", ["chat", "completions"])
async def test_openai_routes_of_the_sandbox(tmp_path, api):
    config = SandboxConfig().replace(profile=profile_named(LLM_INSTANCE))
    sandbox = SandboxProcess(config).start()
    try:
        text = SHORT.replace("config:\n", f"config:\n  target: {sandbox.endpoint_url}\n")
        path = write(tmp_path, text.replace("llm:\n", f"llm:\n  api: {api}\n"))
        result, ticks = await _run(await prepare_run(load_profile(path), RunOptions()))
    finally:
        sandbox.stop()
    snap = LlmAggregate().extend(ticks).snapshot()
    assert result.summary["total"]["ok"] == 6, result.summary["total"]["error_codes"]
    assert snap["output_tokens"] == 48 and snap["output_tokens_estimated"] == 0
    assert snap["input_tokens"] > 0


async def test_an_endpoint_that_cannot_stream_shows_the_aws_error_code(tmp_path):
    path = write(tmp_path, SHORT + "sagemaker:\n  stream: true\nmetrics:\n  enabled: false\n")
    result, ticks = await _run(await launch(load_profile(path),
                                            RunOptions(sandbox_instance="small")))
    total = result.summary["total"]
    assert total["error_codes"] == {"ValidationError": 6}
    assert total["outcomes"]["4xx"] == 6
    assert LlmAggregate().extend(ticks).snapshot()["output_tokens"] == 0


async def test_cut_streams_are_stream_errors_that_keep_their_tokens(tmp_path):
    """Every stream cut part-way: SageMaker's ModelStreamError and SSE's dropped connection."""
    config = SandboxConfig(stream_error_rate=1.0).replace(profile=profile_named(LLM_INSTANCE))
    sandbox = SandboxProcess(config).start()
    try:
        text = SHORT.replace("config:\n", f"config:\n  target: {sandbox.endpoint_url}\n")
        path = write(tmp_path, text.replace("llm:\n", "llm:\n  api: completions\n"))
        _result, sse_ticks = await _run(await prepare_run(load_profile(path), RunOptions()))
    finally:
        sandbox.stop()
    sse = LlmAggregate().extend(sse_ticks).snapshot()
    assert sse["stream_errors"] == {"stream_cut": 6}
    # Cut after 1 to 7 of the 8 tokens: the tokens received are counted (from chunks).
    assert 6 <= sse["output_tokens"] <= 42 and sse["output_tokens_estimated"] == sse[
        "output_tokens"]
    assert sse["goodput"] == 0 and sse["ttft_ms"]["count"] == 0


async def test_a_sagemaker_stream_cut_is_a_model_stream_error(tmp_path):
    path = write(tmp_path, SHORT + "sagemaker:\n  stream: true\nmetrics:\n  enabled: false\n")
    config = SandboxConfig(stream_error_rate=1.0).replace(profile=profile_named(LLM_INSTANCE))
    sandbox = SandboxProcess(config).start()
    try:
        aimed = RunOptions(  # as tui.console.launch aims a run at the sandbox it started
            sandbox=True, endpoint_url=sandbox.endpoint_url, region=sandbox.region,
            endpoint=sandbox.endpoint_name, variant=sandbox.variant,
            aws_credentials=FrozenCredentials(sandbox.credentials.access_key_id,
                                              sandbox.credentials.secret_access_key))
        result, ticks = await _run(await prepare_run(load_profile(path), aimed))
    finally:
        sandbox.stop()
    snap = LlmAggregate().extend(ticks).snapshot()
    assert snap["stream_errors"] == {"model_stream_error": 6}
    assert result.summary["total"]["error_codes"] == {"ModelStreamError": 6}
    assert 6 <= snap["output_tokens"] <= 42
