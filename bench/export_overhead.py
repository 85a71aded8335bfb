"""What the live export costs the controller: headless with and without --prometheus (scraped
every second) and --otlp (to a local receiver), same load, alternating.

    python bench/export_overhead.py [--rps 1000] [--seconds 30] [--pairs 2]

Controller CPU and send-lag p99 are measured as in ``bench/tui_overhead.py`` (whose helpers
this uses): the ``loadwatch`` process's own user+system time over the steady part of the run,
as a share of one core, and the workers' send-lag p99 from the recording. Prints a Markdown
table and the medians; writes ``bench/results/export_overhead.json``. The machine is shared:
read the ratio of the two, from the same session.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tui_overhead import (
    LOADWATCH,
    PROFILE,
    RESULTS,
    controller_cpu,
    lag_p99,
    start_server,
    wait_for_load,
)


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that reads and drops each push."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(url: str, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=1).read()


def run(profile: Path, recording: Path, seconds: float, export: list[str],
        metrics_url: str | None) -> dict[str, float]:
    child = subprocess.Popen([str(LOADWATCH), "run", str(profile), "--headless", "--record",
                              str(recording), "--interval", "30", *export],
                             stdout=subprocess.DEVNULL)
    stop = threading.Event()
    if metrics_url:
        threading.Thread(target=scrape, args=(metrics_url, stop), daemon=True).start()
    try:
        wait_for_load(recording)
        cpu = controller_cpu(psutil.Process(child.pid), seconds)
        child.wait(timeout=seconds + 60)
    finally:
        stop.set()
    return {"cpu": cpu, "lag_p99_ms": lag_p99(recording)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lw-export-bench-"))
    server, port = start_server()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    runs: list[dict[str, object]] = []
    try:
        profile = work / "profile.yml"
        profile.write_text(PROFILE.format(port=port, seconds=args.seconds, rps=args.rps))
        for pair in range(args.pairs):
            order = ("plain", "export") if pair % 2 == 0 else ("export", "plain")
            for mode in order:
                recording = work / f"{mode}-{pair}.jsonl"
                export, url = [], None
                if mode == "export":
                    metrics_port = free_port()
                    export = ["--prometheus", f"127.0.0.1:{metrics_port}", "--otlp",
                              f"http://127.0.0.1:{sink.server_address[1]}/v1/metrics"]
                    url = f"http://127.0.0.1:{metrics_port}/metrics"
                figures = run(profile, recording, args.seconds, export, url)
                runs.append({"mode": mode, "pair": pair, **figures})
                print(f"{mode:>7} pair {pair}: controller {100 * figures['cpu']:.1f} % of a "
                      f"core, send-lag p99 {figures['lag_p99_ms']:.2f} ms", flush=True)
    finally:
        server.kill()
        sink.shutdown()
    medians = {mode: {key: statistics.median(r[key] for r in runs if r["mode"] == mode)
                      for key in ("cpu", "lag_p99_ms")} for mode in ("plain", "export")}
    print("\n| mode | controller CPU | send-lag p99 |\n|---|---|---|")
    for mode, m in medians.items():
        print(f"| {mode} | {100 * m['cpu']:.1f} % | {m['lag_p99_ms']:.2f} ms |")
    ratio = medians["export"]["cpu"] / medians["plain"]["cpu"]
    print(f"\ncontroller CPU, export/plain: {ratio:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "export_overhead.json").write_text(json.dumps(
        {"rps": args.rps, "seconds": args.seconds, "runs": runs, "medians": medians,
         "cpu_ratio": ratio}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
