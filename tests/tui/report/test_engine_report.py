"""The serving engine's figures in report and compare, from a real vLLM run's recording
(tests/fixtures/vllm-engine.jsonl), and none of it for runs that scraped no engine."""

from __future__ import annotations

import re

import pytest

from metrics.engine import KV_CACHE, RUNNING, TTFT, WAITING
from metrics.engine_figures import engine_window
from tests.tui.report.helpers import FIXTURES
from tui.commands.cli import main

VLLM = FIXTURES / "vllm-engine.jsonl"
PLAIN = FIXTURES / "http-1x.jsonl"


def test_window_figures_mean_and_peak_of_gauges_weighted_mean_and_worst_p99() -> None:
    series = {
        (RUNNING, "Value"): {0.0: 2.0, 2.0: 8.0, 4.0: 8.0, 10.0: 1.0},
        (WAITING, "Value"): {0.0: 0.0, 2.0: 6.0, 4.0: 12.0},
        (TTFT, "Average"): {0.0: 100.0, 2.0: 400.0},
        (TTFT, "SampleCount"): {0.0: 30.0, 2.0: 10.0},
        (TTFT, "p99"): {0.0: 150.0, 2.0: 900.0},
    }
    figures = engine_window(series, lambda x: x < 6.0)
    assert figures is not None
    assert figures[RUNNING] == {"mean": 6.0, "max": 8.0}
    assert figures[WAITING] == {"mean": 6.0, "max": 12.0}
    assert figures[TTFT] == {"avg_ms": 175.0, "p99_ms_worst": 900.0, "samples": 40}
    assert KV_CACHE not in figures
    assert engine_window(series, lambda x: x > 100.0) is None


def test_the_report_has_the_engine_table_and_chart(tmp_path, capsys) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(VLLM), "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8").replace("&#x27;", "'")
    assert "vLLM (the engine's own metrics) per phase" in html
    for column in ("running mean / max", "waiting mean / max", "KV cache mean / max",
                   "TTFT avg / worst p99 ms"):
        assert column in html
    assert "Requests: the client's in flight, vLLM's running and waiting" in html
    assert "engine waiting" not in html  # one run: no comparison rows
    plain = tmp_path / "p.html"
    assert main(["report", str(PLAIN), "-o", str(plain)]) == 0
    assert "own metrics" not in plain.read_text(encoding="utf-8")


@pytest.mark.parametrize("markdown", [False, True])
def test_compare_shows_engine_rows_beside_the_clients(capsys, markdown: bool) -> None:
    args = ["compare", str(PLAIN), str(VLLM), "--no-charts"] + (["--markdown"] if markdown
                                                                 else [])
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"engine waiting, mean.*—.*\d", out)  # A has none, B has a figure
    assert "engine TTFT avg, ms" in out
    if not markdown:
        assert "vLLM figures (the engine's own)" in out
