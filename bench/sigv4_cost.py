"""What SigV4 signing costs a worker per request, with and without signature reuse.

    python bench/sigv4_cost.py [--requests 20000] [--rounds 5] [--rows 1]

Measured in one process, in the same run, per request (median of ``--rounds``):

- ``sign every request``: ``SageMakerTarget.sign`` for each request (botocore's SigV4 pieces);
- ``loadwatch prepare``: ``SageMakerTarget.prepare`` as the worker calls it, 1,000 requests
  per simulated second, so within a second identical requests reuse the signature;
- peer ``boto3 invoke_endpoint``: boto3's own client building and signing the same request
  (stopped at ``before-send``, so no network), what a boto3-based load generator pays;
- ``aiohttp POST round trip``: one request to a local aiohttp server, the cost signing must
  not dominate.

``--rows N`` cycles through N distinct payload rows (reuse then needs the same row twice in
one second). Results go to stdout as Markdown and to ``bench/results/sigv4_cost.json``; quote
the ratios, the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from aiohttp import ClientSession, web  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402

from driver.http.sagemaker import SageMakerTarget  # noqa: E402

REGION = "us-east-1"
KEY, SECRET = "AKIABENCHMARK0000000", "bench-secret-key-not-a-real-one-0123456"


def _target(url: str = "https://runtime.sagemaker.us-east-1.amazonaws.com") -> SageMakerTarget:
    return SageMakerTarget({"kind": "sagemaker", "runtime_url": url, "region": REGION,
                            "endpoint": "blog-endpoint",
                            "credentials": {"access_key": KEY, "secret_key": SECRET}})


def _bodies(rows: int) -> list[bytes]:
    return [f"5.{i},3.5,1.3,0.3".encode() for i in range(rows)]


def sign_every(n: int, rows: int) -> float:
    target, bodies = _target(), _bodies(rows)
    headers = target.invocation_headers({"content-type": "text/csv"})
    epoch = 1_700_000_000.0
    start = time.perf_counter()
    for i in range(n):
        target.sign(headers, bodies[i % rows], epoch + i / 1000)
    return (time.perf_counter() - start) / n


def prepare_with_reuse(n: int, rows: int) -> tuple[float, float]:
    target, bodies = _target(), _bodies(rows)
    headers = {"content-type": "text/csv"}
    epoch = 1_700_000_000.0
    start = time.perf_counter()
    for i in range(n):
        row = i % rows
        target.prepare(row, "POST", "", headers, bodies[row], epoch + i / 1000)
    elapsed = (time.perf_counter() - start) / n
    return elapsed, target.reused / n


def boto3_invoke(n: int, rows: int) -> float:
    client = boto3.client("sagemaker-runtime", region_name=REGION, aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET)
    response = AWSResponse("https://runtime.test", 200, {}, None)
    response.raw = None

    def short_circuit(**_: object) -> AWSResponse:
        return response

    client.meta.events.register("before-send", short_circuit)
    bodies = _bodies(rows)
    start = time.perf_counter()
    for i in range(n):
        # The empty response does not parse; the request was built and signed all the same.
        with contextlib.suppress(Exception):
            client.invoke_endpoint(EndpointName="blog-endpoint", Body=bodies[i % rows],
                                   ContentType="text/csv")
    return (time.perf_counter() - start) / n


async def aiohttp_round_trip(n: int) -> float:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"setosa\n")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/endpoints/blog-endpoint/invocations"
    try:
        async with ClientSession() as http:
            start = time.perf_counter()
            for _ in range(n):
                async with http.post(url, data=b"5,3.5,1.3,0.3") as response:
                    await response.read()
            return (time.perf_counter() - start) / n
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1)
    args = parser.parse_args()
    n, rows = args.requests, args.rows
    runs: dict[str, list[float]] = {"sign": [], "prepare": [], "boto3": [], "aiohttp": []}
    reuse = 0.0
    for _ in range(args.rounds):
        runs["sign"].append(sign_every(n, rows))
        prepared, reuse = prepare_with_reuse(n, rows)
        runs["prepare"].append(prepared)
        runs["boto3"].append(boto3_invoke(max(n // 4, 1), rows))
        runs["aiohttp"].append(asyncio.run(aiohttp_round_trip(max(n // 10, 1))))
    us = {k: statistics.median(v) * 1e6 for k, v in runs.items()}
    rows_out = [
        ("sign every request", us["sign"]),
        (f"loadwatch prepare (reuse {100 * reuse:.1f} %)", us["prepare"]),
        ("boto3 invoke_endpoint, no network (peer)", us["boto3"]),
        ("aiohttp POST round trip, local server", us["aiohttp"]),
    ]
    print(f"SigV4 cost per request: {n} requests x {args.rounds} rounds, {rows} payload row(s), "
          "1,000 requests per simulated second; median of rounds\n")
    print("| what | µs/request | vs boto3 | vs aiohttp round trip |")
    print("|---|---:|---:|---:|")
    for name, value in rows_out:
        print(f"| {name} | {value:.1f} | {value / us['boto3']:.3f} | "
              f"{value / us['aiohttp']:.3f} |")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "sigv4_cost.json").write_text(json.dumps({
        "requests": n, "rounds": args.rounds, "rows": rows, "reuse_fraction": reuse,
        "us_per_request": us, "runs_s": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
