"""``--otlp URL``: the live figures pushed to an OpenTelemetry receiver over OTLP/HTTP
(protobuf), through the OpenTelemetry SDK's own exporter.

One observable instrument per row of ``names.METRICS`` (the name without ``_total``, the row's
unit), read from ``LiveFigures.values`` by the SDK's periodic reader every ``INTERVAL_S`` and
once more when the session's footer arrives, before the provider shuts down: a short run is
pushed whole. A receiver that is down costs a logged warning of the SDK, never the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from driver.export.live import LiveFigures
from driver.export.names import COUNTER, METRICS, Metric
from driver.export.prometheus import ExportError
from metrics.records import Footer, Record

INTERVAL_S = 5.0
FLUSH_TIMEOUT_MS = 5000


class OtlpPush:
    """A session consumer: starts pushing at once, flushes and stops at the footer."""

    def __init__(self, url: str, figures: LiveFigures, interval_s: float = INTERVAL_S) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ExportError(f"--otlp {url}: expected an http(s) URL, e.g. "
                              "http://127.0.0.1:4318/v1/metrics")
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource
        except ImportError:
            raise ExportError("--otlp needs the OpenTelemetry SDK: pip install "
                              "'loadwatch[otlp]'") from None
        import driver

        self.figures = figures
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=url, timeout=5),
                                               export_interval_millis=interval_s * 1000)
        self.provider = MeterProvider(
            metric_readers=[reader], shutdown_on_exit=False,
            resource=Resource.create({"service.name": "loadwatch",
                                      "service.version": driver.__version__}))
        meter = self.provider.get_meter("loadwatch", driver.__version__)
        for metric in METRICS:
            make = (meter.create_observable_counter if metric.kind == COUNTER
                    else meter.create_observable_gauge)
            make(metric.base, callbacks=[self._observer(metric)], unit=metric.unit,
                 description=metric.help)
        self.closed = False

    def _observer(self, metric: Metric) -> Callable[[object], Iterable[object]]:
        from opentelemetry.metrics import Observation

        def observe(_options: object) -> Iterable[object]:
            for labels, value in self.figures.values.get(metric.name, []):
                yield Observation(value, dict(zip(metric.labels, labels, strict=True)))

        return observe

    def __call__(self, record: Record) -> None:
        if isinstance(record, Footer):
            self.close()

    def close(self) -> None:
        """The last figures pushed, then the SDK's thread stopped."""
        if self.closed:
            return
        self.closed = True
        self.provider.force_flush(FLUSH_TIMEOUT_MS)
        self.provider.shutdown(FLUSH_TIMEOUT_MS)
