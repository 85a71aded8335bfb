"""CostMeter: instance-hours priced from the header's prices and the endpoint's states."""

from __future__ import annotations

import pytest

from metrics.cost import CostMeter, cost_line
from metrics.records import EndpointState, Header, Tick

PRICES = {"ml.m5.xlarge": {"usd_per_hour": 0.36, "source": "table", "date": "2026-03"}}


def _header(meta: dict) -> Header:
    return Header(format=3, tool_version="t", started_at="", t=0.0, target="x", meta=meta)


def _tick(second: int, ok: int, tokens: int = 0) -> Tick:
    return Tick(second=second, t=float(second), elapsed=float(second), phase="p",
                phase_index=0, target_rps=ok, sent=ok, completed=ok, outcomes={"ok": ok},
                output_tokens=tokens)


def _state(elapsed: float, current: int) -> EndpointState:
    return EndpointState(t=elapsed, elapsed=elapsed, endpoint="e", status="InService",
                         variants=[{"name": "v", "current": current, "desired": current,
                                    "instance_type": "ml.m5.xlarge"}])


def test_instances_are_priced_over_the_time_they_ran() -> None:
    meter = CostMeter()
    meter(_header({"prices": PRICES, "aws": {"instances": 1,
                                             "instance_type": "ml.m5.xlarge"}}))
    for second in range(10):  # 10 s of one instance
        meter(_tick(second, 100))
    meter(_state(10.0, 3))
    for second in range(10, 20):  # 10 s of three
        meter(_tick(second, 100))
    cost = meter.result()
    assert cost is not None
    assert cost["usd"] == pytest.approx(0.36 * (10 + 30) / 3600, abs=1e-6)
    assert cost["usd_per_hour_now"] == pytest.approx(1.08)
    assert cost["usd_per_million_ok"] == pytest.approx(cost["usd"] * 1e6 / 2000)
    assert cost["usd_per_million_output_tokens"] is None
    line = cost_line(cost)
    assert line is not None and "$1.08/hour now" in line and "per million ok requests" in line
    assert "ml.m5.xlarge: table, 2026-03" in line


def test_a_plain_http_server_at_a_given_price_and_llm_tokens() -> None:
    meter = CostMeter()
    meter(_header({"prices": {"*": {"usd_per_hour": 3.6, "source": "--price", "date": "d"}}}))
    for second in range(100):
        meter(_tick(second, 10, tokens=1000))
    cost = meter.result()
    assert cost is not None and cost["usd"] == pytest.approx(0.1)
    assert cost["usd_per_million_output_tokens"] == pytest.approx(0.1 * 1e6 / 100_000)


def test_no_price_no_cost() -> None:
    meter = CostMeter()
    meter(_header({"aws": {"instances": 1, "instance_type": "ml.x9.huge"}}))
    meter(_tick(0, 5))
    assert meter.result() is None
