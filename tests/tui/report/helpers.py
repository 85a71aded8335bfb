"""Small record builders for tests of the analysis on hand-made sequences (tables of cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metrics import hdr
from metrics.recording import Recording
from metrics.records import (
    Datapoint,
    EndpointState,
    Header,
    Record,
    ScalingActivity,
    Tick,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
T0 = 1_800_000_000.0


def header(plan: list[tuple[str, float, float]] | None = None, ensure: dict[str, float] | None
           = None, profile: dict[str, Any] | None = None) -> Header:
    meta: dict[str, Any] = {"ensure": ensure or {}}
    if plan is not None:
        meta["plan"] = [{"name": name, "start": start, "duration": duration, "rate_start": 10.0,
                         "rate_end": 10.0, "pause": False, "requests": 10.0 * duration}
                        for name, start, duration in plan]
    return Header(format=1, tool_version="test", started_at="2027-01-15T08:00:00+00:00", t=T0,
                  target="http://127.0.0.1:1", profile=profile or {}, meta=meta)


def tick(second: int, latencies_ms: list[float], phase: str = "p", phase_index: int = 0,
         outcomes: dict[str, int] | None = None, not_sent: int = 0,
         in_schedule: bool = True) -> Tick:
    histogram = hdr.new_histogram()
    for value in latencies_ms:
        histogram.record_value(int(value * 1000))
    return Tick(second=second, t=T0 + second, elapsed=float(second), phase=phase,
                phase_index=phase_index, target_rps=float(len(latencies_ms)),
                sent=len(latencies_ms), completed=len(latencies_ms),
                outcomes=outcomes or {"ok": len(latencies_ms)}, not_sent=not_sent,
                in_schedule=in_schedule, latency=hdr.encode(histogram))


def datapoint(at: float, metric: str, stat: str, value: float, period: int = 10) -> Datapoint:
    return Datapoint(t=T0 + at, period=period, namespace="AWS/SageMaker", metric=metric,
                     stat=stat, value=value)


def endpoint(at: float, current: int, desired: int, status: str = "InService") -> EndpointState:
    return EndpointState(t=T0 + at, elapsed=at, endpoint="e", status=status,
                         variants=[{"name": "AllTraffic", "current": current,
                                    "desired": desired}])


def activity(at: float, to: int, cause: str = "", status: str = "Successful",
             activity_id: str | None = None) -> ScalingActivity:
    return ScalingActivity(t=T0 + at, activity_id=activity_id or f"act-{at}", status=status,
                           description=f"Setting desired instance count to {to}.", cause=cause)


def recording(head: Header, records: list[Record]) -> Recording:
    return Recording(path=Path("synthetic.jsonl"), header=head, records=records)
