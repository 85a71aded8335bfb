"""How much CPU the sandbox needs to serve 1,000 RPS, and where a request's time goes.

    .venv/bin/python bench/sandbox_throughput.py [--rate 1000] [--seconds 20] [--instances 4]

Starts the sandbox as the tool does (``SandboxProcess``, a child on 127.0.0.1), drives it with
``hey`` at a fixed rate (a bounded aiohttp client in another process if hey is missing), and
reads the child's CPU time from psutil before and after. Every request carries one SigV4
signature made at the start: SigV4 does not prevent replays within its 5-minute window, so
the load generator needs no signing of its own, and the sandbox sees what a load test sends
(identical requests, verified once a second and then served from the signature cache).

Also measured in-process: a full signature verification against a cache hit, the sandbox's
idle CPU, and scikit-learn's cost (import time, memory, predict with and without the cache).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.process import SandboxProcess  # noqa: E402

BODY = b"5,3.5,1.3,0.3"


def signed_headers(sandbox: SandboxProcess, url: str) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=BODY, headers={"Content-Type": "text/csv"})
    credentials = Credentials(sandbox.credentials.access_key_id,
                              sandbox.credentials.secret_access_key)
    SigV4Auth(credentials, "sagemaker", sandbox.region).add_auth(request)
    return dict(request.headers.items())


def run_hey(url: str, headers: dict[str, str], rate: int, seconds: int,
            connections: int) -> dict[str, Any]:
    command = ["hey", "-z", f"{seconds}s", "-c", str(connections),
               "-q", f"{rate / connections:g}", "-m", "POST", "-T", "text/csv",
               "-d", BODY.decode()]
    for name, value in headers.items():
        if name.lower() != "content-type":
            command += ["-H", f"{name}: {value}"]
    command.append(url)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    statuses = {int(code): int(count)
                for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)}
    percentiles = {float(p): float(v) * 1000 for p, v in
                   re.findall(r"(\d+(?:\.\d+)?)%% in ([\d.]+) secs".replace("%%", "%"), output)}
    return {"command": " ".join(command[:12]) + " ... " + url, "statuses": statuses,
            "requests": sum(statuses.values()),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "latency_ms": {"p50": percentiles.get(50.0), "p99": percentiles.get(99.0)}}


def _aiohttp_worker(url: str, headers: dict[str, str], rate: int, seconds: int,
                    results: Any, connections: int = 64) -> None:
    import asyncio

    import aiohttp

    async def main() -> None:
        statuses: dict[int, int] = {}
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=connections),
                timeout=aiohttp.ClientTimeout(total=30)) as session:
            async def one() -> None:
                async with session.post(url, data=BODY, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            start = time.perf_counter()
            tasks = []
            for i in range(rate * seconds):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
        results.put(statuses)

    asyncio.run(main())


def run_aiohttp(url: str, headers: dict[str, str], rate: int, seconds: int) -> dict[str, Any]:
    results: Any = multiprocessing.get_context("spawn").Queue()
    worker = multiprocessing.get_context("spawn").Process(
        target=_aiohttp_worker, args=(url, headers, rate, seconds, results))
    started = time.perf_counter()
    worker.start()
    statuses = results.get(timeout=seconds + 60)
    worker.join()
    total = sum(statuses.values())
    return {"command": f"aiohttp open loop, {rate} RPS for {seconds} s", "statuses": statuses,
            "requests": total, "rps": total / (time.perf_counter() - started),
            "latency_ms": {}}


def sandbox_latency(sandbox: SandboxProcess, since: float) -> dict[str, float]:
    """The sandbox's own OverheadLatency and ModelLatency percentiles for the run, in µs."""
    cloudwatch = boto3.client(
        "cloudwatch", endpoint_url=sandbox.endpoint_url, region_name=sandbox.region,
        aws_access_key_id=sandbox.credentials.access_key_id,
        aws_secret_access_key=sandbox.credentials.secret_access_key)
    dims = [{"Name": "EndpointName", "Value": sandbox.endpoint_name},
            {"Name": "VariantName", "Value": sandbox.variant}]
    queries = [{"Id": f"{name.lower()}_{stat.replace('.', '_')}", "MetricStat": {
        "Metric": {"Namespace": "AWS/SageMaker", "MetricName": name, "Dimensions": dims},
        "Period": 3600 * 24, "Stat": stat}}
        for name in ("OverheadLatency", "ModelLatency") for stat in ("p50", "p99", "p99.9")]
    response = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=since - 86400,
                                          EndTime=time.time() + 86400)
    return {r["Id"]: r["Values"][0] for r in response["MetricDataResults"] if r["Values"]}


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def verification_cost(iterations: int = 3000) -> dict[str, float]:
    """Microseconds per verification: recomputed with botocore, and from the cache."""
    from sandbox.sigv4 import SignatureVerifier

    config = SandboxConfig()
    url = "http://127.0.0.1:8765/endpoints/loadwatch-sandbox/invocations"
    request = AWSRequest(method="POST", url=url, data=BODY, headers={"Content-Type": "text/csv"})
    SigV4Auth(Credentials(config.credentials.access_key_id,
                          config.credentials.secret_access_key),
              "sagemaker", config.region).add_auth(request)
    # Case-insensitive, as aiohttp hands headers to the server.
    headers = CIMultiDict(request.headers.items())
    headers["Host"] = "127.0.0.1:8765"
    verifier = SignatureVerifier(
        {config.credentials.access_key_id: config.credentials.secret_access_key}, config.region)
    path = "/endpoints/loadwatch-sandbox/invocations"
    started = time.perf_counter()
    for _ in range(iterations):
        verifier._cache.clear()  # force the full recomputation every time
        verifier.verify("POST", path, headers, BODY, "sagemaker")
    full = (time.perf_counter() - started) / iterations * 1e6
    started = time.perf_counter()
    for _ in range(iterations):
        verifier.verify("POST", path, headers, BODY, "sagemaker")
    cached = (time.perf_counter() - started) / iterations * 1e6
    return {"full_us": round(full, 1), "cached_us": round(cached, 2)}


SKLEARN_PROBE = """
import json, os, time
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
before = rss(); t0 = time.perf_counter()
from sandbox.model import IrisModel
model = IrisModel()
t1 = time.perf_counter(); after = rss()
rows = [b"5,3.5,1.3,0.3", b"6.7,3.0,5.2,2.3\\n5.1,3.5,1.4,0.2"]
n = 2000
t = time.perf_counter()
for i in range(n):
    model._cache.clear()
    model.predict_csv(rows[i % 2])
uncached = (time.perf_counter() - t) / n * 1e6
t = time.perf_counter()
for i in range(n):
    model.predict_csv(rows[i % 2])
cached = (time.perf_counter() - t) / n * 1e6
print(json.dumps({"import_and_train_s": round(t1 - t0, 2), "rss_added_mib": round(after - before),
                  "rss_total_mib": round(after), "predict_uncached_us": round(uncached, 1),
                  "predict_cached_us": round(cached, 2)}))
"""


def sklearn_cost() -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", SKLEARN_PROBE], cwd=ROOT, check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--instances", type=int, default=4,
                        help="instances of ml.m4.xlarge (421 RPS each)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--generator", choices=("hey", "aiohttp"),
                        default="hey" if shutil.which("hey") else "aiohttp")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"argv": sys.argv[1:], "sklearn": sklearn_cost(),
                               "sigv4": verification_cost()}
    config = SandboxConfig(initial_instances=args.instances)
    with SandboxProcess(config) as sandbox:
        process = psutil.Process(sandbox.pid)
        url = f"{sandbox.endpoint_url}/endpoints/{sandbox.endpoint_name}/invocations"
        headers = signed_headers(sandbox, url)
        idle_from, idle_cpu = time.perf_counter(), cpu_seconds(process)
        time.sleep(5)
        results["idle_cores"] = round(
            (cpu_seconds(process) - idle_cpu) / (time.perf_counter() - idle_from), 4)
        since = time.time()
        started, cpu_before = time.perf_counter(), cpu_seconds(process)
        if args.generator == "hey":
            load = run_hey(url, headers, args.rate, args.seconds, args.connections)
        else:
            load = run_aiohttp(url, headers, args.rate, args.seconds)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(process) - cpu_before
        results["load"] = load
        results["sandbox_cores"] = round(cpu / elapsed, 3)
        results["sandbox_cpu_us_per_request"] = round(cpu / max(load["requests"], 1) * 1e6, 1)
        results["sandbox_rss_mib"] = round(process.memory_info().rss / 2**20)
        time.sleep(config.timings.period_s + config.timings.publication_delay_s + 1)
        results["sandbox_latency_us"] = sandbox_latency(sandbox, since)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
