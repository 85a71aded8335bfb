"""The live figures every exporter reads: one session consumer keeps them, per ``names``.

``LiveFigures`` is fed every record on the session's loop; at each tick (and endpoint state)
it builds a fresh ``values`` mapping (metric name -> [(label values, value)]) and swaps it in
whole, so an exporter's thread (the Prometheus server, the OTLP reader) reads a consistent set
without a lock. Counters count from the session's start; gauges are of the last few seconds.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from driver.export.names import QUANTILES
from metrics import hdr
from metrics.client_load import ClientLoad, from_header_load
from metrics.cost import CostMeter
from metrics.llm import LlmAggregate
from metrics.records import OUTCOMES, EndpointState, Header, Record, Tick
from metrics.stats import Aggregate

Values = dict[str, list[tuple[tuple[str, ...], float]]]
WINDOW_S = 5


def _quantiles(histogram: hdr.Histogram) -> list[tuple[tuple[str, ...], float]]:
    if histogram.get_total_count() == 0:
        return []
    return [((q,), hdr.percentile_ms(histogram, 100 * float(q)) / 1000.0) for q in QUANTILES]


class LiveFigures:
    def __init__(self) -> None:
        self.values: Values = {}
        self.streaming = False
        self._recent: deque[Tick] = deque(maxlen=WINDOW_S)
        self._counts: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter({k: 0 for k in OUTCOMES})
        self._status: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._instances: dict[str, tuple[int, int]] = {}
        self._cost = CostMeter()
        self._client = ClientLoad()
        self.ticks = 0

    def __call__(self, record: Record) -> None:
        self._cost(record)
        if isinstance(record, Header):
            self._client = from_header_load(record.meta.get("load"))
        elif isinstance(record, Tick):
            self._add(record)
            self._publish()
        elif isinstance(record, EndpointState):
            for variant in record.variants:
                self._instances[str(variant.get("name") or "")] = (
                    int(variant.get("current") or 0), int(variant.get("desired") or 0))
            self._publish()

    def _add(self, tick: Tick) -> None:
        self.ticks += 1
        self._recent.append(tick)
        self._client.add(tick)
        counts = self._counts
        for name, value in (("sent", tick.sent), ("late", tick.late),
                            ("not_sent", tick.not_sent), ("output", tick.output_tokens),
                            ("input", tick.input_tokens), ("goodput", tick.goodput)):
            counts[name] += value
        self._outcomes.update(tick.outcomes)
        self._status.update(tick.status)
        self._errors.update(tick.errors)
        self.streaming = self.streaming or bool(tick.ttft or tick.output_tokens)

    def _publish(self) -> None:
        window = Aggregate().extend(self._recent)
        seconds = max(len(self._recent), 1)
        last = self._recent[-1] if self._recent else None
        counts = self._counts
        cost = self._cost.result()
        cpu = last.cpu if last else {}
        values: Values = {
            "loadwatch_requests_sent_total": [((), counts["sent"])],
            "loadwatch_requests_total": [((k,), v) for k, v in sorted(self._outcomes.items())],
            "loadwatch_responses_total": [((k,), v) for k, v in sorted(self._status.items())],
            "loadwatch_errors_total": [((k,), v) for k, v in sorted(self._errors.items())],
            "loadwatch_requests_late_total": [((), counts["late"])],
            "loadwatch_requests_not_sent_total": [((), counts["not_sent"])],
            "loadwatch_target_requests_per_second": [((), last.target_rps if last else 0.0)],
            "loadwatch_sent_requests_per_second": [((), window.sent / seconds)],
            "loadwatch_completed_requests_per_second": [((), window.completed / seconds)],
            "loadwatch_requests_in_flight": [((), last.in_flight if last else 0)],
            "loadwatch_latency_seconds": _quantiles(window.latency),
            "loadwatch_failed_latency_seconds": _quantiles(window.failed_latency),
            "loadwatch_send_lag_seconds": _quantiles(window.lag),
            "loadwatch_instances": [((k,), c) for k, (c, _d) in sorted(self._instances.items())],
            "loadwatch_instances_desired": [((k,), d)
                                            for k, (_c, d) in sorted(self._instances.items())],
            "loadwatch_cost_dollars_total": [((), cost["usd"])] if cost else [],
            "loadwatch_cost_dollars_per_hour": (
                [((), cost["usd_per_hour_now"])]
                if cost and cost["usd_per_hour_now"] is not None else []),
            "loadwatch_worker_cpu_ratio": [((w,), v) for w, v in sorted(cpu.items())],
            "loadwatch_event_loop_lag_seconds": [((), last.loop_lag_ms / 1000.0 if last
                                                  else 0.0)],
            "loadwatch_client_limited": [((), float(self._client.result()["limited"]))],
        }
        if self.streaming:
            llm = LlmAggregate()
            for tick in self._recent:
                llm.add(tick)
            values |= {
                "loadwatch_output_tokens_total": [((), counts["output"])],
                "loadwatch_input_tokens_total": [((), counts["input"])],
                "loadwatch_goodput_requests_total": [((), counts["goodput"])],
                "loadwatch_output_tokens_per_second": [((), llm.output_tokens / seconds)],
                "loadwatch_time_to_first_token_seconds": _quantiles(llm.histograms["ttft"]),
                "loadwatch_time_per_output_token_seconds": _quantiles(llm.histograms["tpot"]),
            }
            llm.release()
        window.release()
        self.values = values  # swapped whole: a reader's thread sees one set or the next

    def snapshot(self) -> dict[str, Any]:
        """The values now, for a reader in another thread."""
        return self.values
