"""Does the twin predict a server nobody here wrote? Fit it from one find-capacity run of the
real model server, predict p99 and error share at 60, 90 and 120 % of the capacity found, run
the same load for real, and compare (issue 21, part 4; docs/twin.md).

    .venv/bin/python bench/twin_real_server.py --out /tmp/twin-real

It holds ``/work/measure.lock`` for the whole measured session (``--session-locked`` when the
caller already holds it: ``flock /work/measure.lock python ... --session-locked``); ``--reuse``
with both recordings in ``--out`` only re-analyses them, with no server and no lock.

The server is ``bench/capped_server.py``: nginx -> gunicorn (2 sync workers) -> Flask + a
scikit-learn tree, all under ``/work/shared/tools/cpucap 0.6`` pinned to core 0; loadwatch
(the search and the open-loop run) is pinned to core 1. The whole session runs under the
lock. The open-loop run is one profile of three phases at
60, 90 and 120 % of the search's answer (``--phase-seconds`` each, the overloaded one last so
its queue cannot spill into the others); the twin runs the same profile in virtual time (no
scaling: one instance). Printed per phase: p50, p99 (ok) and error share, real vs twin.
A twin fitted with fast and slow stretches is a random process: where its stretches fall
decides its p99 near saturation, so it also runs ``--seeds`` times and the table gives its
p99's median and 10-90 % band per phase beside the one real run.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
import urllib.request
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.capacity_repeat import MODEL_PROFILE  # noqa: E402
from bench.capped_server import capped_model_server  # noqa: E402
from bench.twin_accuracy import arguments, finish, phase_table, write_records  # noqa: E402
from metrics.recording import read_recording  # noqa: E402
from metrics.records import Event  # noqa: E402

PYTHON = sys.executable
REQUEST = MODEL_PROFILE[MODEL_PROFILE.index("scenarios:"):]
SHARES = (0.6, 0.9, 1.2)
LOCK = "/work/measure.lock"


def loadwatch(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """loadwatch on core 1 (the server has core 0)."""
    return subprocess.run(["timeout", f"{timeout:g}", "taskset", "-c", "1", PYTHON, "-m", "tui",
                           *args], cwd=ROOT, capture_output=True, text=True)


def answer(recording: Path) -> float | None:
    """The search's maximum sustainable rate, from its ``capacity_result`` event."""
    return next((e.data.get("max_rps") for e in read_recording(recording).records
                 if isinstance(e, Event) and e.name == "capacity_result"), None)


def drained(url: str, limit_s: float = 90.0) -> float:
    """Wait until /ping answers within 50 ms (the server's queue is served); seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        started = time.monotonic()
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=5).read()
            if time.monotonic() - started < 0.05:
                return round(time.monotonic() - began, 1)
        except OSError:
            pass
        time.sleep(1.0)
    return round(time.monotonic() - began, 1)


def seeds_table(real: Path, twin: Any, traffic: Any, seeds: int) -> list[str]:
    """Per phase: the real p99 beside the twin's median and 10-90 % band over ``seeds`` runs."""
    from metrics.analysis import analyze
    from twin.virtual import VirtualRun

    measured = analyze(read_recording(real))
    runs: list[list[float | None]] = []
    for seed in range(seeds):
        records = VirtualRun(twin, traffic, None, seed=seed).run(records=True).records
        path = real.with_name("seeds-twin.jsonl")
        write_records(records, path)
        modelled = analyze(read_recording(path))
        runs.append([modelled.figures(w).p99_ms for w in modelled.phases])
    lines = [f"twin over {seeds} seeds:", "",
             "| phase | p99 real (ms) | twin p99 median (ms) | 10-90 % | real / median | "
             "real in band |", "|---|---|---|---|---|---|"]
    for i, window in enumerate(measured.phases):
        real_p99 = measured.figures(window).p99_ms
        found = [r[i] for r in runs if i < len(r) and r[i] is not None]
        if not found or real_p99 is None:
            continue
        low, mid, high = np.percentile(found, [10, 50, 90])
        lines.append(f"| {window.name} | {real_p99:.1f} | {mid:.1f} | {low:.1f}-{high:.1f} | "
                     f"{real_p99 / mid:.2f} | {'yes' if low <= real_p99 <= high else 'no'} |")
    return lines


def main() -> int:
    parser = arguments(__doc__.splitlines()[0], "/tmp/twin-real")
    parser.add_argument("--phase-seconds", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=20,
                        help="twin runs for the p99 band (a twin with stretches is random)")
    parser.add_argument("--session-locked", action="store_true",
                        help=f"the caller holds {LOCK} (flock {LOCK} python ...): do not take "
                             "it here")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    search = out / "capacity.jsonl"
    real = out / "open-loop.jsonl"
    report: list[str] = []
    # Re-analysing both recordings needs no server (the profile's URL is then a placeholder).
    measured = not (args.reuse and search.exists() and real.exists())
    server = capped_model_server(args.cpus, "0") if measured else nullcontext("http://x:1")
    lock = None
    if measured and not args.session_locked:  # one measurement at a time on the machine
        lock = open(LOCK, "a")  # noqa: SIM115 (held until the process ends)
        print(f"waiting for {LOCK}…", file=sys.stderr, flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    with server as url:
        if not (args.reuse and search.exists()):
            profile = out / "search.yml"
            profile.write_text("config:\n  target: http://127.0.0.1:1\n"
                               "  phases: [{duration: 10, arrivalRate: 10}]\n" + REQUEST)
            began = time.monotonic()
            done = loadwatch("find-capacity", str(profile), "--target", url, "--headless",
                             "--interval", "3600", "--record", str(search))
            report.append(f"find-capacity: exit {done.returncode}, "
                          f"{time.monotonic() - began:.0f} s")
            report += done.stdout.splitlines()[-30:]
        found = answer(search)
        if not found:
            print("\n".join(report))
            raise SystemExit("the search found no capacity")
        report.append(f"capacity found: {found} req/s")
        fitted = subprocess.run([PYTHON, "-m", "tui", "twin", str(search), "-o",
                                 str(out / "twin.yml")], cwd=ROOT, capture_output=True,
                                text=True)
        report.append(f"loadwatch twin: exit {fitted.returncode} {fitted.stdout.strip()} "
                      f"{fitted.stderr.strip()}")
        if fitted.returncode != 0:
            print("\n".join(report))
            return 1
        phases = "".join(f"    - {{name: '{share:.0%}', duration: {args.phase_seconds}, "
                         f"arrivalRate: {round(found * share)}}}\n" for share in SHARES)
        open_profile = out / "open-loop.yml"
        open_profile.write_text(f"config:\n  target: {url}\n  phases:\n{phases}" + REQUEST)
        if not (args.reuse and real.exists()):
            report.append(f"drained after the search in {drained(url)} s")
            done = loadwatch("run", str(open_profile), "--headless", "--interval", "3600",
                             "--record", str(real))
            report.append(f"open loop: exit {done.returncode}")
    predicted = out / "open-loop-twin.jsonl"
    from driver.profile import load_profile
    from twin.model import load_twin
    from twin.virtual import VirtualRun, traffic_from_profile

    twin = load_twin(out / "twin.yml")
    report.append(f"twin: {twin.capacity_rps:g} req/s, {twin.workers} in parallel, queue "
                  f"{twin.queue_bound}, service {twin.service_time_ms:.1f} ms")
    if twin.stretches is not None:
        st = twin.stretches
        report.append(f"twin stretches: {st.fast_rps:.0f} req/s fast (~{st.fast_s:.1f} s), "
                      f"{st.slow_rps:.0f} req/s slow (~{st.slow_s:.1f} s)")
    traffic = traffic_from_profile(load_profile(open_profile))
    records = VirtualRun(twin, traffic, None, seed=args.seed).run(records=True).records
    write_records(records, predicted)
    report += ["", *phase_table(real, predicted, rates=True)]
    report += ["", *seeds_table(real, twin, traffic, args.seeds)]
    return finish(out, report)


if __name__ == "__main__":
    sys.exit(main())
