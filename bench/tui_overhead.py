"""What the monitor costs while load runs: its CPU, and whether it disturbs the workers.

    python bench/tui_overhead.py [--rps 1000] [--seconds 60] [--pairs 2]

The same profile (constant ``--rps`` against ``bench/delay_server.py`` answering in 10 ms)
runs headless and in the monitor (inside tmux at 160x48, as a person would watch it),
alternating, ``--pairs`` times each. For each run:

- controller CPU: user+system seconds of the ``loadwatch`` process itself (load workers are
  separate processes and not counted) between 10 s after load starts and 5 s before its end,
  as a share of one core;
- send-lag p99 of the load workers, from the recording's summary (actual minus intended send
  time: what a slow controller would push up).

It prints a Markdown table and the medians, and writes ``bench/results/tui_overhead.json``.
The machine is shared and noisy: read the monitor/headless ratios, which come from the same
run, rather than the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.recording import read_recording  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LOADWATCH = Path(sys.executable).parent / "loadwatch"
SKIP_START_S = 10.0
SKIP_END_S = 5.0
PROFILE = """
config:
  target: http://127.0.0.1:{port}
  phases:
    - {{duration: {seconds}, arrivalRate: {rps}, name: steady}}
scenarios:
  - flow:
      - post: {{url: /invocations, body: "5,3.5,1.3,0.3", headers: {{content-type: text/csv}}}}
"""


def start_server() -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "delay_server.py"),
                               "--port", "0", "--delay-ms", "10"], stdout=subprocess.PIPE,
                              text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        sys.exit(f"the delay server did not start: {line!r}")
    return server, int(line.split()[1])


def controller_cpu(process: psutil.Process, seconds: float) -> float:
    """Share of one core the process used while load was steady (its children excluded)."""
    time.sleep(SKIP_START_S)
    start = process.cpu_times()
    began = time.monotonic()
    time.sleep(max(1.0, seconds - SKIP_START_S - SKIP_END_S))
    end = process.cpu_times()
    busy = (end.user - start.user) + (end.system - start.system)
    return busy / (time.monotonic() - began)


def wait_for_load(recording: Path, timeout: float = 60.0) -> None:
    """Until the recording has its header and the session's first event: load has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if recording.exists() and recording.stat().st_size and \
                recording.read_text(encoding="utf-8").count("\n") >= 2:
            return
        time.sleep(0.1)
    sys.exit(f"load never started ({recording})")


def lag_p99(recording: Path) -> float:
    footer = read_recording(recording).footer
    if footer is None:
        sys.exit(f"{recording}: no footer, the run did not finish")
    return footer.summary["total"]["lag_ms"]["p99"]


def run_headless(profile: Path, recording: Path, seconds: float) -> dict[str, float]:
    child = subprocess.Popen([str(LOADWATCH), "run", str(profile), "--headless", "--record",
                              str(recording), "--interval", "30"], stdout=subprocess.DEVNULL)
    wait_for_load(recording)
    cpu = controller_cpu(psutil.Process(child.pid), seconds)
    child.wait(timeout=seconds + 60)
    return {"cpu": cpu, "lag_p99_ms": lag_p99(recording)}


def run_monitor(profile: Path, recording: Path, seconds: float, work: Path) -> dict[str, float]:
    socket = f"lw-bench-{os.getpid()}"
    config = work / "tmux.conf"
    config.write_text("set -g default-size 160x48\n")
    command = (f"exec env -u COLUMNS -u LINES '{LOADWATCH}' run '{profile}' "
               f"--record '{recording}'")
    subprocess.run(["tmux", "-L", socket, "-f", str(config), "new-session", "-d", "-s", "m",
                    "-x", "160", "-y", "48", command], check=True)
    try:
        pid = int(subprocess.run(["tmux", "-L", socket, "display", "-p", "-t", "m",
                                  "#{pane_pid}"], capture_output=True, text=True,
                                 check=True).stdout)
        process = psutil.Process(pid)
        wait_for_load(recording)
        cpu = controller_cpu(process, seconds)
        deadline = time.monotonic() + seconds + 60
        while read_recording(recording).footer is None and time.monotonic() < deadline:
            time.sleep(0.5)
        subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "m", "q"], check=True)
        time.sleep(0.5)
        subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "m", "y"], check=True)
        process.wait(timeout=30)
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False)
    return {"cpu": cpu, "lag_p99_ms": lag_p99(recording)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is not installed: apt-get install -y tmux")
    work = Path(tempfile.mkdtemp(prefix="lw-tui-bench-"))
    server, port = start_server()
    runs: list[dict[str, object]] = []
    try:
        profile = work / "profile.yml"
        profile.write_text(PROFILE.format(port=port, seconds=args.seconds, rps=args.rps))
        for pair in range(args.pairs):
            # Alternate which goes first, so drift on the machine hits both alike.
            order = ("headless", "monitor") if pair % 2 == 0 else ("monitor", "headless")
            for mode in order:
                recording = work / f"{mode}-{pair}.jsonl"
                print(f"pair {pair + 1}/{args.pairs}: {mode}…", file=sys.stderr, flush=True)
                result = (run_headless(profile, recording, args.seconds) if mode == "headless"
                          else run_monitor(profile, recording, args.seconds, work))
                runs.append({"mode": mode, "pair": pair, **result})
    finally:
        server.kill()
    summary: dict[str, float] = {}
    for mode in ("headless", "monitor"):
        mine = [r for r in runs if r["mode"] == mode]
        summary[f"{mode}_cpu"] = statistics.median(float(r["cpu"]) for r in mine)
        summary[f"{mode}_lag_p99_ms"] = statistics.median(float(r["lag_p99_ms"]) for r in mine)
    summary["lag_ratio"] = summary["monitor_lag_p99_ms"] / max(summary["headless_lag_p99_ms"],
                                                               1e-9)
    print(f"\n{args.rps} req/s for {args.seconds} s against a 10 ms server, "
          f"{args.pairs} pair(s), controller CPU over the steady part\n")
    print("| run | mode | controller CPU (% of a core) | send-lag p99 (ms) |")
    print("|---|---|---|---|")
    for r in runs:
        print(f"| {int(r['pair']) + 1} | {r['mode']} | {100 * float(r['cpu']):.1f} | "
              f"{float(r['lag_p99_ms']):.2f} |")
    print(f"\nmedian controller CPU: monitor {100 * summary['monitor_cpu']:.1f} %, headless "
          f"{100 * summary['headless_cpu']:.1f} % of a core")
    print(f"median send-lag p99: monitor {summary['monitor_lag_p99_ms']:.2f} ms, headless "
          f"{summary['headless_lag_p99_ms']:.2f} ms (ratio {summary['lag_ratio']:.2f})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "tui_overhead.json"
    out.write_text(json.dumps({"rps": args.rps, "seconds": args.seconds, "runs": runs,
                               "summary": summary, "cores": os.cpu_count()}, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
