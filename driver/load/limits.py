"""What one load worker can send: the documented ceiling that ``validate`` warns against."""

from __future__ import annotations

import math
from collections.abc import Sequence

from driver.schedule import Phase

# One worker on one core of the project's 2-core machine sustains this against nginx, sent
# within 1 % of its target with send-lag p99 under 2 ms (docs/performance.md, "open-loop
# ceiling"). Faster machines do more; the warning is a hint, not a refusal.
WORKER_CEILING_RPS = 10_000


def rate_warnings(phases: Sequence[Phase], workers: int) -> list[str]:
    """One line per phase whose peak rate is beyond what ``workers`` workers can send."""
    ceiling = WORKER_CEILING_RPS * workers
    out = []
    for phase in phases:
        peak = 0.0 if phase.pause else max(phase.rate_start, phase.rate_end)
        if peak > ceiling:
            out.append(
                f"warning: phase {phase.name!r} asks {peak:,.0f} req/s, beyond what {workers} "
                f"worker(s) can send (about {WORKER_CEILING_RPS:,} req/s each, "
                f"docs/performance.md): the excess is counted as not sent; use load.workers: "
                f"{math.ceil(peak / WORKER_CEILING_RPS)} or more, or a lower rate")
    return out
