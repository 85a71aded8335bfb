"""What leaves loadwatch for other tools while and after it runs: the summary for machines
(``--summary-json``), and the live figures for Prometheus and OpenTelemetry. Imports metrics.
"""

from driver.export.summary import (
    SUMMARY_SCHEMA,
    SUMMARY_VERSION,
    SummaryWriter,
    build_summary,
    capacity_part,
    check_summary_path,
    write_summary,
)

__all__ = ["SUMMARY_SCHEMA", "SUMMARY_VERSION", "SummaryWriter", "build_summary",
           "capacity_part", "check_summary_path", "write_summary"]
