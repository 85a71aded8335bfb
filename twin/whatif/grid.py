"""Candidate policies from lists and ranges: every combination of the values given.

A value list is ``a,b,c``; a range is ``start:stop:step`` (stop included). ``GridError`` names
the option and why (a range that yields nothing, a value that is not a number).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from twin.model import METRICS, ScalingPolicy
from twin.model.policy import CONCURRENCY, INVOCATIONS, STEP

METRIC_WORDS = {"invocations": INVOCATIONS, "concurrency": CONCURRENCY,
                INVOCATIONS.lower(): INVOCATIONS, CONCURRENCY.lower(): CONCURRENCY}


class GridError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Each option as written on the command line (``None``: its default)."""

    metric: str = "invocations"
    target: str | None = None
    concurrency_target: str | None = None
    min_capacity: str = "1"
    max_capacity: str = "4"
    scale_out_cooldown: str = "300"
    scale_in_cooldown: str = "300"
    step_threshold: str | None = None  # InvocationsPerInstance per minute; None: no step
    step_adjustment: str = "1"


def values(option: str, text: str, whole: bool = False, positive: bool = False) -> list[float]:
    """The numbers a list or range names; GridError when it names none."""
    out: list[float] = []
    for part in text.split(","):
        part = part.strip().removesuffix("s") if not whole else part.strip()
        if not part:
            continue
        try:
            if ":" in part:
                pieces = [float(p) for p in part.split(":")]
                if len(pieces) != 3 or pieces[2] <= 0:
                    raise GridError(f"{option}: {part!r}: a range is START:STOP:STEP with a "
                                    "positive step")
                start, stop, step = pieces
                count = math.floor((stop - start) / step + 1e-9) + 1
                out.extend(start + i * step for i in range(max(count, 0)))
            else:
                out.append(float(part))
        except ValueError as exc:
            if isinstance(exc, GridError):
                raise
            raise GridError(f"{option}: {part!r} is not a number or START:STOP:STEP") from None
    if whole and any(v != int(v) for v in out):
        raise GridError(f"{option}: {text!r}: expected whole numbers")
    if positive and any(v <= 0 for v in out):
        raise GridError(f"{option}: {text!r}: expected positive numbers")
    if any(v < 0 for v in out):
        raise GridError(f"{option}: {text!r}: expected numbers of at least 0")
    if not out:
        raise GridError(f"{option}: {text!r} yields no values (a range whose stop is below its "
                        "start?)")
    return sorted(set(out))


def candidates(spec: GridSpec) -> list[ScalingPolicy]:
    """Every combination; GridError if none is valid (min above max for all, say)."""
    metrics = []
    for word in spec.metric.split(","):
        metric = METRIC_WORDS.get(word.strip().lower())
        if metric is None:
            raise GridError(f"--metric: {word.strip()!r}: expected one of invocations, "
                            f"concurrency ({', '.join(METRICS)})")
        metrics.append(metric)
    mins = values("--min", spec.min_capacity, whole=True, positive=True)
    maxes = values("--max", spec.max_capacity, whole=True, positive=True)
    outs = values("--scale-out-cooldown", spec.scale_out_cooldown)
    ins = values("--scale-in-cooldown", spec.scale_in_cooldown)
    found: list[ScalingPolicy] = []
    if spec.step_threshold is not None:
        thresholds = values("--step-threshold", spec.step_threshold, positive=True)
        adjustments = values("--step-adjustment", spec.step_adjustment, whole=True,
                             positive=True)
        for threshold, adjust, low, high, out, in_ in itertools.product(
                thresholds, adjustments, mins, maxes, outs, ins):
            if low <= high:
                found.append(ScalingPolicy(INVOCATIONS, threshold, int(low), int(high), out,
                                           in_, kind=STEP, step_adjustment=int(adjust)))
        metrics = [m for m in metrics if spec.target is not None or m != INVOCATIONS]
    for metric in dict.fromkeys(metrics):
        if metric == INVOCATIONS:
            text, option = spec.target, "--target"
        else:
            text, option = spec.concurrency_target, "--concurrency-target"
        if text is None:
            raise GridError(f"{option}: missing: the {metric} values to try (a list or "
                            "START:STOP:STEP)")
        targets = values(option, text, positive=True)
        for target, low, high, out, in_ in itertools.product(targets, mins, maxes, outs, ins):
            if low <= high:
                found.append(ScalingPolicy(metric, target, int(low), int(high), out, in_))
    if not found:
        raise GridError(f"--min/--max: {spec.min_capacity!r} / {spec.max_capacity!r} yield no "
                        "candidate: every min is above every max")
    return found
