"""Issue 22 on the sandbox: the search before the issue against the search now, alternating,
each answer against the sandbox's true capacity measured in the same session.

    flock /work/measure.lock .venv/bin/python bench/capacity_sandbox_ab.py --old /work/wt-old

``--old`` is a worktree of the code before issue 22 (``git worktree add DIR 755a2c4``) with
its own ``.venv``. Each search is what a user runs, ``loadwatch find-capacity --headless``
(the sandbox's default instance, defaults otherwise), from that tree's own code, sandbox
included. The true capacity is ``bench/capacity_repeat.py``'s saturating run (600 req/s
offered to one default instance for 40 s, no scaling; successful responses per second after
its first 10 s), with this tree's code before the searches and, time allowing, after them
and with the old tree's code. ``--stop-by HH:MM`` (UTC) skips whatever would not end by then.
Results: ``bench/results/capacity_sandbox_issue22.json``. The host is shared: the load
average is recorded beside every step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from capacity_repeat import SATURATION_PROFILE, search_summary  # noqa: E402

from metrics.recording import read_recording  # noqa: E402
from metrics.records import Tick  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def loadwatch(tree: Path) -> list[str]:
    return [str(tree / ".venv" / "bin" / "python"), "-m", "tui"]


def saturate(tree: Path, work: Path, name: str) -> float:
    """Successful responses per second from one default instance offered 600 req/s."""
    profile = work / "saturate.yml"
    profile.write_text(SATURATION_PROFILE)
    recording = work / f"{name}.jsonl"
    subprocess.run([*loadwatch(tree), "run", str(profile), "--headless", "--interval", "3600",
                    "--record", str(recording)], cwd=tree, capture_output=True, text=True,
                   timeout=300)
    ticks = [r for r in read_recording(recording).records
             if isinstance(r, Tick) and r.in_schedule and r.second >= 10]
    return sum(t.outcomes.get("ok", 0) for t in ticks) / max(len(ticks), 1)


def search(tree: Path, recording: Path) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    done = subprocess.run([*loadwatch(tree), "find-capacity", "--headless", "--interval", "3600",
                           "--record", str(recording)], cwd=tree, capture_output=True,
                          text=True, timeout=1800)
    return {
        "exit_code": done.returncode, **search_summary(recording),
        "seconds": round(time.monotonic() - began, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "result_line": next((line for line in done.stdout.splitlines()
                             if line.startswith("maximum sustainable")), done.stderr[-300:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="worktree of the old code")
    parser.add_argument("--order", default="old,new,new,old")
    parser.add_argument("--stop-by", help="HH:MM UTC: start nothing that would end later")
    parser.add_argument("--search-estimate-s", type=float, default=420)
    parser.add_argument("--out", type=Path, default=RESULTS / "capacity_sandbox_issue22.json")
    parser.add_argument("--append", action="store_true",
                        help="add to --out's searches, skip the first saturating run")
    parser.add_argument("--no-after", action="store_true", help="no saturating runs after")
    args = parser.parse_args()
    trees = {"new": ROOT, "old": args.old.resolve()}
    stop_by = None
    if args.stop_by:
        now = dt.datetime.now(dt.UTC)
        hour, minute = map(int, args.stop_by.split(":"))
        stop_by = now.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()

    def fits(seconds: float) -> bool:
        return stop_by is None or time.time() + seconds <= stop_by

    work = Path(tempfile.mkdtemp(prefix="lw-cap-ab-"))
    report: dict[str, Any] = {"shared_machine": True, "cores": os.cpu_count(),
                              "old_commit": subprocess.run(
                                  ["git", "rev-parse", "HEAD"], cwd=trees["old"],
                                  capture_output=True, text=True).stdout.strip(),
                              "new_commit": subprocess.run(
                                  ["git", "rev-parse", "HEAD"], cwd=ROOT,
                                  capture_output=True, text=True).stdout.strip(),
                              "true_capacity_rps": {}, "searches": []}
    if args.append:
        report = json.loads(args.out.read_text())

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    def true_capacity(code: str, name: str) -> None:
        load = os.getloadavg()[0]
        rps = saturate(trees[code], work, name)
        report["true_capacity_rps"][name] = {"code": code, "rps": round(rps, 1),
                                             "load_average": round(load, 2)}
        print(f"true capacity ({name}, {code} code): {rps:.1f} req/s (load {load:.2f})",
              flush=True)
        save()

    if not args.append:
        true_capacity("new", "before")
    for i, code in enumerate(args.order.split(","), start=len(report["searches"])):
        if not fits(args.search_estimate_s):
            print(f"search {i + 1} ({code}) skipped: would end after --stop-by", flush=True)
            continue
        found = search(trees[code], work / f"{code}-{i}.jsonl")
        found["code"] = code
        report["searches"].append(found)
        print(f"search {i + 1} ({code}): {found['result_line']} ({found['seconds']:.0f} s, "
              f"{len(found['runs'])} runs, load {found['load_average']})", flush=True)
        save()
    for code, name in (("new", "after"), ("old", "old_code")):
        if fits(60) and not args.no_after:
            true_capacity(code, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
