"""Chart details a new user noticed (issue 24): a legend cut in the middle of an entry
("━over…") at 80 columns, and the server's req/s drawing a bar at its first period."""

from __future__ import annotations

import re

from metrics.records import Datapoint, Header
from metrics.timeline import Timeline
from tui.monitor.widgets.chart import ChartView, Line, legend, server_line

LATENCY = [Line(label, (1, 1, 1)) for label in
           ("p50 ok", "p99 ok", "fail p99", "model", "model p99", "overhead")]


def _shown(columns: int) -> str:
    return re.sub(r"\[[^\]]*\]", "", legend("latency ms", LATENCY, columns))


def test_a_legend_shortens_its_labels_and_never_cuts_an_entry():
    assert _shown(200) == ("latency ms  ━━ p50 ok  ━━ p99 ok  ━━ fail p99  ━━ model  "
                           "━━ model p99  ━━ overhead")
    assert _shown(50) == "latency ms ━ p50 ━ p99 ━ fail ━ mdl ━ mdl99 ━ ovh"
    for columns in range(len("latency ms +6"), 90):
        text = _shown(columns)
        assert len(text) <= columns, (columns, text)
        shown = len(re.findall("━+", text))
        left = re.search(r" \+(\d+)$", text)
        assert shown + (int(left.group(1)) if left else 0) == len(LATENCY), text


def test_a_server_period_begun_before_the_run_is_a_rate_over_the_run_s_part_of_it():
    timeline = Timeline()
    timeline.add(Header(3, "test", "2026-12-07T00:00:00Z", 1000.0, "t"))
    # 20 req/s from elapsed 0: the period from -5 s holds 5 s of them, the next a whole 10 s.
    for start, invocations in ((995.0, 100.0), (1005.0, 200.0), (1015.0, 200.0)):
        timeline.add(Datapoint(start, 10, "AWS/SageMaker", "Invocations", "Sum", invocations))
    line = server_line(ChartView(timeline, 25.0, None), "Invocations", "Sum", "server",
                       (1, 1, 1), 0.0, 25.0, 1, rate=True)
    assert set(line.ys) == {20.0}  # no step up at the end of the first period
