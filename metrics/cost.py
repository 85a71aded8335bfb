"""What a run cost: instance-hours from the live instance count, priced per instance type.

The prices come from the recording's header (``meta.prices``: instance type -> USD per hour,
with where the figure came from and when), put there by the session's setup (the AWS Price List
API, a ``--price`` override, or the table in ``driver/aws/prices.py``). The instance count is
the endpoint's (``EndpointState``: each variant's current count and type), held from one state
to the next; before the first state, the count the pre-flight saw (``meta.aws``). A plain HTTP
target has no instances: with a single ``--price`` it counts as one machine at that price.

``CostMeter`` is a consumer: fed every record it knows, at any moment, the cost so far, the
cost per hour now, and per million successful requests (per million output tokens for a
streaming LLM run). Copies of an inference component are not priced yet: instances are.
"""

from __future__ import annotations

from typing import Any

from metrics.records import OK, EndpointState, Header, Record, Tick

ANY_TYPE = "*"  # a --price with no instance type: every instance, or a plain HTTP server


class CostMeter:
    def __init__(self) -> None:
        self.prices: dict[str, dict[str, Any]] = {}
        self.usd = 0.0
        self.rate_usd_per_hour: float | None = None  # now; None: no price for what runs
        self.since = 0.0  # elapsed time the rate holds from
        self.elapsed = 0.0
        self.ok = 0
        self.output_tokens = 0
        self.unpriced: set[str] = set()

    def price_of(self, instance_type: str | None) -> float | None:
        row = self.prices.get(instance_type or "") or self.prices.get(ANY_TYPE)
        return None if row is None else float(row["usd_per_hour"])

    def _rate(self, counts: list[tuple[str | None, int]]) -> float | None:
        total, priced = 0.0, False
        for instance_type, count in counts:
            price = self.price_of(instance_type)
            if price is None:
                if count:
                    self.unpriced.add(instance_type or "unknown")
                continue
            total += price * count
            priced = True
        return total if priced else None

    def _advance(self, elapsed: float) -> None:
        if elapsed > self.since and self.rate_usd_per_hour is not None:
            self.usd += self.rate_usd_per_hour * (elapsed - self.since) / 3600.0
        self.since = max(self.since, elapsed)
        self.elapsed = max(self.elapsed, elapsed)

    def __call__(self, record: Record) -> None:
        if isinstance(record, Header):
            self.prices = dict(record.meta.get("prices") or {})
            aws = record.meta.get("aws") or {}
            if aws.get("instances") is not None:
                self.rate_usd_per_hour = self._rate([(aws.get("instance_type"),
                                                      int(aws["instances"]))])
            elif ANY_TYPE in self.prices:  # a plain HTTP server at the --price given
                self.rate_usd_per_hour = self.price_of(ANY_TYPE)
        elif isinstance(record, EndpointState):
            self._advance(record.elapsed)
            counts = [(v.get("instance_type"), int(v.get("current") or 0))
                      for v in record.variants]
            rate = self._rate(counts)
            if rate is None and self.prices and not any(c for _t, c in counts):
                rate = 0.0  # scaled to zero: nothing to pay for
            self.rate_usd_per_hour = rate
        elif isinstance(record, Tick):
            self._advance(record.second + 1.0)
            self.ok += record.outcomes.get(OK, 0)
            self.output_tokens += record.output_tokens

    def result(self) -> dict[str, Any] | None:
        """The figures (USD), or None when nothing was priced."""
        if self.rate_usd_per_hour is None and not self.usd:
            return None
        return {
            "usd": round(self.usd, 6),
            "usd_per_hour_now": self.rate_usd_per_hour,
            "usd_per_million_ok": per_million(self.usd, self.ok),
            "usd_per_million_output_tokens": per_million(self.usd, self.output_tokens),
            "seconds": round(self.elapsed, 3),
            "prices": self.prices,
            "unpriced_types": sorted(self.unpriced),
        }


def per_million(usd: float, count: int) -> float | None:
    return None if count <= 0 else usd * 1e6 / count


def cost_line(cost: dict[str, Any] | None) -> str | None:
    """``cost: $0.0123 so far, $0.54/hour now, $0.41 per million ok requests (…)``."""
    if not cost:
        return None
    parts = [f"${cost['usd']:.4f} so far"]
    if cost.get("usd_per_hour_now") is not None:
        parts.append(f"${cost['usd_per_hour_now']:.2f}/hour now")
    if cost.get("usd_per_million_output_tokens") is not None:
        parts.append(f"${cost['usd_per_million_output_tokens']:.2f} per million output tokens")
    if cost.get("usd_per_million_ok") is not None:
        parts.append(f"${cost['usd_per_million_ok']:.2f} per million ok requests")
    sources = sorted({f"{t}: {row.get('source', '?')}, {row.get('date', '?')}"
                      for t, row in (cost.get("prices") or {}).items()})
    return "cost: " + ", ".join(parts) + (f" (prices: {'; '.join(sources)})" if sources else "")
