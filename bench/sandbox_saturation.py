"""The BEFORE curve: one default instance (ml.m4.xlarge profile) under rising open-loop load.

    .venv/bin/python bench/sandbox_saturation.py [--rates 200,300,400,450,500,600]

Each rate runs for 9 s of one 10 s metric period, aligned to the period, from an aiohttp
open-loop client in another process (smooth arrivals, where hey's workers send in bursts; up
to 2,000 connections, so the client never caps the sandbox's queue). The figures are the
sandbox's own CloudWatch datapoints for that period, read through boto3 as the poller reads
them: Invocations, ModelLatency p50/p99 (HDR) and Invocation5XXErrors. The blog's instance
held 400-425 RPS in under 15 ms; beyond that latency passed 300 ms and errors began.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sandbox_throughput import _aiohttp_worker, signed_headers  # noqa: E402

from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.process import SandboxProcess  # noqa: E402

PERIOD = 10


def period_figures(sandbox: SandboxProcess, start: int) -> dict[str, float | None]:
    cloudwatch = boto3.client(
        "cloudwatch", endpoint_url=sandbox.endpoint_url, region_name=sandbox.region,
        aws_access_key_id=sandbox.credentials.access_key_id,
        aws_secret_access_key=sandbox.credentials.secret_access_key)
    dims = [{"Name": "EndpointName", "Value": sandbox.endpoint_name},
            {"Name": "VariantName", "Value": sandbox.variant}]
    wanted = {"calls": ("Invocations", "Sum"), "p50": ("ModelLatency", "p50"),
              "p99": ("ModelLatency", "p99"), "errors": ("Invocation5XXErrors", "Sum"),
              "cpu": ("CPUUtilization", "Average")}
    queries = [{"Id": key, "MetricStat": {
        "Metric": {"Namespace": "/aws/sagemaker/Endpoints" if name == "CPUUtilization"
                   else "AWS/SageMaker", "MetricName": name, "Dimensions": dims},
        "Period": PERIOD, "Stat": stat}} for key, (name, stat) in wanted.items()]
    response = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start,
                                          EndTime=start + PERIOD)
    return {r["Id"]: (r["Values"][0] if r["Values"] else None)
            for r in response["MetricDataResults"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="200,300,400,450,500,600")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    context = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    with SandboxProcess(SandboxConfig()) as sandbox:
        url = f"{sandbox.endpoint_url}/endpoints/{sandbox.endpoint_name}/invocations"
        starts = []
        for rate in rates:
            # Start on a period boundary so one datapoint holds exactly this rate.
            start = math.ceil(time.time() / PERIOD) * PERIOD
            time.sleep(start - time.time())
            headers = signed_headers(sandbox, url)
            results: Any = context.Queue()
            worker = context.Process(target=_aiohttp_worker,
                                     args=(url, headers, rate, PERIOD - 1, results, 2000))
            worker.start()
            statuses = results.get(timeout=120)
            worker.join()
            starts.append((rate, start, statuses))
        time.sleep(PERIOD + 6)  # the last period's publication delay
        for rate, start, statuses in starts:
            figures = period_figures(sandbox, start)
            rows.append({"rate": rate, "statuses": statuses, **figures})
    print("| offered RPS | served in the period | ModelLatency p50 | p99 | 5XX | CPU (of 400) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        p50 = row["p50"] / 1000 if row["p50"] is not None else float("nan")
        p99 = row["p99"] / 1000 if row["p99"] is not None else float("nan")
        print(f"| {row['rate']} | {row['calls']:.0f} | {p50:.1f} ms | {p99:.1f} ms | "
              f"{row['errors'] or 0:.0f} | {row['cpu'] or 0:.0f} % |")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
