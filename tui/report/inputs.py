"""Reading recordings for compare, report and export: one-line errors, warnings on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from metrics.compare import (
    RunAnalysis,
    analyze,
    objective_on,
    resolve_slo,
    scaling_target_per_minute,
)
from metrics.recording import Recording, RecordingError, read_recording
from metrics.records import Tick

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """A recording that cannot be used; the message is one line naming the file and cause."""


def read(path: Path) -> Recording:
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a recording")
    try:
        return read_recording(path)
    except RecordingError as exc:
        raise InputError(str(exc)) from None
    except StopIteration:
        raise InputError(f"{path}: empty file, not a loadwatch recording") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not text: not a loadwatch recording") from None


def labels_for(paths: list[Path], given: str | None) -> list[str]:
    """``--labels BEFORE,AFTER``, else the file names (prefixed A:/B: if they are the same)."""
    if given:
        labels = [part.strip() for part in given.split(",")]
        if len(labels) != len(paths) or not all(labels):
            raise InputError(f"--labels needs {len(paths)} non-empty name(s) separated by "
                             f"commas, got {given!r}")
        return labels
    stems = [p.stem for p in paths]
    if len(set(stems)) < len(stems):
        return [f"{'AB'[i]}: {stem}" for i, stem in enumerate(stems)]
    return stems


def load_runs(paths: list[Path], labels: str | None = None, slo_ms: float | None = None,
              err: TextIO | None = None) -> list[RunAnalysis]:
    """Read and analyse each recording; warnings (a cut recording, say) go to ``err``."""
    err = err or sys.stderr
    names = labels_for(paths, labels)
    recordings = [read(p) for p in paths]
    # One objective for every run of a kind, so "seconds over" counts the same thing in each:
    # client p99, or TTFT p99 for streaming runs (a stream's whole latency follows its length).
    kinds = [objective_on([t for t in r.records if isinstance(t, Tick)]) for r in recordings]
    objectives = {}
    for kind in set(kinds):
        headers = [r.header for r, k in zip(recordings, kinds, strict=True) if k == kind]
        objectives[kind] = resolve_slo(slo_ms, headers, kind)
    # The same for the scaling target: a BEFORE run with scaling off names none, yet its load
    # per instance breached the target the AFTER run was held to.
    target = next((t for t in map(scaling_target_per_minute, recordings) if t), None)
    runs = []
    for recording, name, kind in zip(recordings, names, kinds, strict=True):
        for warning in recording.warnings:
            print(f"warning: {warning}", file=err)
        slo, source = objectives[kind]
        run = analyze(recording, name, slo, target)
        run.slo_source = source
        runs.append(run)
    return runs


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slo-ms", type=_positive, metavar="MS",
                        help="latency objective in ms: on client p99 (default: the profile's "
                             "ensure p99, else 100); for streaming LLM runs it is the TTFT p99 "
                             "objective (default: the profile's llm.slo.ttft, else 2000)")
    parser.add_argument("--labels", metavar="A,B",
                        help="names for the runs, comma-separated (default: file names)")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value
