"""A capacity search's answer as text: its spread in one line, and a ``scaling:`` block to paste.

Kept apart from ``driver.capacity`` (the search and its verdicts): these only word what the
search decided, for the headless output, the recording's events and the tests.
"""

from __future__ import annotations

from typing import Any


def describe_spread(spread: dict[str, Any]) -> str:
    """One line: where the edge lies and how many failures a re-run confirmed or overturned."""
    low, high = spread["bracket"]
    unit = spread.get("unit", "req/s")
    if low is None:
        return ""
    if high is None:
        edge = f"no rate failed: the edge lies above {low:g} {unit}"
    else:
        passed = (f"passed {spread['pass_runs']} of {spread['runs_at_pass']} runs"
                  if spread.get("runs_at_pass", 1) > 1 else "passed")
        edge = (f"the edge lies between {low:g} {unit} ({passed}) and {high:g} {unit} (failed "
                f"{spread['fail_runs']} of {spread['runs_at_fail']} runs), "
                f"{spread['bracket_pct']:.1f}% apart")
    confirmed, overturned = spread["confirmed_failures"], spread["overturned_failures"]
    parts = [f"{len(confirmed)} failure{'s' if len(confirmed) != 1 else ''} confirmed by a "
             "re-run"]
    if overturned:
        parts.append(f"{len(overturned)} overturned (failed once, then passed twice: "
                     + ", ".join(f"{r:g}" for r in overturned) + f" {unit})")
    line = f"{edge}; {', '.join(parts)}; {spread['runs']} runs"
    if spread.get("unsteady"):
        lo, hi = spread["unsteady"]
        flipped = spread.get("flipped") or []
        line += (f". UNSTEADY: {lo:g} {unit} failed while {hi:g} passed"
                 + (f" ({', '.join(f'{r:g}' for r in flipped)} {unit} each both passed and "
                    "failed)" if flipped else "")
                 + ": the target's own capacity moved during the search (a shared or "
                   "throttled host?); another search may answer anywhere in that band")
    return line


def scaling_block(recommendation: dict[str, Any], minimum: int = 1, maximum: int = 4) -> str:
    """A ``scaling:`` section ready to paste into a profile."""
    metric = recommendation.get("metric")  # concurrency: a streaming target's answer
    target = recommendation["target"]
    shown = target if isinstance(target, int) else f"{target:g}"
    return (
        "scaling:\n"
        "  enabled: true\n"
        + (f"  metric: {metric}\n" if metric else "")
        + f"  min: {minimum}\n"
        f"  max: {maximum}\n"
        f"  target: {shown}   # {recommendation['formula']}\n"
        "  scaleOutCooldown: 300s\n"
        "  scaleInCooldown: 300s\n"
    )


def per_copy(recommendation: dict[str, Any], component: str) -> dict[str, Any]:
    """The recommendation for an inference component searched at one copy: the same rate,
    read per copy, as the target of SageMakerInferenceComponentInvocationsPerCopy."""
    rate, target = recommendation["max_rps"], recommendation["target"]
    factor = recommendation.get("safety_factor", 0.5)
    return recommendation | {
        "per": "copy", "component": component,
        "formula": f"target = MAX_RPS_PER_COPY x SAFETY_FACTOR x 60 = {rate:g} x {factor:g} "
                   f"x 60 = {target} invocations per copy per minute"}
