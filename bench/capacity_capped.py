"""Does find-capacity repeat on a real server that holds still, and is its answer true?

    .venv/bin/python bench/capacity_capped.py --searches 3

The server is ``bench/capped_server.py``: nginx -> gunicorn (2 sync workers) -> Flask + a
scikit-learn tree, all under ``/work/shared/tools/cpucap 0.6`` on core 0 (``taskset -c 0``),
so its own capacity holds still on a shared host. The client (hey, loadwatch) runs on core 1.
Every measured piece runs under ``flock /work/measure.lock`` so no other measurement on the
machine overlaps it (or the whole session does, ``--session-locked`` under the caller's
``flock``); the server stays up between pieces (one session):

1. hey, closed loop, 8 connections, four 8 s runs: the server's throughput, as issue 22 did;
2. ``--searches`` searches in a row, each exactly as a user runs it (``loadwatch find-capacity
   PROFILE --target URL --headless``); answer, recovery waits and time from the recording;
   hey's four runs again after each search, so the report shows whether the server held still;
3. 120 s open-loop runs (``loadwatch run``, the same request) at the searches' median answer
   and at 1.15 x it, each judged by the search's own rule (``driver.capacity.search.judge``
   with the objective the first search derived, the first 3 s not judged, the backlog fitted
   over the rest): the answer should meet it and 1.15 x should not.

Throughout, ``bench/cpu_gauge.py`` times a fixed piece of work on the server's core every half
second: ``cpucap`` fixes the server's CPU time, not what that time is worth, and on this host
the same work costs 1.0-1.6x the CPU time from second to second. Each piece's gauge (median,
slowdown against the session's fastest samples, share of slow samples) is in the report.

Results: Markdown-ish lines on stdout, JSON in ``bench/results/capacity_capped.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.capacity_repeat import BODY, MODEL_PROFILE, search_summary  # noqa: E402
from bench.capped_server import capped_model_server  # noqa: E402
from bench.cpu_gauge import fastest, gauged, load, summary  # noqa: E402
from driver.capacity.run import CapacityRun, HoldJudge, StepPlan  # noqa: E402
from driver.capacity.search import CapacitySearch, Objectives, judge  # noqa: E402
from metrics.recording import read_recording  # noqa: E402
from metrics.records import Tick  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LOCK = "/work/measure.lock"
LOCKING = True  # False: the caller holds LOCK for the whole session (--session-locked)
# The request of capacity_repeat.py's model profile (one CSV row to /invocations).
REQUEST = MODEL_PROFILE[MODEL_PROFILE.index("scenarios:"):]
LOADWATCH = [sys.executable, "-m", "tui"]


def measured(command: list[str], core: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``flock LOCK taskset -c CORE COMMAND``: one measurement at a time on the machine. The
    wait for the lock is not bounded (others' measurements take what they take); the command
    is, by ``timeout`` seconds once it holds the lock."""
    lock = ["flock", LOCK] if LOCKING else []
    return subprocess.run([*lock, "timeout", f"{timeout:g}", "taskset", "-c", core, *command],
                          cwd=ROOT, capture_output=True, text=True)


def hey(url: str, core: str, runs: int = 4, seconds: int = 8) -> list[float]:
    found = []
    for _ in range(runs):
        out = measured(["hey", "-z", f"{seconds}s", "-c", "8", "-m", "POST", "-T", "text/csv",
                        "-d", BODY, f"{url}/invocations"], core, seconds + 600).stdout
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if match:
            found.append(round(float(match.group(1)), 1))
    return found


def search(url: str, core: str, work: Path, i: int) -> dict[str, Any]:
    profile = work / "search.yml"
    profile.write_text("config:\n  target: http://127.0.0.1:1\n"
                       "  phases: [{duration: 10, arrivalRate: 10}]\n" + REQUEST)
    recording = work / f"search-{i}.jsonl"
    began = time.monotonic()
    done = measured([*LOADWATCH, "find-capacity", str(profile), "--target", url, "--headless",
                     "--interval", "3600", "--record", str(recording)], core, 3600)
    seconds = time.monotonic() - began
    return {
        "exit_code": done.returncode,
        **search_summary(recording),
        "seconds": round(seconds, 1),
        "table": [line for line in done.stdout.splitlines()[-40:]],
    }


def open_loop(url: str, core: str, work: Path, rate: float, objective_ms: float,
              seconds: int = 120) -> dict[str, Any]:
    """``loadwatch run`` at ``rate`` for ``seconds``; judged as the search judges a run."""
    name = f"open-{rate:g}"
    profile = work / f"{name}.yml"
    profile.write_text(f"config:\n  target: {url}\n"
                       f"  phases: [{{duration: {seconds}, arrivalRate: {rate:g}}}]\n" + REQUEST)
    recording = work / f"{name}.jsonl"
    measured([*LOADWATCH, "run", str(profile), "--headless", "--interval", "3600",
              "--record", str(recording)], core, seconds + 600)
    replay = read_recording(recording)
    ticks = [r for r in replay.records if isinstance(r, Tick) and r.in_schedule]
    search = CapacitySearch(start_rps=rate, objectives=Objectives())
    search.latency_objective_ms, search.strict_latency = objective_ms, False
    run = CapacityRun(search, StepPlan.for_period(10, rate))
    run.ticks = ticks
    epoch0 = replay.header.t
    first, last = min(t.second for t in ticks) + 3, max(t.second for t in ticks)

    def measure(a: int, b: int, stopped_early: bool = False, overloaded_s: int = 0):
        return run._measure(rate, a, b, epoch0, stopped_early, overloaded_s)

    hold = HoldJudge(search, rate, first, last, measure, run._in_flight)
    for second in range(first, last + 1):
        hold.second_done(second)
    result = hold.result()
    verdict = judge(result, search.objectives, objective_ms, strict_latency=False)
    return {"rate": rate, "seconds": seconds, "passed": verdict.passed,
            "reasons": list(verdict.reasons), "achieved_rps": round(result.achieved_rps, 1),
            "error_rate": result.error_rate, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
            "judged_p99_ms": result.judged_p99_ms, "backlog_growth": result.backlog_growth,
            "slow_share": result.slow_share}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--searches", type=int, default=3)
    parser.add_argument("--cpus", type=float, default=0.6)
    parser.add_argument("--open-seconds", type=int, default=120)
    parser.add_argument("--session-locked", action="store_true",
                        help="the caller holds /work/measure.lock for the whole session "
                             "(flock /work/measure.lock python bench/capacity_capped.py "
                             "--session-locked): do not take it per piece")
    parser.add_argument("--out", type=Path, default=RESULTS / "capacity_capped.json")
    args = parser.parse_args(argv)
    global LOCKING
    LOCKING = not args.session_locked
    work = Path(tempfile.mkdtemp(prefix="lw-capped-"))
    report: dict[str, Any] = {"cpus": args.cpus, "server_core": "0", "client_core": "1",
                              "shared_machine": True, "load_average": [os.getloadavg()[0]]}

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on the way out
    pieces: list[tuple[dict[str, Any], float, float]] = []  # (its report, began, ended)

    def timed(piece: dict[str, Any], began: float) -> dict[str, Any]:
        pieces.append((piece, began, time.time()))
        return piece

    def hey_block(name: str) -> list[float]:
        began = time.time()
        found = hey(url, "1")
        timed(report.setdefault("hey", {}).setdefault(name, {"rps": found}), began)
        print(f"hey {name} (8 connections, 4 x 8 s): {found} req/s", flush=True)
        return found

    with capped_model_server(args.cpus, "0") as url, gauged("0", work / "gauge.json") as gauge:
        report["hey_rps"] = hey_block("before")
        report["searches"] = []
        for i in range(args.searches):
            began = time.time()
            found = timed(search(url, "1", work, i), began)
            report["searches"].append(found)
            print(f"search {i + 1}: {found['max_rps']} req/s (exit {found['exit_code']}, "
                  f"{found['seconds']:.0f} s, waits {found['waits_s']} s)", flush=True)
            hey_block(f"after search {i + 1}")
            save()
        answers = [s["max_rps"] for s in report["searches"] if s["max_rps"]]
        report["answers"] = answers
        report["max_over_min"] = round(max(answers) / min(answers), 3) if answers else None
        if answers:
            answer = statistics.median(answers)
            objective = report["searches"][0]["latency_objective_ms"]
            report["open_loop"] = []
            for rate in (answer, round(answer * 1.15)):
                began = time.time()
                found = timed(open_loop(url, "1", work, rate, objective, args.open_seconds),
                              began)
                report["open_loop"].append(found)
                print(f"open loop {rate:g} req/s for {args.open_seconds} s: "
                      f"{'meets' if found['passed'] else 'FAILS'} the objective "
                      f"({found['reasons'] or 'p99 %.1f ms' % (found['p99_ms'] or 0)})",
                      flush=True)
                save()
    samples = load(gauge)
    if samples:
        fast = fastest([ms for _, ms in samples])
        report["gauge_fast_ms"] = fast
        for piece, began, ended in pieces:
            piece["gauge"] = summary(samples, began, ended, fast)
            what = piece.get("max_rps") or piece.get("rate") or piece.get("rps")
            print(f"gauge during {what}: {piece['gauge']}", flush=True)
    report["load_average"].append(os.getloadavg()[0])
    save()
    shutil.rmtree(work, ignore_errors=True)
    print(f"answers {report.get('answers')}, max/min {report.get('max_over_min')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
