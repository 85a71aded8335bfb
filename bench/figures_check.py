"""Issue 11 figures against a real model server: loadwatch vs nginx's log vs hey, same run.

Starts ``tests.servers.model_server`` (nginx -> gunicorn, 2 sync workers -> Flask + a
scikit-learn tree) with nginx's access log on, then:

1. ``ok``: loadwatch at RATE req/s for SECONDS s on POST /invocations; its successful-request
   p50/p99 against nginx's ``$request_time`` for the same requests, then hey at the same rate
   (``-o csv``, per-request times) against the same server.
2. ``404``: the same load at a path the server does not have: the summary must end with
   "every request got HTTP 404 — is the path right? ...".
3. ``saturation``: SAT_RATE req/s for 8 s, well past what two sync workers serve, with a 1 s
   request timeout: the failed requests' latency is kept out of the ok percentiles (ok p99
   vs failed p99, by outcome).
4. ``resets``: 3,000 req/s for 8 s from 2 workers with 2,048 connections each: more than
   nginx's 4,096 worker connections, so nginx drops connections (ServerDisconnectedError,
   ClientOSError); the resets must stay out of the ok p99.

    .venv/bin/python bench/figures_check.py [--rate 100] [--seconds 15] [--sat-rate 1500]

Writes bench/results/figures.json. Timing figures on a shared machine are noisy: read the
ratios against nginx and hey measured in the same run, not the absolute values.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metrics.recording import read_recording  # noqa: E402
from metrics.records import Tick  # noqa: E402
from metrics.stats import summarize  # noqa: E402
from tests.servers.model_server import available, model_server  # noqa: E402

PROFILE = """\
config:
  target: {target}{extra}
  phases:
    - duration: {seconds}
      arrivalRate: {rate}
      name: steady
scenarios:
  - flow:
      - post:
          url: {path}
          body: "5.1,3.5,1.4,0.2"
          headers:
            content-type: text/csv
"""


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def run_loadwatch(url: str, work: Path, name: str, rate: float, seconds: int,
                  path: str, timeout_s: float | None = None, workers: int = 1,
                  connections: int | None = None) -> tuple[dict, str]:
    profile = work / f"{name}.yml"
    extra = f"\n  http:\n    timeout: {timeout_s:g}" if timeout_s else ""
    text = PROFILE.format(target=url, seconds=seconds, rate=rate, path=path, extra=extra)
    if connections:
        text += f"load:\n  connections: {connections}\n  maxInFlight: {2 * connections}\n"
    profile.write_text(text)
    record = work / f"{name}.jsonl"
    done = subprocess.run([str(ROOT / ".venv/bin/loadwatch"), "run", "--headless", "--record",
                           str(record), "--workers", str(workers), str(profile)],
                          capture_output=True, text=True, timeout=seconds + 120, check=False)
    ticks = [r for r in read_recording(record).records if isinstance(r, Tick)]
    return summarize(ticks)["total"], done.stdout


def run_hey(url: str, rate: float, seconds: int) -> list[float]:
    workers = 4
    done = subprocess.run(
        ["hey", "-z", f"{seconds}s", "-c", str(workers), "-q", f"{rate / workers:g}", "-m",
         "POST", "-T", "text/csv", "-d", "5.1,3.5,1.4,0.2", "-o", "csv", f"{url}/invocations"],
        capture_output=True, text=True, timeout=seconds + 60, check=True)
    rows = csv.DictReader(io.StringIO(done.stdout))
    return [float(row["response-time"]) * 1000.0 for row in rows
            if row.get("status-code") == "200"]


def _failure_figures(total: dict, text: str) -> dict:
    return {
        "requests": total["requests"], "ok": total["ok"],
        "outcomes": {k: v for k, v in total["outcomes"].items() if v},
        "status": total["status"], "error_codes": total["error_codes"],
        "not_sent": total["not_sent"],
        "ok_p50_ms": total["latency_ms"]["p50"], "ok_p99_ms": total["latency_ms"]["p99"],
        "failed_p50_ms": total["failed_latency_ms"]["p50"],
        "failed_p99_ms": total["failed_latency_ms"]["p99"],
        "summary_tail": text.strip().splitlines()[-4:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--sat-rate", type=float, default=1500.0)
    args = parser.parse_args()
    if not available():
        print("needs nginx (Debian nginx-light) and gunicorn + Flask", file=sys.stderr)
        return 2
    out: dict = {"rate": args.rate, "seconds": args.seconds, "sat_rate": args.sat_rate}
    with tempfile.TemporaryDirectory() as tmp, model_server(access_log=True) as srv:
        work = Path(tmp)
        before = len(srv.request_times_ms())
        total, _ = run_loadwatch(srv.url, work, "ok", args.rate, args.seconds, "/invocations")
        nginx = srv.request_times_ms()[before:]
        after_lw = len(srv.request_times_ms())
        hey = run_hey(srv.url, args.rate, args.seconds)
        nginx_hey = srv.request_times_ms()[after_lw:]
        out["ok"] = {
            "loadwatch_ok": total["ok"], "loadwatch_p50_ms": total["latency_ms"]["p50"],
            "loadwatch_p99_ms": total["latency_ms"]["p99"],
            "loadwatch_service_p50_ms": total["service_ms"]["p50"],
            "nginx_requests": len(nginx), "nginx_p50_ms": percentile(nginx, 50),
            "nginx_p99_ms": percentile(nginx, 99),
            "hey_ok": len(hey), "hey_p50_ms": percentile(hey, 50),
            "hey_p99_ms": percentile(hey, 99),
            "nginx_during_hey_p50_ms": percentile(nginx_hey, 50),
        }
        _, text = run_loadwatch(srv.url, work, "404", args.rate, 5, "/DummyStage/DT")
        out["404"] = {"last_lines": text.strip().splitlines()[-3:]}
        # A 1 s request timeout: at saturation the queued requests fail as timeouts, and
        # must stay out of the ok percentiles.
        total, text = run_loadwatch(srv.url, work, "sat", args.sat_rate, 8, "/invocations",
                                    timeout_s=1.0)
        out["saturation"] = _failure_figures(total, text)
        total, text = run_loadwatch(srv.url, work, "resets", 3000.0, 8, "/invocations",
                                    workers=2, connections=2048)
        out["resets"] = _failure_figures(total, text)
    ok = out["ok"]
    out["ratios"] = {
        "loadwatch_p50_over_nginx_p50": ok["loadwatch_p50_ms"] / ok["nginx_p50_ms"],
        "hey_p50_over_nginx_p50": (ok["hey_p50_ms"] / ok["nginx_during_hey_p50_ms"]
                                   if ok["nginx_during_hey_p50_ms"] else None),
        "loadwatch_p50_minus_nginx_ms": ok["loadwatch_p50_ms"] - ok["nginx_p50_ms"],
        "hey_p50_minus_nginx_ms": (ok["hey_p50_ms"] - ok["nginx_during_hey_p50_ms"]
                                   if ok["nginx_during_hey_p50_ms"] else None),
    }
    results = ROOT / "bench" / "results" / "figures.json"
    results.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
