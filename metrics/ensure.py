"""Artillery-style ``ensure`` checks evaluated against a session summary.

Thresholds are a mapping from check name to limit, already normalised by the profile loader:
``maxErrorRate`` in percent, latency checks (``min``, ``max``, ``median``/``p50``, ``p75``,
``p90``, ``p95``, ``p99``, ``p999``) in milliseconds of client latency of *successful* requests
measured from the intended send time (failed requests count in ``maxErrorRate`` instead; a fast
404 must not make a latency check pass). A check fails when the figure is above its limit; a
latency check with no successful requests fails too (there is nothing to show it holds).
In a format-1 recording the latency figures covered failed requests too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LATENCY_KEYS = {"min": "min", "max": "max", "median": "p50", "p50": "p50", "p90": "p90",
                "p95": "p95", "p99": "p99", "p999": "p999"}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    limit: float
    actual: float | None
    ok: bool
    unit: str

    def describe(self) -> str:
        actual = "n/a" if self.actual is None else f"{self.actual:.3g}{self.unit}"
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.name} {actual} (limit {self.limit:g}{self.unit}): {verdict}"


def evaluate(thresholds: dict[str, float], total: dict[str, Any]) -> list[Check]:
    """Evaluate each threshold against a snapshot from ``metrics.stats.Aggregate``."""
    checks = []
    for name, limit in thresholds.items():
        if name == "maxErrorRate":
            actual = 100.0 * total["error_rate"]
            checks.append(Check(name, limit, actual, actual <= limit, "%"))
        else:
            key = LATENCY_KEYS[name]
            actual = total["latency_ms"].get(key)
            checks.append(Check(name, limit, actual, actual is not None and actual <= limit,
                                " ms"))
    return checks


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
