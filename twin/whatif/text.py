"""The ranking as text: one row per policy, and the chosen one as a profile block and as JSON."""

from __future__ import annotations

from collections.abc import Sequence

from driver.aws.prices import PRICE_SOURCE
from twin.whatif.rank import Objective, PolicyFigures

COLUMNS = ("", "policy", "over SLO", "errors", "p99 ms", "max inst", "inst-h", "cost $",
           "$/M ok")


def _money(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def mark(figures: PolicyFigures, ranked: Sequence[PolicyFigures]) -> str:
    """"*" the cheapest meeting the SLO (the first that meets it), "ok" meets it, else ""."""
    best = next((f for f in ranked if f.meets), None)
    return "*" if figures is best else ("ok" if figures.meets else "")


def ranking_rows(ranked: Sequence[PolicyFigures], top: int) -> list[tuple[str, ...]]:
    """The first ``top`` policies as rows of ``COLUMNS`` (the terminal's and the report's)."""
    return [(mark(f, ranked), f.policy.label, f"{f.seconds_over_slo} s", f"{f.error_share:.2%}",
             "n/a" if f.p99_ms is None else f"{f.p99_ms:.1f}", str(f.max_instances),
             f"{f.instance_hours:.3f}", _money(f.cost_usd), _money(f.cost_per_million_ok, 2))
            for f in ranked[:top]]


def slo_text(objective: Objective) -> str:
    return (f"p99 (ok) <= {objective.slo_ms:g} ms in all but {objective.max_over_slo:.0%} of "
            f"seconds, errors <= {objective.max_error_share:.1%}")


def ranking_table(ranked: Sequence[PolicyFigures], objective: Objective, top: int) -> str:
    rows = [COLUMNS, *ranking_rows(ranked, top)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"SLO: {slo_text(objective)}. * the cheapest meeting it; ok: meets it. "
                 f"Cost: {PRICE_SOURCE}.")
    if len(ranked) > top:
        lines.append(f"({len(ranked) - top} more not shown; --top N)")
    return "\n".join(lines)


def best_policy_text(best: PolicyFigures | None, objective: Objective,
                     period_s: float = 60.0) -> str:
    if best is None:
        return ("no candidate meets the SLO: widen --max, lower --target, shorten "
                "--scale-out-cooldown, or relax --slo-ms / --max-error-rate")
    policy = best.policy
    block = policy.scaling_block()
    lines = [f"cheapest policy meeting the SLO: {policy.label}", ""]
    if block is None:
        lines.append("# a step policy: a profile's scaling: block holds target tracking only; "
                     "apply it with the requests below")
    else:
        lines += ["# paste into the profile:", block]
    lines += ["", "# Application Auto Scaling and CloudWatch requests, in order ({arn:NAME} is "
              "the PolicyARN PutScalingPolicy NAME returns):", policy.aas_json(period_s=period_s)]
    return "\n".join(lines)
