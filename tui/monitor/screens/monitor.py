"""The main screen both modes share: header, four charts, current figures, event log, footer.

Records go straight into the screen's ``Timeline`` (bounded) and event log as they arrive;
nothing is queued per record. One timer renders from that state 4 times a second: header,
figures and log each time, and one of the four charts in turn (so each chart about once a
second), each skipping work when its inputs did not change. When the UI falls behind, frames
are dropped and the state stays current.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from metrics.records import Record
from metrics.timeline import Timeline
from tui.monitor.screens.help import HelpScreen
from tui.monitor.widgets import (
    ChartView,
    EngineChart,
    ErrorsChart,
    EventLog,
    FiguresPanel,
    InstancesChart,
    LatencyChart,
    RpsChart,
    SessionHeader,
    Status,
    TimeChart,
    scaling_label,
)

# The window control cycles through these (seconds shown; None: the whole run).
WINDOWS: tuple[tuple[float | None, str], ...] = (
    (300.0, "5 min"), (1800.0, "30 min"), (None, "whole run"))
FIGURES_INTERVAL_S = 0.25
# One chart is looked at per figures tick, so each chart is considered once a second (four
# charts, four ticks) and a redraw burst is one chart, not four, when load shares the cores.
# Below this size the charts sit above the figures and the log instead of beside them.
COMPACT_WIDTH = 120
COMPACT_HEIGHT = 34


class MonitorScreen(Screen[None]):
    """What every session looks like; subclasses add the controls of their mode."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "cycle_window", "Window", id="window",
                tooltip="Show the last 5 min, the last 30 min or the whole run"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Every key, and how to remap"),
        Binding("q", "request_quit", "Quit", id="quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.timeline = Timeline()
        self.window_index = 0
        self._charts_due = False
        self._scaling: tuple[object, str | None] = (None, None)

    # --- what subclasses provide -----------------------------------------------------------

    def now(self) -> float:
        """Elapsed seconds at the right edge of the charts."""
        raise NotImplementedError

    def status(self) -> Status:
        raise NotImplementedError

    def action_request_quit(self) -> None:
        raise NotImplementedError

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        with Horizontal(id="body"):
            with Grid(id="charts"):
                yield RpsChart(id="rps")
                yield LatencyChart(id="latency")
                yield InstancesChart(id="instances")
                yield ErrorsChart(id="errors")
            with Vertical(id="side"):
                yield FiguresPanel(id="figures")
                yield EventLog(id="log")
        yield from self.compose_controls()
        yield Footer()

    def compose_controls(self) -> ComposeResult:
        """Widgets of the mode's own, above the footer."""
        yield from ()

    def on_mount(self) -> None:
        # Kept, not queried per record: records keep coming while the app shuts down.
        self.event_log = self.query_one(EventLog)
        self.charts: list[TimeChart] = list(self.query(TimeChart))
        self._next_chart = 0
        self.set_interval(FIGURES_INTERVAL_S, self.refresh_figures, name="figures")

    def on_resize(self) -> None:
        size = self.size
        compact = size.width < COMPACT_WIDTH or size.height < COMPACT_HEIGHT
        if compact != self.has_class("-compact"):
            self.set_class(compact, "-compact")
            self.query_one(FiguresPanel).reflow()
        self._charts_due = True

    # --- state -----------------------------------------------------------------------------

    def on_record(self, record: Record) -> None:
        """The consumer of the record stream (a Session subscriber, or the replay's emit)."""
        self.timeline.add(record)
        self.event_log.add(record)
        if not self.has_class("-engine") and (self.timeline.engine_scraped
                                              or self.timeline.engine):
            self.show_engine()

    def show_engine(self) -> None:
        """The session scrapes its serving engine: a fifth chart, a row across the grid.

        Mounted only then, so a session without an engine has four charts, as before."""
        self.set_class(True, "-engine")
        chart = EngineChart(id="engine")
        self.query_one("#charts").mount(chart)
        self.charts.append(chart)
        self._charts_due = True

    def reset_state(self) -> None:
        """Start again from an empty state (a replay seeking backwards)."""
        self.timeline = Timeline()
        self.event_log.reset()
        self._charts_due = True

    def scaling_text(self) -> str | None:
        """The scaling in force as the record stream tells it (recomputed on new events)."""
        count = self.timeline.counts["event"]
        if self._scaling[0] != (id(self.timeline), count):
            self._scaling = ((id(self.timeline), count), scaling_label(self.timeline))
        return self._scaling[1]

    @property
    def window(self) -> tuple[float | None, str]:
        return WINDOWS[self.window_index]

    def chart_view(self) -> ChartView:
        return ChartView(self.timeline, self.now(), self.window[0])

    # --- rendering -------------------------------------------------------------------------

    def refresh_figures(self) -> None:
        self.query_one(SessionHeader).update_header(self.timeline, self.status())
        self.query_one(FiguresPanel).update_figures(self.timeline)
        self.event_log.flush()
        if self._charts_due:
            self.refresh_charts()
        else:
            self._next_chart = (self._next_chart + 1) % len(self.charts)
            self.charts[self._next_chart].update_chart(self.chart_view())

    def refresh_charts(self) -> None:
        self._charts_due = False
        view = self.chart_view()
        for chart in self.charts:
            chart.update_chart(view)

    # --- common actions --------------------------------------------------------------------

    def action_cycle_window(self) -> None:
        self.window_index = (self.window_index + 1) % len(WINDOWS)
        self.refresh_figures()
        self.refresh_charts()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place where a failed background job becomes a message, never a traceback."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{event.worker.name} failed: {type(error).__name__}: {error}",
                        severity="error", timeout=10)
