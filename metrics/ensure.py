"""Artillery-style ``ensure`` checks evaluated against a session summary.

Thresholds are a mapping from check name to limit, already normalised by the profile loader:
``maxErrorRate`` in percent, latency checks (``min``, ``max``, ``median``/``p50``, ``p75``,
``p90``, ``p95``, ``p99``, ``p999``) in milliseconds of client latency of *successful* requests
measured from the intended send time (failed requests count in ``maxErrorRate`` instead; a fast
404 must not make a latency check pass). A check fails when the figure is above its limit; a
latency check with no successful requests fails too (there is nothing to show it holds).
In a format-1 recording the latency figures covered failed requests too.

``clientLimited: false`` (stored as the limit 0) fails a run the load generator limited
(``metrics.client_load``): its figures describe the client, not the server.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CLIENT_LIMITED = "clientLimited"
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
        if self.name == CLIENT_LIMITED:
            said = "n/a" if self.actual is None else "yes" if self.actual else "no"
            return f"{self.name} {said} (allowed: no): {'ok' if self.ok else 'FAILED'}"
        actual = "n/a" if self.actual is None else f"{self.actual:.3g}{self.unit}"
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.name} {actual} (limit {self.limit:g}{self.unit}): {verdict}"


def evaluate(thresholds: dict[str, float], total: dict[str, Any],
             client: dict[str, Any] | None = None) -> list[Check]:
    """Evaluate each threshold against a snapshot from ``metrics.stats.Aggregate`` and, for
    ``clientLimited``, the run's ``metrics.client_load`` result (None: not known, fails)."""
    checks = []
    for name, limit in thresholds.items():
        if name == CLIENT_LIMITED:
            limited = None if client is None else float(bool(client.get("limited")))
            checks.append(Check(name, limit, limited, limited is not None and limited <= limit,
                                ""))
        elif name == "maxErrorRate":
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
