"""How fast the virtual clock runs: one hour at 1,000 req/s (3.6 M requests) on one core, and a
grid of policies on one core against all of them (issue 21, docs/performance.md).

    flock /work/measure.lock .venv/bin/python bench/twin_speed.py

``figures``: what ``what-if`` computes per policy (per-second figures, no records);
``records``: the whole recording a live session would write (ticks with HDR histograms,
datapoints, endpoint states, activities, footer). The grid is 12 policies of the README's
AFTER traffic, run with --jobs 1 and with one process per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver.profile import load_profile  # noqa: E402
from sandbox.config import SandboxConfig  # noqa: E402
from twin.model import ScalingPolicy, Twin  # noqa: E402
from twin.virtual import VirtualRun, constant_traffic, traffic_from_profile  # noqa: E402
from twin.whatif import GridSpec, Objective, candidates, rank  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    twin = Twin.from_sandbox(SandboxConfig(), overhead_ms=1.0)
    hour = constant_traffic(1000, 3600)
    policy = ScalingPolicy("InvocationsPerInstance", 15000, 1, 6, 30, 60)
    os.sched_setaffinity(0, {1})  # one core
    for mode in ("figures", "records"):
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = VirtualRun(twin, hour, policy, seed=1).run(records=mode == "records")
            times.append(time.perf_counter() - started)
        print(f"one hour at 1,000 req/s ({int(result.sent.sum()):,} requests), {mode}: best "
              f"{min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s of "
              f"{args.repeat} (one core)")
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    traffic = traffic_from_profile(load_profile(ROOT / "profiles" / "sandbox-after.yml"))
    policies = candidates(GridSpec(target="9000:21000:4000", max_capacity="3,4",
                                   scale_out_cooldown="30,120", scale_in_cooldown="60"))
    objective = Objective(500, 0.05, 0.01)
    for jobs in (1, os.cpu_count() or 1):
        started = time.perf_counter()
        rank(twin, traffic, policies, objective, jobs=jobs)
        print(f"what-if grid: {len(policies)} policies x {traffic.seconds} s of the AFTER "
              f"traffic, {jobs} process(es): {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
