"""The Ray pool against the local pool, and the controller's merge at scale.

    .venv/bin/python bench/ray_bench.py pools [--rates 1000 5000] [--seconds 10]
    .venv/bin/python bench/ray_bench.py controller [--workers 8 32 64] [--seconds 30]
    .venv/bin/python bench/ray_bench.py cluster

``pools``: one run per pool and rate against nginx (bench/driver_bench.py's), in the same
process and round: worker CPU per request (the ``driver.load.worker`` processes' CPU over requests
sent), send-lag p99, and the delay from a second's end to its merged tick at the controller
(p50/p99/max). The Ray side is a local ``cluster_utils.Cluster`` (head with no CPU, two
one-CPU worker nodes), so its figures are the relay's cost, not a network's.

``controller``: synthetic tick streams (real HDR histograms of realistic size) for W workers
pushed through the session's own merge path (``TickMerger`` + ``SummaryBuilder`` +
``Session._emit_ticks`` to a recorder) at one second per second of input: controller CPU per
second of load and the merge delay per second.

``cluster``: time to start the local cluster and the memory (RSS) of its processes.

Results go to bench/results/ray.json (merged by section). The machine is shared: quote ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.driver_bench import nginx  # noqa: E402
from driver.pool import TickMerger  # noqa: E402
from driver.profile import load_profile  # noqa: E402
from driver.schedule import Phase  # noqa: E402
from driver.session import Session  # noqa: E402
from metrics import hdr  # noqa: E402
from metrics.records import Tick  # noqa: E402
from metrics.stats import SummaryBuilder  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ray.json"


def save(section: str, data: object) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = data
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({section: data}, indent=2))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def worker_processes() -> list[psutil.Process]:
    """This checkout's load workers (the machine is shared: other checkouts run theirs)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if "driver.load.process" not in " ".join(process.info["cmdline"] or []):
            continue
        try:
            if str(ROOT) in process.environ().get("PYTHONPATH", ""):
                found.append(process)
        except psutil.Error:
            continue
    return found


def start_cluster():  # type: ignore[no-untyped-def]
    import ray
    from ray.cluster_utils import Cluster

    began = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for name in ("node_a", "node_b"):
        cluster.add_node(num_cpus=1, resources={name: 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    return cluster, time.perf_counter() - began


async def one_run(url: str, rate: int, seconds: int, pool) -> dict:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "p.yml"
        profile.write_text(f"config:\n  target: {url}\n  phases:\n"
                           f"    - {{duration: {seconds}, arrivalRate: {rate}}}\n"
                           "load: {connections: 64, maxInFlight: 5000}\n"
                           "scenarios:\n  - flow:\n      - get: {url: /}\n")
        session = Session(load_profile(profile), workers=2, pool=pool)
        delays: list[float] = []
        cpu: dict[int, float] = {}
        first: dict[str, float] = {}  # CPU and requests at the first tick: start-up excluded
        sent = [0]

        def on_record(record) -> None:  # type: ignore[no-untyped-def]
            if isinstance(record, Tick) and record.in_schedule:
                delays.append(session.elapsed() - (record.second + 1))
                for process in worker_processes():  # CPU so far, kept at its last reading
                    try:
                        times = process.cpu_times()
                        cpu[process.pid] = times.user + times.system
                    except psutil.Error:
                        pass
                if not first:
                    first.update(cpu=sum(cpu.values()), sent=float(sent[0] + record.sent))
                sent[0] += record.sent

        session.subscribe(on_record)
        result = await session.run()
    per_request = (sum(cpu.values()) - first.get("cpu", 0.0)) / max(
        sent[0] - first.get("sent", 0.0), 1)
    total = result.summary["total"]
    sent = total["requests"]
    return {"pool": type(pool).__name__ if pool else "LocalProcessPool", "rate": rate,
            "seconds": seconds, "sent": sent, "achieved_rps": round(total["achieved_rps"], 1),
            "worker_cpu_us_per_request": round(per_request * 1e6, 1),
            "lag_p99_ms": total["lag_ms"]["p99"],
            # a command's path is the probe's: controller -> actor, one way ~ half of this
            "probe_rtt_ms": [n["rtt_ms"] for n in session.pool.describe().get("nodes", [])],
            "merge_delay_ms": {"p50": round(percentile(delays, 0.5) * 1000, 1),
                               "p99": round(percentile(delays, 0.99) * 1000, 1),
                               "max": round(max(delays) * 1000, 1) if delays else None}}


def bench_pools(args: argparse.Namespace) -> None:
    from driver.pool import RayPool

    cluster, _ = start_cluster()
    rows = []
    try:
        with nginx(core=1) as url:
            for rate in args.rates:
                for pool in (None, RayPool(strategy="STRICT_SPREAD")):
                    rows.append(asyncio.run(one_run(url, rate, args.seconds, pool)))
                    print(rows[-1], flush=True)
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    save("pools", {"rows": rows, "note": "local Ray cluster on the same 2-core host, shared "
                                         "with other work; same round for both pools"})


def synthetic_tick(second: int, rate_per_worker: int, rng: random.Random) -> Tick:
    latency, service, lag = (hdr.new_histogram() for _ in range(3))
    for _ in range(min(rate_per_worker, 2000)):  # histograms as full as real ones get
        value = int(rng.lognormvariate(8.5, 0.6))  # ~5 ms in µs
        latency.record_value(value)
        service.record_value(value)
        lag.record_value(int(rng.expovariate(1 / 300)))
    tick = Tick(second=second, t=float(second), elapsed=float(second), phase=None,
                phase_index=0, target_rps=float(rate_per_worker), sent=rate_per_worker,
                completed=rate_per_worker, outcomes={"ok": rate_per_worker},
                status={"200": rate_per_worker}, latency=hdr.encode(latency),
                service=hdr.encode(service), lag=hdr.encode(lag))
    for histogram in (latency, service, lag):
        hdr.release(histogram)
    return tick


def bench_controller(args: argparse.Namespace) -> None:
    from metrics.recording import RecordingWriter
    from metrics.records import Header

    rng = random.Random(1)
    rows = []
    for workers in args.workers:
        per_worker = max(1, args.total_rate // workers)
        samples = [synthetic_tick(0, per_worker, rng) for _ in range(8)]  # reused bodies
        phases = [Phase("p", float(args.seconds), float(args.total_rate),
                        float(args.total_rate))]
        merger = TickMerger(range(workers), phases, count=workers)
        summary = SummaryBuilder()
        with tempfile.TemporaryDirectory() as tmp:
            writer = RecordingWriter(Path(tmp) / "r.jsonl", Header(
                format=1, tool_version="bench", started_at="", t=0.0, target="bench",
                profile_path=None, profile={}, workers=workers, meta={}), set())
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            delays = []
            for second in range(args.seconds):
                last_arrival = time.perf_counter()
                out: list[Tick] = []
                for worker in range(workers):
                    body = samples[(second + worker) % len(samples)]
                    tick = dataclasses.replace(body, second=second, t=float(second),
                                               elapsed=float(second))
                    last_arrival = time.perf_counter()
                    out += merger.add(worker, tick)
                for merged in out:
                    summary.add(merged)
                    writer.write(merged)
                delays.append(time.perf_counter() - last_arrival)
            writer.close()
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        rows.append({"workers": workers, "seconds": args.seconds,
                     "controller_cpu_ms_per_second": round(cpu / args.seconds * 1000, 2),
                     "share_of_a_core": round(cpu / args.seconds, 4),
                     "merge_delay_ms_p50": round(statistics.median(delays) * 1000, 2),
                     "merge_delay_ms_max": round(max(delays) * 1000, 2)})
        print(rows[-1], flush=True)
    save("controller", {"rows": rows, "total_rate": args.total_rate,
                        "note": "one second of input is processed as fast as it can be; "
                                "CPU per second of load is the figure that must stay < 1 core"})


def bench_cluster(args: argparse.Namespace) -> None:
    import ray

    cluster, seconds = start_cluster()
    try:
        rss = 0
        names: dict[str, int] = {}
        for process in psutil.process_iter(["name", "cmdline", "memory_info"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if "ray" in cmdline and process.pid != psutil.Process().pid:
                rss += process.info["memory_info"].rss
                key = (process.info["name"] or "?")[:20]
                names[key] = names.get(key, 0) + process.info["memory_info"].rss
        save("cluster", {"start_s": round(seconds, 1), "rss_mb": round(rss / 2**20, 1),
                         "by_process_mb": {k: round(v / 2**20, 1) for k, v in
                                           sorted(names.items(), key=lambda kv: -kv[1])}})
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pools = commands.add_parser("pools")
    pools.add_argument("--rates", type=int, nargs="+", default=[1000, 5000])
    pools.add_argument("--seconds", type=int, default=10)
    pools.set_defaults(handler=bench_pools)
    controller = commands.add_parser("controller")
    controller.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64])
    controller.add_argument("--seconds", type=int, default=30)
    controller.add_argument("--total-rate", type=int, default=64_000)
    controller.set_defaults(handler=bench_controller)
    cluster = commands.add_parser("cluster")
    cluster.set_defaults(handler=bench_cluster)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    main()
