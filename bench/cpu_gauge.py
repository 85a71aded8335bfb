"""How fast one core runs right now: a fixed piece of work timed in CPU time, every half second.

    python bench/cpu_gauge.py --core 0 --seconds 60      # prints the summary below

``cpucap`` fixes how much *time* a server gets on its core, not how much work that time does.
On this shared host the same work costs a core 1.0x or ~1.6x the CPU time from one second to
the next (another tenant, or our own other vCPU's hyperthread, sharing the physical core), so
a CPU-bound server's capacity moves with it even under the cap. The gauge makes that visible
beside a capacity figure: ``ms`` is the CPU time of 100,000 loop iterations (a few ms; about
1-2 % of the core at one sample per half second, taken from the time the capped server may not
use), and the ratio of a window's median to the session's fastest samples is its slowdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WORK = 100_000
FAST_QUANTILE = 0.05  # the session's fastest samples: the core with nothing beside it


def sample() -> float:
    """CPU milliseconds of one fixed piece of work, on the calling thread."""
    began, total = time.thread_time(), 0
    for i in range(WORK):
        total += i * i % 7
    return (time.thread_time() - began) * 1000.0


def run(seconds: float, out: Path, every_s: float = 0.5) -> None:
    samples: list[tuple[float, float]] = []
    end = time.time() + seconds
    try:
        while time.time() < end:
            samples.append((round(time.time(), 2), round(sample(), 3)))
            time.sleep(every_s)
    finally:
        out.write_text(json.dumps(samples))


@contextmanager
def gauged(core: str, out: Path, seconds: float = 86_400) -> Iterator[Path]:
    """Run the gauge on ``core`` (another process, pinned) until the block ends."""
    process = subprocess.Popen(["taskset", "-c", core, sys.executable, __file__, "--core", core,
                                "--seconds", f"{seconds:g}", "--out", str(out)])
    try:
        yield out
    finally:
        process.terminate()
        process.wait(10)


def load(out: Path) -> list[tuple[float, float]]:
    try:
        return [tuple(s) for s in json.loads(out.read_text())]  # type: ignore[misc]
    except (OSError, ValueError):
        return []


def fastest(values: list[float]) -> float:
    """The ``FAST_QUANTILE`` of ``values``: the core with nothing beside it."""
    ordered = sorted(values)
    return ordered[int(len(ordered) * FAST_QUANTILE)]


def summary(samples: list[tuple[float, float]], began: float, ended: float,
            fast_ms: float | None = None) -> dict[str, Any]:
    """The gauge over [began, ended] (epoch seconds): median ms, slowdown against ``fast_ms``
    (default: this window's own ``fastest``) and the share of samples in the slow mode."""
    window = [ms for t, ms in samples if began <= t <= ended]
    if not window:
        return {"samples": 0}
    fast = fastest(window) if fast_ms is None else fast_ms
    return {"samples": len(window), "median_ms": round(statistics.median(window), 2),
            "slowdown": round(statistics.median(window) / fast, 3),
            "slow_share": round(sum(ms > 1.3 * fast for ms in window) / len(window), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--core", default="0")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.out:  # the pinned child of gauged(), or a caller's own pinning
        import signal
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        run(args.seconds, args.out)
        return 0
    out = Path(f"/tmp/cpu-gauge-{args.core}.json")
    began = time.time()
    subprocess.run(["taskset", "-c", args.core, sys.executable, __file__, "--seconds",
                    f"{args.seconds:g}", "--out", str(out)], check=True)
    samples = load(out)
    print(json.dumps(summary(samples, began, time.time())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
