"""The monitor's widgets, one per file: the four charts, figures, event log, header, replay bar.
May import ``driver`` and ``metrics``.
"""

from tui.monitor.widgets.chart import ChartView, TimeChart
from tui.monitor.widgets.engine_chart import EngineChart
from tui.monitor.widgets.errors_chart import ErrorsChart
from tui.monitor.widgets.event_log import EventLog
from tui.monitor.widgets.figures import FiguresPanel
from tui.monitor.widgets.instances_chart import InstancesChart
from tui.monitor.widgets.latency_chart import LatencyChart
from tui.monitor.widgets.replay_bar import ReplayBar
from tui.monitor.widgets.rps_chart import RpsChart
from tui.monitor.widgets.session_header import SessionHeader, Status, scaling_label

__all__ = [
    "ChartView",
    "EngineChart",
    "ErrorsChart",
    "EventLog",
    "FiguresPanel",
    "InstancesChart",
    "LatencyChart",
    "ReplayBar",
    "RpsChart",
    "SessionHeader",
    "Status",
    "TimeChart",
    "scaling_label",
]
