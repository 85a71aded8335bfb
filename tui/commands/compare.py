"""``loadwatch compare A.jsonl B.jsonl``: two runs side by side, per phase, with charts."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from tui.report.inputs import EXIT_BAD_INPUT, InputError, add_common

CHART_HEIGHT = 16


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "compare", help="compare two recordings side by side (BEFORE vs AFTER)",
        description="Figures per phase of two recorded runs side by side (offered and "
                    "achieved load, client p50/p95/p99, server ModelLatency, errors by kind, "
                    "instances, first breach to scale-out, seconds over the latency "
                    "objective), then the monitor's charts with both runs overlaid.")
    parser.add_argument("a", type=Path, metavar="A.jsonl", help="the first run (BEFORE)")
    parser.add_argument("b", type=Path, metavar="B.jsonl", help="the second run (AFTER)")
    parser.add_argument("--by", choices=("time", "phase"), default="time",
                        help="align by elapsed time (default; A's phase times cut both runs "
                             "when their phases are the same) or by phase (matched by name)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the tables as Markdown (no charts), for a PR or a wiki")
    parser.add_argument("--no-charts", action="store_true", help="tables only")
    parser.add_argument("--width", type=int, metavar="COLUMNS",
                        help="chart width (default: the terminal's)")
    add_common(parser)
    parser.set_defaults(handler=cmd_compare)


def _use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def cmd_compare(args: argparse.Namespace) -> int:
    from metrics.compare import compare
    from tui.report import terminal
    from tui.report.inputs import load_runs
    from tui.report.overlay import overlay_charts

    try:
        a, b = load_runs([args.a, args.b], args.labels, args.slo_ms)
    except InputError as exc:
        print(f"loadwatch compare: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    comparison = compare(a, b, args.by)
    if args.markdown:
        sys.stdout.write(terminal.markdown(comparison))
        return 0
    colour = _use_colour()
    width = args.width or min(shutil.get_terminal_size((120, 40)).columns, 160)
    print("\n".join(terminal.header_lines(comparison)))
    print(terminal.text_tables(comparison, colour, width))
    from tui.commands.llm_compare import llm_compare_lines

    for line in llm_compare_lines([a, b]):  # streaming LLM runs only
        print(line)
    from tui.report.cold_start_section import cold_start_compare_lines

    for line in cold_start_compare_lines([a, b]):  # inference components from zero only
        print(line)
    from tui.report.engine_section import engine_compare_lines

    for line in engine_compare_lines([a, b]):  # runs that scraped their serving engine
        print(line)
    if args.no_charts:
        return 0
    for chart in overlay_charts(comparison):
        print()
        print(terminal.plot(chart, max(width, 40), CHART_HEIGHT, colour))
        if chart.note:
            print(f"  {chart.note}")
    return 0
