"""``--prometheus ADDR:PORT``: the live figures as a Prometheus endpoint (``/metrics``) for the
whole process, headless or in the monitor, with ``prometheus_client``'s own server.

The server starts before any load, so a port already taken is said at once (exit 2); it runs
in a daemon thread and reads ``LiveFigures.values``, which the session's loop swaps whole.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from driver.export.live import LiveFigures
from driver.export.names import COUNTER, METRICS


class ExportError(ValueError):
    """An export that cannot start; the message is one line."""


class LiveCollector:
    """A custom collector: each scrape turns the figures now into metric families."""

    def __init__(self, figures: LiveFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        values = self.figures.values
        for metric in METRICS:
            samples = values.get(metric.name)
            if samples is None:  # not this kind of run (LLM figures of a plain one)
                continue
            family: Any = (CounterMetricFamily if metric.kind == COUNTER else GaugeMetricFamily)(
                metric.base, metric.help, labels=list(metric.labels))
            for labels, value in samples:
                family.add_metric(list(labels), float(value))
            yield family


def parse_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:9464``, ``[::1]:9464`` or ``:9464`` (every address) -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ExportError(f"--prometheus {text}: expected ADDR:PORT, e.g. 127.0.0.1:9464")
    host = host.strip("[]") or "0.0.0.0"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ExportError(f"--prometheus {text}: {host!r} is not an IP address") from None
    return host, int(port_text)


def serve(address: str, figures: LiveFigures) -> Any:
    """Start the endpoint; ExportError (one line) if the address cannot be had."""
    host, port = parse_address(address)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveCollector(figures))  # type: ignore[arg-type]
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ExportError(f"--prometheus {address}: cannot listen there "
                          f"({exc.strerror or exc})") from None
    return server
