"""``loadwatch report FILE [FILE2] -o report.html``: one self-contained HTML file to share."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tui.report.inputs import EXIT_BAD_INPUT, InputError, add_common


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "report", help="write one self-contained HTML report of a run, or of two compared",
        description="Write one HTML file (no network, no scripts) with the run's metadata, "
                    "figures per phase, ensure results and charts of every series; with two "
                    "recordings, their comparison too.")
    parser.add_argument("recordings", type=Path, nargs="+", metavar="FILE",
                        help="one recording, or two to compare (A then B)")
    parser.add_argument("-o", "--output", type=Path, metavar="HTML",
                        help="where to write (default: report.html)")
    parser.add_argument("--by", choices=("time", "phase"), default="time",
                        help="with two files: align by elapsed time (default) or by phase")
    add_common(parser)
    parser.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from metrics.compare import compare
    from tui.report.html import report_html
    from tui.report.inputs import load_runs

    paths: list[Path] = args.recordings
    output: Path = args.output or Path("report.html")
    if len(paths) > 2:
        print(f"loadwatch report: give one or two recordings, not {len(paths)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if any(output.resolve() == p.resolve() for p in paths):
        print(f"loadwatch report: {output} is an input; choose another -o", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        runs = load_runs(paths, args.labels, args.slo_ms)
    except InputError as exc:
        print(f"loadwatch report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    comparison = compare(runs[0], runs[1], args.by) if len(runs) == 2 else None
    html = report_html(runs, comparison)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(html, encoding="utf-8")
    except OSError as exc:
        print(f"loadwatch report: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"report: {output} ({len(html.encode()) / 1024:,.0f} KiB)")
    return 0
