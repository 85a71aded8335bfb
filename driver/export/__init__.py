"""What leaves loadwatch for other tools while and after it runs: the summary for machines
(``--summary-json``), and the live figures for Prometheus and OpenTelemetry. Imports metrics.
"""

from driver.export.live import LiveFigures
from driver.export.names import METRICS
from driver.export.prometheus import ExportError
from driver.export.summary import (
    SUMMARY_SCHEMA,
    SUMMARY_VERSION,
    SummaryWriter,
    build_summary,
    capacity_part,
    check_summary_path,
    write_summary,
)

__all__ = [
    "METRICS",
    "SUMMARY_SCHEMA",
    "SUMMARY_VERSION",
    "ExportError",
    "LiveFigures",
    "SummaryWriter",
    "build_summary",
    "capacity_part",
    "check_summary_path",
    "write_summary",
]
