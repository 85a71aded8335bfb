"""The report's capacity section shows what a plain step was judged on and the recovery waits."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

from driver.capacity.search import StepResult
from metrics.compare import analyze
from metrics.records import Event
from tests.tui.report.helpers import T0, header, recording, tick
from tui.report.html import report_html


def _event(name: str, at: int, **data: object) -> Event:
    return Event(t=T0 + at, elapsed=float(at), source="capacity", name=name, message="",
                 data=data)


def _verdict(at: int, rate: float, passed: bool, **fields: object) -> Event:
    result = StepResult(rate=rate, achieved_rps=rate, error_rate=0.0, p99_ms=30.0, p50_ms=9.0,
                        requests=100)
    return _event("capacity_verdict", at, **{
        "rate": rate, "run": 1, "passed": passed, "clear": False, "rate_passes": passed,
        "reasons": [] if passed else ["backlog grew 2.0% of the rate per second"],
        **dataclasses.asdict(result), **fields})


def test_backlog_slow_seconds_judged_p99_and_the_recovery_wait_have_columns():
    events = [
        _verdict(30, 200, True, backlog_growth=0.0012, slow_share=0.05, judged_p99_ms=25.0,
                 recovery_s=0.0, in_flight_end=0.104),
        _verdict(60, 250, False, backlog_growth=0.021, slow_share=0.75, judged_p99_ms=400.0,
                 recovery_s=0.0, in_flight_end=627.46),
        _event("capacity_recovered", 70, recovered=True, waited_s=9.4, probes=2),
        _verdict(100, 225, False, backlog_growth=-0.04, slow_share=0.1, recovery_s=9.4,
                 contaminated=True),
        _verdict(130, 212, True, backlog_growth=-0.0001, slow_share=0.0, recovery_s=0.0),
    ]
    html = report_html([analyze(recording(header(), [tick(0, [10.0]), *events]), "search")])
    body = html.split("<h3>Capacity search</h3>", 1)[1]
    columns = re.findall(r"<th[^>]*>(.*?)</th>", body.split("</thead>", 1)[0])
    assert columns[8:12] == ["wait s", "backlog %/s", "slow seconds", "p99 judged ms"]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("</thead>", 1)[1].split("</table>")[0])
    cells = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows]
    assert [c[8:12] for c in cells] == [["—", "+0.1", "5 %", "25.0"],
                                        ["—", "+2.1", "75 %", "400"],
                                        ["9", "-4.0", "10 %", "—"],
                                        ["—", "0.0", "0 %", "—"]]  # not "-0.0"
    assert [c[2:4] for c in cells] == [["pass", "passes"], ["FAIL", "fails"],
                                       ["aside", "not counted"], ["pass", "passes"]]
    assert columns[12] == "in flight end"  # requests in flight: a tenth, not 0.104
    assert [c[12] for c in cells] == ["0.1", "627.5", "—", "—"]
    assert "Recovery: waited 1 time for the target, 9 s in all, the longest 9 s." in body
    assert "inherited the previous run's queue" in body
    assert "“backlog %/s”: how fast requests in flight grew" in body
