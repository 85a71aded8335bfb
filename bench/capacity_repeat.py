"""Is find-capacity repeatable? Several identical searches against a real model server and the
sandbox, with the true capacity measured in the same run.

    .venv/bin/python bench/capacity_repeat.py --model 5 --sandbox 2

The model server is ``tests/servers/model_server.py``: nginx -> gunicorn (2 sync workers) ->
Flask + a scikit-learn decision tree, as SageMaker's "bring your own container" sample. Each
search is exactly what a user runs (``loadwatch find-capacity PROFILE --target URL
--headless``, defaults otherwise); its answer and spread come from the recording's
``capacity_result`` event. hey (closed loop, 8 connections) measures the server's throughput
after each search as a reference measured the same way each time: on a shared machine the
server's throughput moves with the neighbours' load, and the answer with it. The server runs
on core 1 and the client (loadwatch, and hey) on core 0 (``taskset``), as on separate
machines in real use, so the client's own CPU does not move the server's capacity under the
search; ``--no-pin`` lets them share both cores as before.

The sandbox's true capacity comes from a saturating run (600 req/s offered to one default
instance for 40 s, no scaling): the successful responses per second over its last 30 s, before
and after its searches (``loadwatch find-capacity --headless``, the default instance).

Results: Markdown on stdout, JSON in ``bench/results/capacity_repeat.json``. The machine is
shared with other work: the load average is recorded beside every search.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.recording import read_recording  # noqa: E402
from metrics.records import Event, Tick  # noqa: E402
from tests.servers.model_server import model_server  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BODY = "5,3.5,1.3,0.3"
MODEL_PROFILE = f"""\
config:
  target: http://127.0.0.1:1   # --target replaces it
  phases: [{{duration: 10, arrivalRate: 10}}]
scenarios:
  - flow:
      - post:
          url: /invocations
          headers: {{content-type: text/csv}}
          body: "{BODY}"
"""
SATURATION_PROFILE = f"""\
config:
  phases: [{{name: saturate, duration: 40, arrivalRate: 600}}]
scenarios:
  - flow:
      - post:
          headers: {{content-type: text/csv}}
          body: "{BODY}"
"""
LOADWATCH = [sys.executable, "-m", "tui"]


def pinned(core: str | None) -> list[str]:
    """``taskset -c CORE`` (when there is a core to pin to and taskset is installed)."""
    return ["taskset", "-c", core] if core and shutil.which("taskset") else []


def hey_rps(url: str, seconds: int = 10, connections: int = 8,
            core: str | None = None) -> float | None:
    if shutil.which("hey") is None:
        return None
    out = subprocess.run([*pinned(core), "hey", "-z", f"{seconds}s", "-c", str(connections),
                          "-m", "POST",
                          "-T", "text/csv", "-d", BODY, f"{url}/invocations"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


def search(args: list[str], recording: Path, core: str | None = None) -> dict[str, Any]:
    """One find-capacity, headless, as a user runs it; its answer from the recording."""
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    done = subprocess.run([*pinned(core), *LOADWATCH, "find-capacity", *args, "--headless",
                           "--interval",
                           "3600", "--record", str(recording)], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800)
    seconds = time.monotonic() - began
    return {
        "exit_code": done.returncode,
        **search_summary(recording),
        "seconds": round(seconds, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "result_line": next((line for line in done.stdout.splitlines()
                             if line.startswith("maximum sustainable")), done.stderr[-300:]),
    }


def search_summary(recording: Path) -> dict[str, Any]:
    """A search's answer, objective, recovery waits and runs, from its recording's events."""
    events = [r for r in read_recording(recording).records if isinstance(r, Event)]
    result = next((e.data for e in events if e.name == "capacity_result"), {})
    objectives = next((e.data for e in events if e.name == "capacity_objectives"), {})
    waits = [e.data for e in events if e.name in ("capacity_recovered", "capacity_unrecovered")]
    steps = [e.data for e in events if e.name == "capacity_verdict"]
    return {
        "max_rps": result.get("max_rps"),
        "first_failing_rps": result.get("first_failing_rps"),
        "spread": result.get("spread"),
        "recovered": result.get("recovered"),
        "unloaded_p99_ms": objectives.get("unloaded_p99_ms"),
        "latency_objective_ms": objectives.get("latency_objective_ms"),
        "waits_s": [w.get("waited_s") for w in waits],
        "runs": [(s["rate"], s.get("run", 1), "aside" if s.get("contaminated") else
                  "pass" if s["passed"] else "FAIL") for s in steps],
        "steps": [{k: s.get(k) for k in ("rate", "run", "passed", "reasons", "p99_ms",
                                          "backlog_growth", "stopped_early", "recovery_s")}
                  for s in steps],
    }


def sandbox_true_capacity(work: Path, name: str) -> float:
    """Successful responses per second from one default instance offered 600 req/s."""
    profile = work / "saturate.yml"
    profile.write_text(SATURATION_PROFILE)
    recording = work / f"{name}.jsonl"
    subprocess.run([*LOADWATCH, "run", str(profile), "--headless", "--interval", "3600",
                    "--record", str(recording)], cwd=ROOT, capture_output=True, text=True,
                   timeout=300)
    ticks = [r for r in read_recording(recording).records
             if isinstance(r, Tick) and r.in_schedule and r.second >= 10]
    return sum(t.outcomes.get("ok", 0) for t in ticks) / max(len(ticks), 1)


def model_summary(searches: list[dict[str, Any]]) -> dict[str, Any]:
    answers = [s["max_rps"] for s in searches]
    hey = [s["hey_after_rps"] for s in searches]
    return {"searches": searches, "answers": answers, "max_over_min": spread(answers),
            "hey_rps": hey, "hey_max_over_min": spread(hey),
            "answer_over_hey": [round(a / h, 3) if a and h else None
                                for a, h in zip(answers, hey, strict=True)]}


def spread(values: list[float]) -> float | None:
    values = [v for v in values if v]
    return round(max(values) / min(values), 3) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=int, default=5, help="searches against the model server")
    parser.add_argument("--sandbox", type=int, default=2, help="searches against the sandbox")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin: the server and the client share both cores")
    parser.add_argument("--out", type=Path, default=RESULTS / "capacity_repeat.json")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lw-capacity-"))
    # Parts not run this time keep what an earlier run measured.
    report: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.update({"cores": os.cpu_count(), "shared_machine": True})

    def save() -> None:  # after each part, so a long run that breaks keeps what it measured
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    if args.sandbox:
        before = sandbox_true_capacity(work, "saturate-before")
        print(f"sandbox true capacity before: {before:.1f} req/s", flush=True)
        searches = []
        for i in range(args.sandbox):
            found = search([], work / f"sandbox-{i}.jsonl")
            print(f"sandbox search {i + 1}: {found['result_line']} ({found['seconds']:.0f} s)",
                  flush=True)
            searches.append(found)
        after = sandbox_true_capacity(work, "saturate-after")
        true = (before + after) / 2
        answers = [s["max_rps"] for s in searches]
        report["sandbox"] = {
            "true_capacity_rps": [round(before, 1), round(after, 1)], "searches": searches,
            "answers": answers, "off_by_percent": [
                None if a is None else round(100 * (a - true) / true, 1) for a in answers]}
        save()
    if args.model:
        profile = work / "model.yml"
        profile.write_text(MODEL_PROFILE)
        # As on separate machines in real use: the server on core 1, the client (loadwatch's
        # controller and worker, or hey) on core 0, so the client's CPU does not move the
        # server's capacity under the search. Other processes on the box still share both.
        server_core, client_core = (None, None) if args.no_pin else ("1", "0")
        report["model_pinning"] = None if args.no_pin else {"server": "1", "client": "0"}
        with model_server(2, pin=server_core) as server:
            report["model_hey_before_rps"] = hey_rps(server.url, core=client_core)
            searches = []
            for i in range(args.model):
                found = search([str(profile), "--target", server.url], work / f"model-{i}.jsonl",
                               client_core)
                # The server's throughput right after, the same way each time: on a shared
                # machine it moves with the neighbours' load, and the answer with it.
                found["hey_after_rps"] = hey_rps(server.url, core=client_core)
                print(f"model search {i + 1}: {found['result_line']} "
                      f"({found['seconds']:.0f} s, load {found['load_average']}, "
                      f"hey after {found['hey_after_rps']} req/s)", flush=True)
                searches.append(found)
                report["model"] = model_summary(searches)
                save()  # after each search: a long run that is stopped keeps what it measured
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: v for k, v in report.items() if k not in ("model", "sandbox")}))
    for kind in ("model", "sandbox"):
        if kind in report:
            print(f"{kind}: answers {report[kind]['answers']}", {
                "model": lambda r: f"max/min {r['max_over_min']}",
                "sandbox": lambda r: f"true {r['true_capacity_rps']}, off by "
                                     f"{r['off_by_percent']} %"}[kind](report[kind]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
