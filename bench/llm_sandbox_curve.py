"""The sandbox's LLM instance (ml.g5.2xlarge profile): TTFT and ITL against concurrency.

    .venv/bin/python bench/llm_sandbox_curve.py [--levels 1,4,8,16,32,48,64] [--rounds 3]

One instance in its own process (``SandboxProcess``); for each concurrency level N, N closed
loop clients (the k-th starting k/N of a single request's time after the first, so that they
do not all prefill at once, round after round) each send ``--rounds`` streamed completions
(256 input words, 128 output tokens, ``stream_options.include_usage``) to ``/v1/completions``
and read them with driver/http/streams.py.
Per level: TTFT p50/p99, ITL p50/p99 (a piece's gap spread over its tokens), TPOT mean, output
tokens/s and requests/s. Beside each, what the engine model alone predicts for the same closed
loop on an injected clock (no HTTP, no event loop): the difference is what the server and
client add. The published figures it is compared with are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver.http.streams import OK, OPENAI_CHUNKS, SSE, StreamReader  # noqa: E402
from sandbox.config import INSTANCE_PROFILES, SandboxConfig  # noqa: E402
from sandbox.llm import BatchEngine, Sequence  # noqa: E402
from sandbox.process import SandboxProcess  # noqa: E402

INPUT_WORDS = 256
OUTPUT_TOKENS = 128
PROFILE = INSTANCE_PROFILES["ml.g5.2xlarge"]
PROMPT = " ".join(["word"] * INPUT_WORDS)


def single_request_seconds() -> float:
    llm = PROFILE.llm
    assert llm is not None
    return llm.prefill_seconds(INPUT_WORDS) + sum(
        llm.decode_seconds(1, INPUT_WORDS + k) for k in range(1, OUTPUT_TOKENS))


def stagger(client: int, concurrency: int) -> float:
    return single_request_seconds() * client / concurrency


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summarize(ttfts: list[float], itls: list[tuple[float, int]], tpots: list[float],
              tokens: int, requests: int, seconds: float) -> dict[str, float]:
    spread = [value for value, count in itls for _ in range(count)]
    return {
        "ttft_p50_ms": round(percentile(ttfts, 50) * 1000, 1),
        "ttft_p99_ms": round(percentile(ttfts, 99) * 1000, 1),
        "itl_p50_ms": round(percentile(spread, 50) * 1000, 2),
        "itl_p99_ms": round(percentile(spread, 99) * 1000, 2),
        "tpot_mean_ms": round(statistics.mean(tpots) * 1000, 2),
        "output_tokens_per_s": round(tokens / seconds, 1),
        "requests_per_s": round(requests / seconds, 3),
    }


async def measure(url: str, concurrency: int, rounds: int) -> dict[str, Any]:
    ttfts: list[float] = []
    tpots: list[float] = []
    itls: list[tuple[float, int]] = []
    tokens = 0
    failures: dict[str, int] = {}
    body = json.dumps({"prompt": PROMPT, "max_tokens": OUTPUT_TOKENS, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    timeout = aiohttp.ClientTimeout(total=300)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        async def client(number: int) -> None:
            nonlocal tokens
            await asyncio.sleep(stagger(number, concurrency))
            for _ in range(rounds):
                sent = time.perf_counter()
                reader = StreamReader(SSE, OPENAI_CHUNKS, sent, sent,
                                      lambda us, n: itls.append((us / 1e6, n)))
                async with session.post(f"{url}/v1/completions", data=body,
                                        headers={"Content-Type": "application/json"}) as r:
                    async for piece in r.content.iter_any():
                        reader.feed(piece, time.perf_counter())
                result = reader.end(time.perf_counter())
                if result.outcome != OK:
                    failures[result.outcome] = failures.get(result.outcome, 0) + 1
                    continue
                tokens += result.output_tokens
                ttfts.append(result.ttft_s or 0.0)
                if result.tpot_s is not None:
                    tpots.append(result.tpot_s)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        seconds = time.perf_counter() - started
    figures = summarize(ttfts, itls, tpots, tokens, len(ttfts), seconds)
    figures["failures"] = failures  # type: ignore[assignment]
    return figures


def model(concurrency: int, rounds: int) -> dict[str, float]:
    """The same closed loop run on the engine alone, on an injected clock."""
    llm = PROFILE.llm
    assert llm is not None
    engine = BatchEngine(llm, PROFILE.queue_bound, PROFILE.container_timeout_s)
    done: list[Sequence] = []
    left = {client: rounds for client in range(concurrency)}
    owner: dict[int, int] = {}
    starts = sorted((stagger(client, concurrency), client) for client in range(concurrency))
    now = 0.0
    while starts or engine.next_event_at() is not None:
        wake = engine.next_event_at()
        if starts and (wake is None or starts[0][0] <= wake):
            now, client = starts.pop(0)
            sequence = Sequence(INPUT_WORDS, OUTPUT_TOKENS, now, client)
            owner[id(sequence)] = client
            engine.submit(sequence, now)
            continue
        assert wake is not None
        now = wake
        for sequence in engine.advance(now):
            if sequence.finished_at is None:
                continue
            done.append(sequence)
            client = owner[id(sequence)]
            left[client] -= 1
            if left[client]:
                again = Sequence(INPUT_WORDS, OUTPUT_TOKENS, now, client)
                owner[id(again)] = client
                engine.submit(again, now)
    ttfts = [s.token_times[0] - s.arrived for s in done]
    itls = [(b - a, 1) for s in done for a, b in zip(s.token_times, s.token_times[1:],
                                                     strict=False)]
    tpots = [(s.token_times[-1] - s.token_times[0]) / (OUTPUT_TOKENS - 1) for s in done]
    return summarize(ttfts, itls, tpots, OUTPUT_TOKENS * len(done), len(done), now)


def decode_cost(tokens: int = 2000, repeats: int = 5) -> dict[str, float]:
    # boto3's reader only splits frames: it leaves lines, JSON, tokens and timing to the user.
    """CPU per token of StreamReader on the sandbox's bytes, one token per piece (worst case)."""
    from driver.http.streams import SAGEMAKER_EVENT_STREAM, TGI_TOKENS
    from sandbox.eventstream import payload_part
    from sandbox.llm_payloads import Formatter, LlmRequest

    sequence = Sequence(10, tokens, 0.0, 1)
    sequence.token_times = [0.0] * tokens
    sequence.finished_at = 0.0
    shapes = {"sse_openai": (SSE, OPENAI_CHUNKS, LlmRequest("completion", 10, tokens, True,
                                                            True, "m"), False),
              "sagemaker_tgi": (SAGEMAKER_EVENT_STREAM, TGI_TOKENS,
                                LlmRequest("tgi", 10, tokens, True, False, "m"), True)}
    out = {}
    for name, (transport, shape, request, framed) in shapes.items():
        formatter = Formatter(request, "id", 0)
        pieces = [b"".join(formatter.events(sequence, i, i + 1)) for i in range(tokens)]
        pieces += formatter.closing(sequence)
        if framed:
            pieces = [payload_part(p) for p in pieces]
        best = float("inf")
        for _ in range(repeats):
            reader = StreamReader(transport, shape, 0.0, 0.0, lambda us, n: None)
            started = time.perf_counter()
            for piece in pieces:
                reader.feed(piece, 1.0)
            result = reader.end(2.0)
            best = min(best, time.perf_counter() - started)
            assert result.outcome == OK and result.output_tokens == tokens
        out[f"{name}_us_per_token"] = round(best / tokens * 1e6, 2)
        if framed:
            out[f"{name}_boto3_frames_only_us_per_token"] = boto3_reader_cost(pieces, tokens)
    return out


def boto3_reader_cost(pieces: list[bytes], tokens: int, repeats: int = 5) -> float:
    """The peer in the same run: botocore's own EventStream, as boto3's response["Body"]."""
    import botocore.session
    from botocore.eventstream import EventStream
    from botocore.parsers import EventStreamJSONParser

    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    operation = model.operation_model("InvokeEndpointWithResponseStream")
    shape = operation.output_shape.members["Body"]

    class Raw:
        def stream(self) -> list[bytes]:
            return pieces

    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        parts = sum(1 for _ in EventStream(Raw(), shape, EventStreamJSONParser(),
                                            operation.name))
        best = min(best, time.perf_counter() - started)
        assert parts == len(pieces)
    return round(best / tokens * 1e6, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,4,8,16,32,48,64")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "llm_curve.json"))
    parser.add_argument("--decode-cost-only", action="store_true",
                        help="measure the reader's CPU per token and print it, no curve")
    args = parser.parse_args(argv)
    if args.decode_cost_only:
        print(json.dumps(decode_cost()))
        return 0
    levels = [int(x) for x in args.levels.split(",")]
    cost = decode_cost()
    print(f"StreamReader CPU per token (best of 5, one token per piece): {cost}", flush=True)
    rows = []
    with SandboxProcess(SandboxConfig(profile=PROFILE, seed=1)) as sandbox:
        for level in levels:
            measured = asyncio.run(measure(sandbox.endpoint_url, level, args.rounds))
            predicted = model(level, args.rounds)
            rows.append({"concurrency": level, "measured": measured, "model": predicted})
            print(f"N={level:3d}  TTFT p50 {measured['ttft_p50_ms']:7.1f} ms "
                  f"(model {predicted['ttft_p50_ms']:7.1f})  ITL p50 "
                  f"{measured['itl_p50_ms']:6.2f} ms (model {predicted['itl_p50_ms']:6.2f})  "
                  f"TPOT {measured['tpot_mean_ms']:6.2f} ms  "
                  f"{measured['output_tokens_per_s']:7.1f} tok/s "
                  f"(model {predicted['output_tokens_per_s']:7.1f})  "
                  f"failures {measured['failures']}", flush=True)
    result = {"benchmark": "llm_sandbox_curve", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                      time.gmtime()),
              "workload": {"input_words": INPUT_WORDS, "output_tokens": OUTPUT_TOKENS,
                           "rounds_per_client": args.rounds, "route": "/v1/completions"},
              "profile": "ml.g5.2xlarge", "rows": rows, "decode_cost": cost,
              "machine": "2 cores shared with other helpers' work"}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
