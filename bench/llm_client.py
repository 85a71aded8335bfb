"""loadwatch's streaming client against a server with known timings, and an independent client.

    .venv/bin/python bench/llm_client.py [--seconds 10] [--first-ms 80] [--interval-ms 20]

Part 1, accuracy. A small SSE server in its own process (aiohttp on uvloop) answers
``/v1/chat/completions`` with the first token ``--first-ms`` after the request arrives and
one token every ``--interval-ms`` after it, each in its own chunk, on an absolute schedule,
and records when it actually wrote each token. Two clients run against it *at the same time*:

- loadwatch: a real ``Session`` (one worker process, concurrency mode, 4 streams in flight),
  its TTFT from the actual send and its ITL read from the recorded ticks' HDR histograms;
- an independent client written here on raw asyncio streams (no aiohttp, no httpx, no
  driver/http/streams.py): it writes the HTTP request by hand, timestamps every read that
  carries ``"content"`` and counts them, 4 streams in flight in the bench's own process.

Each is compared with the server's own record (TTFT: its first write minus the request's
arrival; ITL: the gaps between its writes) and with the other.

Part 2, cost. The same server with no first-token delay and ``--fast-interval-ms`` between
tokens, 64 streams in flight from one worker for ``--seconds``: the output tokens/s that one
worker sustains and its CPU time per token (the worker processes' user+system time, from
``RUSAGE_CHILDREN`` around the run, divided by the tokens it read).

Results: bench/results/llm_client.json; docs/performance.md has the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver.profile import load_profile  # noqa: E402
from driver.session import RunOptions, prepare_run  # noqa: E402
from metrics.llm import LlmAggregate  # noqa: E402
from metrics.records import Tick  # noqa: E402

# The known-timing server (bench/vllm_compare.py uses it too): /v1/chat/completions answers in
# chat chunks, /v1/completions in completions chunks (text); /stats is its record of when it
# wrote each token, /reset clears it, /v1/models answers a readiness check. Its port: argv[3]
# (0: any free one), printed on its first line.
SERVER = r'''
import asyncio, json, sys, time
from aiohttp import web
import uvloop
first, interval = float(sys.argv[1]) / 1000, float(sys.argv[2]) / 1000
log = {"first": [], "gaps": []}

async def stream(request):
    arrived = time.perf_counter()
    body = await request.json()
    count = body.get("max_tokens", 16)
    chat = request.path.endswith("/chat/completions")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    start, last = time.perf_counter(), 0.0
    choice = {"index": 0, "delta": {"content": "tok "}} if chat else \
        {"index": 0, "text": " tok", "finish_reason": None}
    try:
        for i in range(count):
            due = start + first + i * interval
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            chunk = {"id": "x", "model": "m", "choices": [choice]}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            now = time.perf_counter()
            (log["first"].append(now - arrived) if i == 0 else log["gaps"].append(now - last))
            last = now
        usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": count}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        await response.write_eof()
    except ConnectionError:
        pass
    return response

async def stats(request):
    return web.json_response(log)

async def reset(request):
    log["first"].clear()
    log["gaps"].clear()
    return web.json_response({})

async def models(request):
    return web.json_response({"object": "list", "data": [{"id": "m"}]})

async def main():
    app = web.Application()
    app.router.add_post("/v1/chat/completions", stream)
    app.router.add_post("/v1/completions", stream)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

uvloop.run(main())
'''


def start_server(first_ms: float, interval_ms: float) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(first_ms), str(interval_ms)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


async def server_log(port: int) -> dict[str, list[float]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


async def raw_stream(port: int, tokens: int, ttfts: list[float], gaps: list[float]) -> int:
    """One streamed request on a fresh socket, timed read by read; returns tokens seen."""
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True,
                       "max_tokens": tokens}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    sent = time.perf_counter()
    writer.write(head.encode() + body)
    seen, last = 0, None
    while True:
        data = await reader.read(65536)
        now = time.perf_counter()
        if not data:
            break
        count = data.count(b'"content"')
        if count:
            if last is None:
                ttfts.append(now - sent)
            else:
                gaps.extend([(now - last) / count] * count)
            last = now
            seen += count
        if b"[DONE]" in data:
            break
    writer.close()
    return seen


async def raw_client(port: int, streams: int, tokens: int, until: float
                     ) -> tuple[list[float], list[float]]:
    ttfts: list[float] = []
    gaps: list[float] = []

    async def loop() -> None:
        while time.perf_counter() < until:
            await raw_stream(port, tokens, ttfts, gaps)

    await asyncio.gather(*(loop() for _ in range(streams)))
    return ttfts, gaps


def profile_text(port: int, seconds: float, streams: int, tokens: int) -> str:
    return f"""
config:
  target: http://127.0.0.1:{port}
  phases:
    - {{duration: {seconds}, arrivalRate: {streams}}}
llm:
  api: chat
  inputTokens: 5
  outputTokens: {tokens}
load:
  mode: concurrency
  workers: 1
  timeout: 60s
metrics:
  enabled: false
"""


async def loadwatch_run(port: int, seconds: float, streams: int, tokens: int,
                        directory: Path) -> tuple[dict[str, Any], float]:
    path = directory / "llm.yml"
    path.write_text(profile_text(port, seconds, streams, tokens))
    prepared = await prepare_run(load_profile(path), RunOptions())
    ticks: list[Tick] = []
    prepared.session.subscribe(lambda r: ticks.append(r) if isinstance(r, Tick) else None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    await prepared.session.run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return LlmAggregate().extend(ticks).snapshot(), cpu


def ms(values: list[float], p: float = 50) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def accuracy(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    server, port = start_server(args.first_ms, args.interval_ms)
    try:
        until = time.perf_counter() + args.seconds + 1.0  # workers take about a second to start
        ours, raw = await asyncio.gather(
            loadwatch_run(port, args.seconds, 4, args.tokens, directory),
            raw_client(port, 4, args.tokens, until))
        log = await server_log(port)
    finally:
        server.terminate()
        server.wait()
    snap = ours[0]
    return {
        "server": {"ttft_p50_ms": ms(log["first"]), "itl_p50_ms": ms(log["gaps"]),
                   "itl_mean_ms": 1000 * statistics.fmean(log["gaps"]),
                   "streams": len(log["first"])},
        "loadwatch": {"ttft_sent_p50_ms": snap["ttft_sent_ms"]["p50"],
                      "ttft_sent_p99_ms": snap["ttft_sent_ms"]["p99"],
                      "ttft_p50_ms": snap["ttft_ms"]["p50"],
                      "itl_p50_ms": snap["itl_ms"]["p50"], "itl_mean_ms": snap["itl_ms"]["mean"],
                      "itl_p99_ms": snap["itl_ms"]["p99"],
                      "tpot_p50_ms": snap["tpot_ms"]["p50"],
                      "output_tokens": snap["output_tokens"]},
        "raw_client": {"ttft_p50_ms": ms(raw[0]), "ttft_p99_ms": ms(raw[0], 99),
                       "itl_p50_ms": ms(raw[1]), "itl_mean_ms": 1000 * statistics.fmean(raw[1]),
                       "itl_p99_ms": ms(raw[1], 99), "streams": len(raw[0])},
    }


async def cost(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    server, port = start_server(0.0, args.fast_interval_ms)
    try:
        snap, cpu = await loadwatch_run(port, args.seconds, args.streams, 200, directory)
    finally:
        server.terminate()
        server.wait()
    tokens = snap["output_tokens"]
    return {"streams": args.streams, "interval_ms": args.fast_interval_ms,
            "output_tokens": tokens, "output_tokens_per_s": tokens / args.seconds,
            "worker_cpu_s": cpu, "cpu_us_per_token": 1e6 * cpu / tokens if tokens else None,
            "demanded_tokens_per_s": args.streams * 1000 / args.fast_interval_ms}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--first-ms", type=float, default=80.0)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--fast-interval-ms", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/llm_client.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        result = {"accuracy": await accuracy(args, Path(directory)),
                  "cost": await cost(args, Path(directory)),
                  "args": {k: str(v) for k, v in vars(args).items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
