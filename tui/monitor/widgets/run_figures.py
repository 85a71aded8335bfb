"""The figures of issue 23 beside the others: what the run cost so far and whether the load
generator keeps up. Rows for ``FiguresPanel``; the state is the timeline's."""

from __future__ import annotations

from metrics.timeline import Timeline

Row = tuple[str, str]


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}" if value < 0.1 else f"${value:,.2f}"


def cost_rows(timeline: Timeline) -> list[Row]:
    cost = timeline.cost.result()
    if cost is None:
        return []
    rows = [("cost", f"{_usd(cost['usd'])} so far"),
            ("cost per hour", f"{_usd(cost['usd_per_hour_now'])} now")]
    if cost["usd_per_million_output_tokens"] is not None:
        rows.append(("per M tokens", _usd(cost["usd_per_million_output_tokens"])))
    rows.append(("per M ok", _usd(cost["usd_per_million_ok"])))
    return rows


def load_generator_rows(timeline: Timeline) -> list[Row]:
    """``load gen`` keeping up (its busiest worker's CPU), or the verdict that it did not.
    Only for runs whose workers measured themselves (recordings before issue 23 did not)."""
    if not timeline.client_load.measured_seconds:
        return []
    result = timeline.client_load.result()
    if result["limited"]:  # the first reason leads: it is what a cut-off value still shows
        return [("load gen", "LIMITED: " + "; ".join(result["reasons"]) + "; "
                 + str(result["advice"]))]
    busiest = max(result["cpu_max"].values(), default=None)
    return [("load gen", "ok" + ("" if busiest is None else f", CPU ≤ {100 * busiest:.0f} %"))]
