"""What each chart shows, decided once for the HTML report (SVG) and the terminal (plotext).

A ``Chart`` is data only: lines in elapsed seconds with a label, a colour and a style, vertical
marks (scaling activities, operator events), horizontal guides (the latency objective, the
scaling target) and phase bands. Renderers only draw it.

Colours are the Okabe–Ito palette, readable by people with the common colour-vision
deficiencies; in an overlay run A is blue and run B orange, and a line's style says which series
it is (solid client, dashed second client series, dotted schedule, dots for server periods).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from metrics.compare import ON_P99, ON_TTFT, RunAnalysis
from metrics.records import CONN_ERROR, HTTP_4XX, HTTP_5XX, OTHER, THROTTLED, TIMEOUT, Event
from metrics.timeline import downsample, nice_bucket

BLUE = "#0072B2"
ORANGE = "#D55E00"
GREEN = "#009E73"
YELLOW = "#E69F00"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
BLACK = "#222222"
GREY = "#777777"
RUN_COLOURS = (BLUE, ORANGE)
SOLID, DASHED, DOTTED = "", "6 4", "2 3"
DASH_DOT = "8 3 2 3"  # a fourth line of one colour (TPOT p99 beside TTFT p50/p99, TPOT p50)
# Most points a line keeps: about one per horizontal pixel of a chart at laptop width.
MAX_POINTS = 600
# Operator and driver events worth a mark on the time axis.
Shift = Callable[[float], float]  # puts a run's elapsed seconds on the chart's time axis
MARKED_EVENTS = {"marker", "rate_set", "schedule", "paused", "resumed", "killed", "stopped",
                 "interrupted", "scaling_enabled", "scaling_disabled", "scaling_restored",
                 "worker_lost", "worker_replaced", "incomplete", "error"}


@dataclass
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    color: str
    dash: str = SOLID
    step: bool = False  # a count that holds until it changes (instances)
    dots: bool = False  # one value per period (server datapoints): drawn as points on a line
    weight: float = 2.0  # stroke width; run A is drawn wider beneath B so equal lines show both


@dataclass
class Mark:
    x: float
    label: str
    color: str
    detail: str = ""
    kind: str = "event"  # what the legend calls marks of this colour


@dataclass
class Guide:
    y: float
    label: str
    color: str = GREY


@dataclass
class Band:
    start: float
    end: float
    label: str


@dataclass
class Chart:
    key: str
    title: str
    y_label: str
    lines: list[Line] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    guides: list[Guide] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    y_log: bool = False
    y_integer: bool = False  # counts of whole things (instances): no 0.72 on the axis
    x_end: float = 0.0
    note: str = ""

    @property
    def empty(self) -> bool:
        return not any(line.ys for line in self.lines)


def _bucket(run: RunAnalysis) -> int:
    """Seconds per chart point: at most ``MAX_POINTS`` points over the run."""
    return nice_bucket(run.duration, MAX_POINTS)


def client_series(run: RunAnalysis, name: str, how: str = "mean",
            shift: Shift = float) -> tuple[list[float], list[float]]:
    client = run.timeline.client
    xs, ys = downsample(client.x, client.values[name], _bucket(run), how)
    return [shift(x) for x in xs], ys


def client_sum(run: RunAnalysis, names: tuple[str, ...],
                shift: Shift = float) -> tuple[list[float], list[float]]:
    client = run.timeline.client
    total = [float(sum(client.values[n][i] or 0 for n in names)) for i in range(len(client))]
    xs, ys = downsample(client.x, total, _bucket(run))
    return [shift(x) for x in xs], ys


def server_series(run: RunAnalysis, metric: str, stat: str, per_second: bool = False,
            per_minute: bool = False, shift: Shift = float) -> tuple[list[float], list[float]]:
    xs, ys = run.timeline.server_series(metric, stat)
    period = run.timeline.period or 60
    if per_second:
        ys = [y / period for y in ys]
    if per_minute:
        ys = [y * 60.0 / period for y in ys]
    return [shift(x) for x in xs], ys


def instance_series(run: RunAnalysis, which: str, shift: Shift = float, counts: str = "instances",
               ) -> tuple[list[float], list[float]]:
    """Current or desired instances (or, with ``counts="copies"``, an inference component's
    copies) as steps held to the end of the run."""
    points = [(p.elapsed, getattr(p, which)) for p in getattr(run.timeline, counts)
              if getattr(p, which) is not None]
    xs = [shift(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    if xs:  # hold the last count to the end of the run
        xs.append(shift(run.duration))
        ys.append(ys[-1])
    return xs, ys


def phase_bands(run: RunAnalysis) -> list[Band]:
    return [Band(w.start, w.end if w.end is not None else run.duration, w.name)
            for w in run.phases]


def scaling_marks(run: RunAnalysis, color: str, shift: Shift = float,
                   prefix: str = "") -> list[Mark]:
    marks = []
    for x, activity in run.timeline.activity_marks():
        text = activity.description or activity.cause or activity.activity_id
        marks.append(Mark(shift(x), f"{prefix}scaling {activity.status}", color, text,
                          f"{prefix}scaling activity"))
    return marks


def _event_marks(run: RunAnalysis, color: str = GREY) -> list[Mark]:
    return [Mark(e.elapsed, e.name.replace("_", " "), color, e.message,
                 "event (hover for details)")
            for e in run.timeline.events
            if isinstance(e, Event) and e.name in MARKED_EVENTS]


def log_scale_wanted(lines: list[Line]) -> bool:
    """A log axis when the latencies shown span more than a factor of 30."""
    values = [y for line in lines for y in line.ys if y > 0]
    return bool(values) and max(values) / max(min(values), 1e-3) > 30


def _has_server(run: RunAnalysis, metric: str, stat: str) -> bool:
    return bool(run.timeline.server.get((metric, stat)))


# --- one run -------------------------------------------------------------------------------


def run_charts(run: RunAnalysis) -> list[Chart]:
    """Every series of one run, grouped into charts that share a unit."""
    end = run.duration
    bands = phase_bands(run)
    events = _event_marks(run)
    charts = [
        Chart("load", "Load", "requests per second", [
            Line("scheduled target", *client_series(run, "target_rps"), BLACK, DOTTED),
            Line("sent", *client_series(run, "sent_rps"), BLUE),
            Line("completed", *client_series(run, "completed_rps"), GREEN, DASHED),
            Line("completed ok", *client_series(run, "ok"), SKY, DOTTED),
            Line("server Invocations per second", *server_series(run, "Invocations", "Sum", True),
                 ORANGE, dots=True),
            Line("goodput (met the LLM SLOs)", *client_series(run, "goodput_rps"), PURPLE),
        ], events, bands=bands, x_end=end),
        _latency_chart(run, bands, events),
        *_llm_charts(run, bands, events),
    ]
    instances = Chart("instances", "Instances", "instances", [
        Line("current", *instance_series(run, "current"), BLUE, step=True),
        Line("desired", *instance_series(run, "desired"), ORANGE, DASHED, step=True),
        *([Line("copies", *instance_series(run, "current", counts="copies"), PURPLE,
                step=True),
           Line("copies desired", *instance_series(run, "desired", counts="copies"), PURPLE,
                DASHED, step=True)] if run.timeline.copies else []),
    ], scaling_marks(run, PURPLE), bands=bands, x_end=end, y_integer=True)
    if instances.empty and instances.marks:
        instances.note = "no endpoint states recorded; scaling activities only"
    if not instances.empty or instances.marks:
        charts.append(instances)
    charts.append(_errors_chart(run, bands, events))
    if _has_server(run, "InvocationsPerInstance", "Sum"):
        guides = [Guide(run.scaling_target, "scaling target")] if run.scaling_target else []
        charts.append(Chart("per-instance", "Invocations per instance", "per minute", [
            Line("InvocationsPerInstance per minute",
                 *server_series(run, "InvocationsPerInstance", "Sum", per_minute=True), BLUE,
                 dots=True),
        ], scaling_marks(run, PURPLE), guides, bands, x_end=end))
    utilisation = [Line(f"{metric} ({stat})", *server_series(run, metric, stat), color, dots=True)
                   for (metric, stat), color in (
                       (("CPUUtilization", "Average"), BLUE),
                       (("MemoryUtilization", "Average"), GREEN),
                       (("DiskUtilization", "Average"), GREY))
                   if _has_server(run, metric, stat)]
    if utilisation:
        charts.append(Chart("utilisation", "Instance utilisation", "percent (100 per vCPU)",
                            utilisation, bands=bands, x_end=end))
    charts.append(Chart("send-lag", "Send lag (load generator health)", "ms", [
        Line("send lag p99", *client_series(run, "lag_p99_ms", "max"), BLUE),
    ], events, bands=bands, x_end=end,
        note="how far behind its intended time a request left; high lag means the load "
             "generator, not the target, was the bottleneck"))
    charts.append(Chart("in-flight", "Requests in flight and late sends", "requests", [
        Line("in flight (mean of each second)", *client_series(run, "in_flight", "max"), GREEN),
        Line("late sends per second", *client_series(run, "late"), ORANGE, DASHED),
        Line("not sent per second (in-flight cap)", *client_series(run, "not_sent"), BLACK, DOTTED),
    ], events, bands=bands, x_end=end))
    charts.extend(_other_server_charts(run, bands, end))
    return charts


def _errors_chart(run: RunAnalysis, bands: list[Band], events: list[Mark]) -> Chart:
    lines = [
        Line("client 4xx", *client_series(run, HTTP_4XX), YELLOW),
        Line("client 5xx", *client_series(run, HTTP_5XX), ORANGE),
        Line("throttled", *client_series(run, THROTTLED), PURPLE, DASHED),
        Line("timeouts", *client_series(run, TIMEOUT), BLACK, DASHED),
        Line("connection errors", *client_series(run, CONN_ERROR), SKY, DASHED),
        Line("other errors", *client_series(run, OTHER), GREY, DOTTED),
        Line("not sent (in-flight cap)", *client_series(run, "not_sent"), GREEN, DOTTED),
        Line("server Invocation4XXErrors per second",
             *server_series(run, "Invocation4XXErrors", "Sum", True), YELLOW, dots=True),
        Line("server Invocation5XXErrors per second",
             *server_series(run, "Invocation5XXErrors", "Sum", True), ORANGE, dots=True),
    ]
    # Only the kinds of error that happened: nine flat lines at zero hide the one that matters.
    shown = [line for line in lines if any(line.ys)]
    nothing = [Line("errors (none)", lines[0].xs, lines[0].ys, GREY)]
    chart = Chart("errors", "Errors", "requests per second", shown or nothing, events,
                  bands=bands, x_end=run.duration)
    if not shown:
        chart.note = "no errors of any kind in this run"
    return chart


def _latency_chart(run: RunAnalysis, bands: list[Band], events: list[Mark]) -> Chart:
    ok = run.latency_basis
    lines = [
        Line(f"client p50 ({ok})", *client_series(run, "p50_ms"), GREEN, DASHED),
        Line(f"client p95 ({ok})", *client_series(run, "p95_ms"), SKY),
        Line(f"client p99 ({ok})", *client_series(run, "p99_ms", "max"), BLUE),
        Line("client p99 (failed)", *client_series(run, "failed_p99_ms", "max"), YELLOW, DASHED),
        Line(f"service time p50 ({ok})", *client_series(run, "service_p50_ms"), BLACK, DOTTED),
        Line(f"service time p99 ({ok})", *client_series(run, "service_p99_ms", "max"), GREY,
             DOTTED),
        Line("server ModelLatency average", *server_series(run, "ModelLatency", "Average"),
             ORANGE, dots=True),
        Line("server ModelLatency p99", *server_series(run, "ModelLatency", "p99"), PURPLE,
             dots=True),
        Line("server OverheadLatency average", *server_series(run, "OverheadLatency", "Average"),
             YELLOW, dots=True),
    ]
    log = log_scale_wanted(lines)
    return Chart("latency", "Latency", "ms (log scale)" if log else "ms", lines, events,
                 objective_guides([run], ON_P99), bands, log, run.duration,
                 note="client latency from each request's intended send time")


def objective_guides(runs: list[RunAnalysis], on: str) -> list[Guide]:
    """The objective line of the runs held to one on ``on`` (ON_P99: the latency chart;
    ON_TTFT: streaming runs, the TTFT chart), one per distinct value."""
    values = sorted({run.slo_ms for run in runs if run.slo_on == on})
    what = "TTFT p99 objective" if on == ON_TTFT else "objective"
    return [Guide(v, f"{what} {v:g} ms") for v in values]


def _llm_charts(run: RunAnalysis, bands: list[Band], events: list[Mark]) -> list[Chart]:
    """Streaming LLM runs: TTFT and TPOT beside ModelLatency, output tokens/s; else none."""
    if not any(v is not None for v in run.timeline.client.values["output_tps"]):
        return []
    lines = [
        Line("TTFT p50 (intended send)", *client_series(run, "ttft_p50_ms"), GREEN, DASHED),
        Line("TTFT p99 (intended send)", *client_series(run, "ttft_p99_ms", "max"), BLUE),
        Line("TPOT p50", *client_series(run, "tpot_p50_ms"), YELLOW),
        Line("TPOT p99", *client_series(run, "tpot_p99_ms", "max"), PURPLE),
        Line("server ModelLatency average", *server_series(run, "ModelLatency", "Average"),
             ORANGE, dots=True),
    ]
    log = log_scale_wanted(lines)
    return [
        Chart("llm-latency", "Time to first token and per output token",
              "ms (log scale)" if log else "ms", lines, events,
              objective_guides([run], ON_TTFT), bands=bands, y_log=log, x_end=run.duration,
              note="client figures per second; server ModelLatency per period"),
        Chart("llm-tokens", "Output tokens per second", "tokens per second", [
            Line("output tokens/s", *client_series(run, "output_tps"), BLUE),
        ], events, bands=bands, x_end=run.duration),
    ]


SHOWN_SERVER = {("Invocations", "Sum"), ("Invocation4XXErrors", "Sum"),
                ("Invocation5XXErrors", "Sum"), ("ModelLatency", "Average"),
                ("ModelLatency", "p99"), ("OverheadLatency", "Average"),
                ("InvocationsPerInstance", "Sum"), ("CPUUtilization", "Average"),
                ("MemoryUtilization", "Average"), ("DiskUtilization", "Average")}


def _other_server_charts(run: RunAnalysis, bands: list[Band], end: float) -> list[Chart]:
    """One chart per unit for the server series no chart above shows (every series is shown)."""
    by_unit: dict[str, list[tuple[str, str]]] = {}
    for key in sorted(run.timeline.server):
        if key not in SHOWN_SERVER:
            by_unit.setdefault(run.timeline.server_units.get(key) or "value", []).append(key)
    palette = (BLUE, ORANGE, GREEN, PURPLE, SKY, YELLOW, BLACK, GREY)
    charts = []
    for unit, keys in by_unit.items():
        lines = [Line(f"{metric} ({stat})", *server_series(run, metric, stat),
                      palette[i % len(palette)], dots=True)
                 for i, (metric, stat) in enumerate(keys)]
        charts.append(Chart(f"server-{unit}", f"Other server metrics ({unit})", unit, lines,
                            bands=bands, x_end=end))
    return charts
