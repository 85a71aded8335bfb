"""The LLM instance over real HTTP: boto3's own stream reader, the SSE routes, their errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError, EventStreamError

from sandbox.config import INSTANCE_PROFILES
from sandbox.server import SandboxThread
from tests.sandbox.conftest import MovableClock, client, metric_value, step

G5 = INSTANCE_PROFILES["ml.g5.2xlarge"]


@pytest.fixture
def llm(start_sandbox: Callable[..., SandboxThread]) -> SandboxThread:
    return start_sandbox(profile=G5)


def stream(runtime: Any, body: dict[str, Any], name: str = "loadwatch-sandbox") -> Any:
    return runtime.invoke_endpoint_with_response_stream(
        EndpointName=name, Body=json.dumps(body), ContentType="application/json")


def events(payload: bytes) -> list[bytes]:
    """The SSE ``data`` values in a container's bytes."""
    return [line.split(b":", 1)[1].strip() for line in payload.split(b"\n")
            if line.startswith(b"data:")]


def test_boto3_reads_a_tgi_stream_unchanged(llm: SandboxThread) -> None:
    runtime = client(llm, "sagemaker-runtime")
    response = stream(runtime, {"inputs": "What is a GPU?", "parameters": {"max_new_tokens": 6}})
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["ContentType"] == "text/event-stream"
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    tokens = [json.loads(data) for data in events(b"".join(parts))]
    assert len(tokens) == 6
    assert all(t["token"]["text"].startswith(" ") for t in tokens)
    assert tokens[-1]["details"]["generated_tokens"] == 6
    assert tokens[-1]["generated_text"] == "".join(t["token"]["text"] for t in tokens)
    assert all(t["generated_text"] is None for t in tokens[:-1])


def test_payload_parts_sometimes_split_a_json_object(llm: SandboxThread) -> None:
    runtime = client(llm, "sagemaker-runtime")
    response = stream(runtime, {"inputs": "x", "parameters": {"max_new_tokens": 40}})
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert any(not part.endswith(b"\n\n") for part in parts)  # a part ending mid-event
    assert len(events(b"".join(parts))) == 40


def test_an_openai_chat_body_streams_chunks_usage_and_done(llm: SandboxThread) -> None:
    runtime = client(llm, "sagemaker-runtime")
    response = stream(runtime, {"messages": [{"role": "user", "content": "one two three"}],
                                "max_tokens": 5, "stream": True,
                                "stream_options": {"include_usage": True}})
    data = events(b"".join(e["PayloadPart"]["Bytes"] for e in response["Body"]))
    assert data[-1] == b"[DONE]"
    usage = json.loads(data[-2])
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    chunks = [json.loads(d) for d in data[:-2]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_a_non_streaming_endpoint_asked_to_stream_is_a_validation_error(
        sandbox: SandboxThread) -> None:
    runtime = client(sandbox, "sagemaker-runtime")
    with pytest.raises(ClientError) as caught:
        stream(runtime, {"inputs": "x"})
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "does not support response streaming" in caught.value.response["Error"]["Message"]


def test_errors_before_the_first_token_are_aws_errors(llm: SandboxThread) -> None:
    runtime = client(llm, "sagemaker-runtime")
    with pytest.raises(ClientError) as caught:
        stream(runtime, {"nothing": 1})
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 400
    with pytest.raises(ClientError) as caught:
        stream(runtime, {"inputs": "x"}, name="elsewhere")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as caught:
        stream(client(llm, "sagemaker-runtime", aws_secret_access_key="wrong" * 8),
               {"inputs": "x"})
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as caught:
        stream(runtime, {"inputs": "x", "parameters": {"max_new_tokens": 5000}})
    assert "maximum context length is 4096" in caught.value.response["OriginalMessage"]


def test_a_cut_stream_ends_with_model_stream_error(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    handle = start_sandbox(profile=G5, stream_error_rate=1.0)
    response = stream(client(handle, "sagemaker-runtime"),
                      {"inputs": "x", "parameters": {"max_new_tokens": 8}})
    received = []
    with pytest.raises(EventStreamError) as caught:
        for event in response["Body"]:
            received.append(event["PayloadPart"]["Bytes"])
    assert caught.value.response["Error"]["Code"] == "ModelStreamError"
    assert "stream broke" in caught.value.response["Error"]["Message"]
    assert 1 <= len(events(b"".join(received))) < 8


def test_invoke_endpoint_on_an_llm_waits_for_the_whole_answer(llm: SandboxThread) -> None:
    response = client(llm, "sagemaker-runtime").invoke_endpoint(
        EndpointName="loadwatch-sandbox", ContentType="application/json",
        Body=json.dumps({"prompt": "a b", "max_tokens": 4}))
    answer = json.loads(response["Body"].read())
    assert answer["usage"]["completion_tokens"] == 4
    assert len(answer["choices"][0]["text"].split()) == 4


async def sse(url: str, body: dict[str, Any]) -> tuple[int, list[bytes]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, events(await response.read())


def test_the_openai_routes(llm: SandboxThread) -> None:
    base = llm.endpoint_url
    status, data = asyncio.run(sse(f"{base}/v1/completions", {
        "prompt": "hello", "max_tokens": 3, "stream": True}))
    assert status == 200 and data[-1] == b"[DONE]"
    texts = [json.loads(d)["choices"][0]["text"] for d in data[:-1]]
    assert len(texts) == 3 and all(json.loads(d).get("usage") is None for d in data[:-1])
    status, data = asyncio.run(sse(f"{base}/v1/chat/completions", {
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True,
        "stream_options": {"include_usage": True}}))
    assert json.loads(data[-2])["usage"]["completion_tokens"] == 2

    async def whole() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.post(
                f"{base}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}) as r:
            return await r.json()
    assert asyncio.run(whole())["choices"][0]["message"]["role"] == "assistant"
    status, _ = asyncio.run(sse(f"{base}/v1/chat/completions", {"messages": "no"}))
    assert status == 400


def test_a_cut_sse_stream_drops_the_connection_without_done(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    handle = start_sandbox(profile=G5, stream_error_rate=1.0)

    async def read() -> bytes:
        got = b""
        async with aiohttp.ClientSession() as session, session.post(
                f"{handle.endpoint_url}/v1/completions",
                json={"prompt": "x", "max_tokens": 8, "stream": True}) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                async for piece in response.content.iter_any():
                    got += piece
        return got
    data = events(asyncio.run(read()))
    assert data and b"[DONE]" not in data and len(data) < 8


def test_concurrency_is_published_and_counts_streams_until_their_last_token(
        llm: SandboxThread, clock: MovableClock) -> None:
    async def many() -> None:
        await asyncio.gather(*(sse(f"{llm.endpoint_url}/v1/completions", {
            "prompt": "x", "max_tokens": 30, "stream": True}) for _ in range(6)))
    asyncio.run(many())
    step(llm, clock, 2.0)
    cloudwatch = client(llm, "cloudwatch")
    assert metric_value(cloudwatch, llm, "Invocations") == 6
    peak = metric_value(cloudwatch, llm, "ConcurrentRequestsPerModel", "Maximum")
    assert peak is not None and 0 < peak <= 6
    assert metric_value(cloudwatch, llm, "ConcurrentRequestsPerModel", "SampleCount") >= 1


def test_overhead_latency_is_the_sandboxs_own_time_not_zero(
        llm: SandboxThread, clock: MovableClock) -> None:
    """ModelLatency is the engine's time; OverheadLatency what the sandbox spent around it
    (reading, signature, routing, writing): small, but a real figure, as AWS publishes one.
    Zero drew a log-scale latency chart down to a microsecond."""
    runtime = client(llm, "sagemaker-runtime")
    for _ in range(3):
        list(stream(runtime, {"inputs": "x", "parameters": {"max_new_tokens": 8}})["Body"])
    asyncio.run(sse(f"{llm.endpoint_url}/v1/completions",
                    {"prompt": "x", "max_tokens": 8, "stream": True}))
    step(llm, clock, 2.0)
    cloudwatch = client(llm, "cloudwatch")
    model = metric_value(cloudwatch, llm, "ModelLatency", "Average")
    overhead = metric_value(cloudwatch, llm, "OverheadLatency", "Minimum")
    assert model is not None and overhead is not None
    assert 20 <= overhead < model  # µs: at least the request's parsing and signature check


def test_the_sse_route_on_a_plain_sandbox_is_not_found(sandbox: SandboxThread) -> None:
    status, _ = asyncio.run(sse(f"{sandbox.endpoint_url}/v1/completions", {"prompt": "x"}))
    assert status == 404


def test_instances_scaled_away_stop_their_engines(
        start_sandbox: Callable[..., SandboxThread], clock: MovableClock) -> None:
    handle = start_sandbox(profile=G5, initial_instances=3, routing="least-outstanding")

    async def three() -> None:
        await asyncio.gather(*(sse(f"{handle.endpoint_url}/v1/completions", {
            "prompt": "x", "max_tokens": 5, "stream": True}) for _ in range(3)))
    asyncio.run(three())
    routes = handle.server.llm
    assert routes is not None and len(routes._pumps) == 3
    handle.call(lambda: handle.server.simulation.endpoint.set_desired(1, clock()))
    step(handle, clock, 2.0)  # past the deprovisioning delay
    asyncio.run(sse(f"{handle.endpoint_url}/v1/completions", {"prompt": "x", "max_tokens": 2}))
    assert len(routes._pumps) == 1
