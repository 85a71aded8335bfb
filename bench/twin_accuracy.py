"""Does the twin predict? Fit it from one find-capacity run of the sandbox, predict the README's
BEFORE and AFTER runs in virtual time, run both for real, and compare (issue 21, docs/twin.md).

    flock /work/measure.lock .venv/bin/python bench/twin_accuracy.py --out /tmp/twin-acc

The sandbox (the default ml.m4.xlarge, fast timings) runs under ``cpucap 0.6`` pinned to core 0,
the load generator pinned to core 1; each real run gets a fresh sandbox so it starts at one
instance. Printed per run and phase: p50 and p99 (ok) measured vs predicted, error share, and
the times the instance count changed. The provisioning delay is not in a find-capacity run
(it never scales): the twin keeps the sandbox's default, and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.analysis import analyze  # noqa: E402
from metrics.recording import RecordingWriter, read_recording  # noqa: E402
from metrics.records import EndpointState  # noqa: E402
from sandbox.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY  # noqa: E402

CPUCAP = "/work/shared/tools/cpucap"
PYTHON = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def sandbox(cpus: float) -> Iterator[str]:
    """A fresh default sandbox under cpucap on core 0; yields its URL."""
    port = _free_port()
    command = ["taskset", "-c", "0", CPUCAP, str(cpus), "--", PYTHON, "-m", "sandbox",
               "--port", str(port), "--seed", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_sandbox/health", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"sandbox did not start: {process.stderr.read()!r}") from None
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def _env() -> dict[str, str]:
    return {**os.environ, "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY, "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def _profile(name: str, out: Path) -> Path:
    """The shipped profile, naming the sandbox's endpoint (so loadwatch does not start one)."""
    text = (ROOT / "profiles" / f"{name}.yml").read_text()
    text = text.replace("sagemaker:\n  variant: AllTraffic",
                        "sagemaker:\n  endpoint: loadwatch-sandbox\n  variant: AllTraffic")
    path = out / f"{name}.yml"
    path.write_text(text)
    return path


def loadwatch(url: str, *args: str) -> None:
    command = ["taskset", "-c", "1", PYTHON, "-m", "tui", *args, "--headless",
               "--endpoint-url", url, "--region", "us-east-1", "--interval", "60"]
    result = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} exited {result.returncode}: "
                         f"{result.stderr[-2000:]}")


def changes(path: Path) -> list[tuple[float, int]]:
    """(elapsed, serving instances) whenever the count changed."""
    out: list[tuple[float, int]] = []
    for record in read_recording(path).records:
        if isinstance(record, EndpointState) and record.variants:
            count = int(record.variants[0]["current"])
            if not out or out[-1][1] != count:
                out.append((round(record.elapsed), count))
    return out


def phase_table(real: Path, predicted: Path, rates: bool = False) -> list[str]:
    """Per phase: p50, p99 (ok) and error share, real beside the twin's (``rates``: also the
    offered rate and the p99s' ratio)."""
    a, b = analyze(read_recording(real)), analyze(read_recording(predicted))
    extra = ("rate req/s", "p99 twin/real") if rates else ()
    head = ("phase", *extra[:1], "p50 real / twin (ms)", "p99 real / twin (ms)", *extra[1:],
            "errors real / twin")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for wa, wb in zip(a.phases, b.phases, strict=False):
        fa, fb = a.figures(wa), b.figures(wb)

        def ms(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1f}"

        ratio = (f"{fb.p99_ms / fa.p99_ms:.2f}" if fa.p99_ms and fb.p99_ms is not None
                 else "n/a")
        cells = [wa.name, *([f"{fa.offered_rps or 0:.0f}"] if rates else []),
                 f"{ms(fa.p50_ms)} / {ms(fb.p50_ms)}", f"{ms(fa.p99_ms)} / {ms(fb.p99_ms)}",
                 *([ratio] if rates else []), f"{fa.error_rate:.2%} / {fb.error_rate:.2%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def compare(real: Path, predicted: Path) -> list[str]:
    return [*phase_table(real, predicted),
            f"instance count changes, real: {changes(real)}",
            f"instance count changes, twin: {changes(predicted)}"]


def write_records(records: list[Any], path: Path) -> None:
    """A virtual run's records as a recording (replay, compare and report read it)."""
    with RecordingWriter(path, records[0]) as writer:
        for record in records[1:]:
            writer.write(record)


def arguments(description: str, out: str) -> argparse.ArgumentParser:
    """The options both accuracy benches take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--cpus", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true",
                        help="keep recordings already in --out (re-analyse only)")
    return parser


def finish(out: Path, report: list[str]) -> int:
    """The report printed and kept in ``out/report.md``."""
    text = "\n".join(report)
    (out / "report.md").write_text(text + "\n")
    print(text)
    return 0


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "/tmp/twin-accuracy").parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    capacity = out / "capacity.jsonl"
    if not (args.reuse and capacity.exists()):
        with sandbox(args.cpus) as url:
            loadwatch(url, "find-capacity", str(_profile("sandbox-before", out)), "--record",
                      str(capacity), "--tolerance", "0.1")
    twin_path = out / "twin.yml"
    subprocess.run([PYTHON, "-m", "tui", "twin", str(capacity), "-o", str(twin_path)],
                   cwd=ROOT, check=True)
    from driver.profile import load_profile
    from twin.model import ScalingPolicy, load_twin
    from twin.virtual import VirtualRun, traffic_from_profile

    twin = load_twin(twin_path)
    report = [f"twin: {twin_path}"]
    for name in ("sandbox-before", "sandbox-after"):
        profile = load_profile(_profile(name, out))
        scaling = profile.scaling
        policy = None
        if scaling is not None and scaling.enabled:
            policy = ScalingPolicy("InvocationsPerInstance", scaling.target, scaling.min,
                                   scaling.max, scaling.scale_out_cooldown,
                                   scaling.scale_in_cooldown)
        started = time.perf_counter()
        records = VirtualRun(twin, traffic_from_profile(profile), policy,
                             seed=args.seed).run(records=True).records
        simulated_s = time.perf_counter() - started
        predicted = out / f"{name}-twin.jsonl"
        write_records(records, predicted)
        real = out / f"{name}.jsonl"
        if not (args.reuse and real.exists()):
            with sandbox(args.cpus) as url:
                loadwatch(url, "run", str(out / f"{name}.yml"), "--record", str(real))
        report += ["", f"## {name} (predicted in {simulated_s:.1f} s)", *compare(real, predicted)]
    return finish(out, report)


if __name__ == "__main__":
    sys.exit(main())
