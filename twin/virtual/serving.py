"""One second of requests served by the endpoint's instances, in bulk (numpy, no event loop).

The instances are one pool draining ``instances x capacity_rps`` requests per second, with
``instances x queue_bound`` places to wait. The number waiting ahead of request i (arriving
at t_i in the second) is the walk ``backlog + i - drain x t_i``, reflected at zero (an idle
pool does not store up service) and at the bound (an arrival that finds it full is answered
503 and adds nothing): each reflection is a running minimum or maximum, so a second of a
thousand requests costs a few vector operations. A request's wait is the queue ahead of it
over the drain rate; its service time is drawn as the sandbox's instance draws it (normal,
clamped to [mean/5, mean + 4 jitter]). What this leaves out: the imbalance of random routing
between instances and the queueing of a pool that is busy but not full (at loads near capacity
with Poisson arrivals the real p99 is higher); see docs/twin.md. When the twin holds the
measured service-time quantiles, service times are drawn from them instead of the normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ServingModel:
    capacity_rps: float  # one instance, sustained
    queue_bound: int  # one instance
    model_ms: float  # mean service time inside the instance
    jitter_ms: float
    overhead_ms: float  # client service time outside the instance
    timeout_s: float  # the client's
    # The measured client service time at low load, as (probability %, ms) points: when
    # given, service times are drawn from it (its tail, not the normal's) less the overhead.
    quantiles: tuple[tuple[float, float], ...] = ()

    def sample_model_seconds(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.quantiles:
            probabilities = np.array([p for p, _ in self.quantiles]) / 100.0
            values = np.array([v for _, v in self.quantiles]) - self.overhead_ms
            drawn = np.interp(rng.random(n), probabilities, values)
            return np.maximum(drawn, self.model_ms / 5.0) / 1000.0
        low, high = self.model_ms / 5.0, self.model_ms + 4 * self.jitter_ms
        samples = rng.normal(self.model_ms, self.jitter_ms, n) if self.jitter_ms > 0 else \
            np.full(n, self.model_ms)
        return np.clip(samples, low, high) / 1000.0


@dataclass(slots=True)
class Second:
    """What became of one second's arrivals."""

    arrivals: np.ndarray  # offsets in the second, sorted
    rejected: np.ndarray  # bool: answered 503 (queue full)
    model_s: np.ndarray  # time inside the instance (wait + service); rejected: 0
    latency_s: np.ndarray  # client latency (model + overhead); rejected: the overhead
    backlog: float  # requests still waiting at the second's end


def serve_second(model: ServingModel, backlog: float, arrivals: np.ndarray, instances: int,
                 rng: np.random.Generator) -> Second:
    """Serve ``arrivals`` (sorted offsets in [0, 1)) on ``instances`` instances."""
    n = len(arrivals)
    drain = instances * model.capacity_rps
    bound = float(instances * model.queue_bound)
    overhead = model.overhead_ms / 1000.0
    walk = backlog + np.arange(n, dtype=np.float64) - drain * arrivals
    end = backlog + n - drain
    if n:
        lowest = min(float(np.minimum.accumulate(walk)[-1]), end)
        lower = walk - np.minimum(np.minimum.accumulate(walk), 0.0)
        over = np.maximum(np.maximum.accumulate(lower - bound), 0.0)
        waiting = np.maximum(lower - over, 0.0)
        whole = np.floor(over)
        rejected = np.diff(whole, prepend=0.0) > 0
        over_end = float(over[-1])
    else:
        lowest, over_end = end, 0.0
        waiting = np.zeros(0)
        rejected = np.zeros(0, dtype=bool)
    left = max(end - min(lowest, 0.0) - over_end, 0.0)
    model_s = waiting / drain + model.sample_model_seconds(rng, n)
    model_s[rejected] = 0.0
    latency = model_s + overhead
    return Second(arrivals, rejected, model_s, latency, min(left, bound))
