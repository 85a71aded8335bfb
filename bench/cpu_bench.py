"""CPU per request of one load worker at ordinary rates, against hey in the same run (issue 11).

    python bench/cpu_bench.py            # both figures below, with the issue's defaults
    python bench/cpu_bench.py cpu        # worker vs hey CPU per request at 500 and 2,000 req/s
    python bench/cpu_bench.py ceiling    # one worker at 10,000 req/s on one core, 3 runs

``cpu``: for each target (nginx answering a fixed body; the real model server, nginx ->
gunicorn -> Flask + scikit-learn from ``tests/servers``) and each rate, ``--repeat`` rounds
alternate a loadwatch run (one worker, headless, recorded) and hey (``-q`` per worker times
``-c`` workers = the rate, ``-cpus 1``). The client has core 0, the target core 1. CPU time
is read from ``/proc/<pid>/stat`` (utime + stime) of the worker process and of hey, over the
same window of each run (after a 2 s warm-up, until 1 s before the end), and divided by the
requests completed in that window. Send-lag p99 comes from the worker's recording.

``ceiling``: one worker at 10,000 req/s against nginx, pinned to core 0, ``--repeat`` runs:
held when achieved within 1 % with send-lag p99 under 2 ms and nothing dropped (as
``driver_bench.py throughput``).

Results: Markdown-ready JSON on stdout and ``bench/results/cpu.json`` / ``ceiling.json``. The
machine may be shared: compare the ratios of runs made side by side, not absolute figures.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver_bench import (
    BODY,
    ROOT,
    _pin_workers,
    loadwatch,
    median,
    nginx,
    pin,
    save,
    sustained,
)

from metrics import hdr
from metrics.recording import read_recording
from metrics.records import Tick

TICKS = os.sysconf("SC_CLK_TCK")
WARMUP_S = 2.0
TAIL_S = 1.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc (fields 14 and 15 of its stat line)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def window(pid: int, started: float, seconds: float) -> tuple[float, float]:
    """CPU seconds and wall seconds of ``pid`` between warm-up and the run's tail."""
    time.sleep(max(0.0, started + WARMUP_S - time.monotonic()))
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    time.sleep(max(0.0, started + seconds - TAIL_S - time.monotonic()))
    cpu1, wall1 = cpu_seconds(pid), time.monotonic()
    return cpu1 - cpu0, wall1 - wall0


def run_loadwatch(url: str, rate: float, seconds: int, connections: int = 64) -> dict:
    work = Path(tempfile.mkdtemp(prefix="lw-cpu-"))
    profile = work / "profile.yml"
    profile.write_text(f"""
config:
  target: {url}
  phases: [{{duration: {seconds}, arrivalRate: {rate}, name: cpu}}]
load: {{connections: {connections}, workers: 1}}
scenarios:
  - flow: [{{post: {{url: /invocations, body: "{BODY}", headers: {{content-type: text/csv}}}}}}]
""")
    recording = work / "r.jsonl"
    process = subprocess.Popen(
        [*pin(1), sys.executable, "-m", "tui", "run", str(profile), "--headless",
         "--interval", "3600", "--record", str(recording)], cwd=ROOT, stdout=subprocess.DEVNULL)
    import psutil

    _pin_workers(process.pid, 1, 0)
    worker = next(c for c in psutil.Process(process.pid).children()
                  if "driver.load.process" in " ".join(c.cmdline()))
    # The schedule starts when the worker is ready; its creation time is close enough for a
    # window that leaves seconds of margin at both ends.
    started = time.monotonic() - (time.time() - worker.create_time())
    cpu, wall = window(worker.pid, started, seconds)
    process.wait()
    replay = read_recording(recording)
    total = replay.footer.summary["total"]
    completed_rps = total["throughput_rps"]
    steady = hdr.merge(t.lag for t in replay.records if isinstance(t, Tick) and t.second >= 1)
    return {
        "tool": "loadwatch", "rate": rate, "achieved_rps": round(total["achieved_rps"], 1),
        "completed_rps": round(completed_rps, 1), "ok": total["ok"],
        "errors": total["errors_total"], "not_sent": total["not_sent"],
        "retried": total.get("retried", 0),
        "lag_p99_ms": total["lag_ms"]["p99"],
        "lag_p99_after_warmup_ms": hdr.percentile_ms(steady, 99),
        "latency_p50_ms": total["latency_ms"]["p50"],
        "cpu_cores": round(cpu / wall, 4),
        "cpu_us_per_request": round(cpu / (wall * completed_rps) * 1e6, 1),
    }


def run_hey(url: str, rate: float, seconds: int) -> dict:
    workers = max(1, min(64, round(rate / 100)))  # 500 -> 5 x 100/s, 2,000 -> 20 x 100/s
    process = subprocess.Popen(
        [*pin(0), "hey", "-z", f"{seconds}s", "-c", str(workers), "-q", f"{rate / workers:g}",
         "-cpus", "1", "-m", "POST", "-T", "text/csv", "-d", BODY, url + "/invocations"],
        stdout=subprocess.PIPE, text=True)
    cpu, wall = window(process.pid, time.monotonic(), seconds)
    out, _ = process.communicate()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    statuses = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    return {
        "tool": "hey", "rate": rate, "workers": workers, "completed_rps": rps,
        "statuses": {k: int(v) for k, v in statuses.items()},
        "cpu_cores": round(cpu / wall, 4),
        "cpu_us_per_request": round(cpu / (wall * rps) * 1e6, 1),
    }


def model_server_target():
    sys.path.insert(0, str(ROOT))
    from tests.servers.model_server import model_server

    return model_server(pin="1" if (os.cpu_count() or 1) >= 2 else None)


def bench_cpu(args: argparse.Namespace) -> None:
    rounds = []
    for target in args.targets:
        server = nginx(core=1) if target == "nginx" else model_server_target()
        with server as handle:
            url = handle if isinstance(handle, str) else handle.url
            for repeat in range(args.repeat):
                for rate in args.rates:
                    # Alternate who goes first, so a drift of the shared machine hits both.
                    order = (run_loadwatch, run_hey) if repeat % 2 == 0 else (run_hey,
                                                                             run_loadwatch)
                    pair: dict = {}
                    for run in order:
                        result = run(url, rate, args.seconds)
                        pair[result["tool"]] = result
                        print(target, result, file=sys.stderr)
                    pair["ratio"] = round(pair["loadwatch"]["cpu_us_per_request"]
                                          / pair["hey"]["cpu_us_per_request"], 3)
                    rounds.append({"target": target, "rate": rate, **pair})
    summary = {}
    for target in args.targets:
        for rate in args.rates:
            mine = [r for r in rounds if r["target"] == target and r["rate"] == rate]
            summary[f"{target} {rate:g}"] = {
                "loadwatch_us_per_request": median([r["loadwatch"]["cpu_us_per_request"]
                                                    for r in mine]),
                "hey_us_per_request": median([r["hey"]["cpu_us_per_request"] for r in mine]),
                "ratio_per_round": [r["ratio"] for r in mine],
                "median_ratio": median([r["ratio"] for r in mine]),
                "lag_p99_ms": [r["loadwatch"]["lag_p99_ms"] for r in mine],
                "lag_p99_after_warmup_ms": [r["loadwatch"]["lag_p99_after_warmup_ms"]
                                            for r in mine],
                "loadwatch_completed_rps": [r["loadwatch"]["completed_rps"] for r in mine],
                "hey_completed_rps": [r["hey"]["completed_rps"] for r in mine],
            }
    save("cpu", {"seconds": args.seconds, "summary": summary, "rounds": rounds})


def bench_ceiling(args: argparse.Namespace) -> None:
    runs = []
    with nginx(core=1) as url:
        for _ in range(args.repeat):
            run = loadwatch(url, args.ceiling, args.seconds)
            run["sustained"] = sustained(run)
            runs.append(run)
            print(run, file=sys.stderr)
    save("ceiling", {"rate": args.ceiling, "seconds": args.seconds,
                     "sustained_runs": sum(r["sustained"] for r in runs), "runs": len(runs),
                     "lag_p99_ms": [r["lag_p99_ms"] for r in runs],
                     "achieved_ratio": [r["achieved_ratio"] for r in runs], "detail": runs})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", nargs="?", choices=["all", "cpu", "ceiling"], default="all")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rates", type=float, nargs="+", default=[500, 2000])
    parser.add_argument("--targets", nargs="+", choices=["nginx", "model"],
                        default=["nginx", "model"])
    parser.add_argument("--ceiling", type=float, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # A plain kill still stops the servers this bench started (their context managers).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.bench in ("all", "cpu"):
        bench_cpu(args)
    if args.bench in ("all", "ceiling"):
        bench_ceiling(args)


if __name__ == "__main__":
    main()
