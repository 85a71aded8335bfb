"""One second of requests served by the endpoint's instances, in bulk (numpy, no event loop).

The instances are one pool draining ``instances x capacity_rps`` requests per second, with
``instances x queue_bound`` places to wait. The number waiting ahead of request i (arriving
at t_i in the second) is the walk ``backlog + i - drain x t_i``, reflected at zero (an idle
pool does not store up service) and at the bound (an arrival that finds it full is answered
503 and adds nothing; or, when the client's in-flight cap is the lower bound, is not sent):
each reflection is a running minimum or maximum, so a second of a thousand requests costs a
few vector operations. A request's wait is the queue ahead of it
over the drain rate; its service time is drawn as the sandbox's instance draws it (normal,
clamped to [mean/5, mean + 4 jitter]). When the twin holds the measured service-time
quantiles, service times are drawn from them instead of the normal.

A pool that is busy but not full queues too: requests routed at random reach an instance's
``workers`` at random moments, and one that finds them all busy waits. In a second the pool
keeps up with (fewer due arrivals than it drains, no queue carried in) every request, and in
any other second one with fewer queued ahead of it in the walk than the pool has workers,
waits instead of the walk's wait, with the Erlang C probability of an M/M/c queue at the
instance's load, an exponential time of mean 1 / (capacity - arrival rate), scaled by
(Ca² + Cs²) / 2 (Allen-Cunneen): Cs² the service times' squared coefficient of variation, Ca²
the arrivals' (1 for Poisson; 1 - 1/instances for an even stream split at random, so one
instance fed an even stream never waits). What this leaves out: the imbalance of random
routing between instances past saturation; see docs/twin.md.

How much the pool drains in a second is ``Capacity``'s: the twin's one capacity, or, for a twin
fitted with fast and slow stretches, each instance's own stretch that second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.model import Stretches


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
    workers: int = 1  # one instance's requests in parallel
    # The client's cap on requests in flight (all its workers): past it, due requests are not
    # sent, so no more than the cap less the busy workers wait. None: no cap.
    max_in_flight: int | None = None
    # Squared coefficient of variation of the service time inside the instance (derived).
    service_cv2: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.quantiles:
            grid = np.linspace(0.0005, 0.9995, 1000)
            probabilities = np.array([p for p, _ in self.quantiles]) / 100.0
            values = np.maximum(np.interp(grid, probabilities, np.array(
                [v for _, v in self.quantiles]) - self.overhead_ms), self.model_ms / 5.0)
            mean = float(values.mean())
            cv2 = float(values.var()) / mean ** 2 if mean > 0 else 0.0
        else:
            cv2 = (self.jitter_ms / self.model_ms) ** 2 if self.model_ms > 0 else 0.0
        object.__setattr__(self, "service_cv2", cv2)

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


class Capacity:
    """Requests per second the serving instances drain, second by second. With stretches each
    instance position has its own timeline of fast and slow stretches, each stretch's length
    drawn from a geometric distribution of its mean (it ends in any second with probability
    1 / its mean), the first one's kind as the long run has them. The timelines are drawn
    ahead of need, so a queued request's wait can be worked out over the seconds to come
    (``drains``). Its draws come from a stream of its own, so a twin of one capacity draws what
    it always did from the arrivals' and service times' stream."""

    HORIZON_S = 120  # seconds ahead over which a queued request's wait is worked out

    def __init__(self, capacity_rps: float, stretches: Stretches | None, seed: int) -> None:
        self.capacity_rps = capacity_rps
        self.stretches = stretches
        self.rng = np.random.default_rng([seed, 1])
        self.timelines: list[np.ndarray] = []  # per instance position: True where slow

    def _timeline(self, position: int, until: int) -> np.ndarray:
        st = self.stretches
        assert st is not None
        while len(self.timelines) <= position:
            self.timelines.append(np.zeros(0, dtype=bool))
        line = self.timelines[position]
        if len(line) < until:
            parts = [line]
            slow = bool(line[-1]) if len(line) else bool(self.rng.random() >= st.slow_share)
            have = len(line)
            while have < until + self.HORIZON_S:
                slow = not slow
                length = int(self.rng.geometric(1.0 / max(st.slow_s if slow else st.fast_s,
                                                          1.0)))
                parts.append(np.full(length, slow))
                have += length
            line = self.timelines[position] = np.concatenate(parts)
        return line

    def drains(self, instances: int, second: int) -> tuple[float, np.ndarray | None]:
        """What ``instances`` drain in ``second``, and in each of the ``HORIZON_S`` seconds
        after it if their number holds (None for one capacity: a wait is then the queue over
        the drain)."""
        st = self.stretches
        if st is None:
            return instances * self.capacity_rps, None
        until = second + 1 + self.HORIZON_S
        total = np.zeros(until - second)
        for position in range(instances):
            slow = self._timeline(position, until)[second:until]
            total += np.where(slow, st.slow_rps, st.fast_rps)
        return float(total[0]), total[1:]


@dataclass(slots=True)
class Second:
    """What became of one second's arrivals."""

    arrivals: np.ndarray  # offsets in the second, sorted
    rejected: np.ndarray  # bool: answered 503 (queue full), or not sent (``not_sent``)
    model_s: np.ndarray  # time inside the instance (wait + service); rejected: 0
    latency_s: np.ndarray  # client latency (model + overhead); rejected: the overhead
    backlog: float  # requests still waiting at the second's end
    not_sent: np.ndarray  # bool, within ``rejected``: the client's in-flight cap was reached


def serve_second(model: ServingModel, backlog: float, arrivals: np.ndarray, instances: int,
                 rng: np.random.Generator, drain: float | None = None,
                 ahead: np.ndarray | None = None, poisson: bool = False,
                 offered: float | None = None) -> Second:
    """Serve ``arrivals`` (sorted offsets in [0, 1)) on ``instances`` instances, which drain
    ``drain`` requests this second (default: ``instances x capacity_rps``) and ``ahead`` in
    each second after it (default: the same). ``poisson``: the arrivals are a Poisson stream
    (else an even one); ``offered``: the requests the second was due to bring (default:
    those it brought), whose rate decides whether the pool keeps up (a Poisson second above
    its mean is not overload: Erlang C has its fluctuations already)."""
    n = len(arrivals)
    drain = instances * model.capacity_rps if drain is None else drain
    workers = instances * model.workers
    bound = float(instances * model.queue_bound)
    # The client sends no more than its cap: with all workers busy, cap - workers may wait.
    client_bound = (float("inf") if model.max_in_flight is None
                    else float(max(model.max_in_flight - workers, 0)))
    client_full = client_bound < bound
    bound = min(bound, client_bound)
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
    # In a second that the pool keeps up with (fewer arrivals than it drains, no queue carried
    # in), how long a request waits for a worker is the busy pool's question (Erlang C), not
    # the fluid walk's; else the walk's queue decides, except for a request with fewer queued
    # ahead of it than the pool has workers.
    offered = float(n) if offered is None else offered
    keeps_up = offered < drain and backlog < workers
    free = np.full(n, True) if keeps_up else waiting < workers
    model_s = np.where(free, 0.0, _waits(waiting, arrivals, drain, ahead)) \
        + model.sample_model_seconds(rng, n)
    if n and instances:
        model_s += _busy_pool_waits(free, offered / instances, drain / instances,
                                    model.workers, (1.0 if poisson else 1.0 - 1.0 / instances)
                                    + model.service_cv2, rng)
    model_s[rejected] = 0.0
    latency = model_s + overhead
    not_sent = rejected if client_full else np.zeros(n, dtype=bool)
    latency[not_sent] = 0.0
    # A pool that keeps up carries no queue into the next second: its waits were Erlang's.
    return Second(arrivals, rejected, model_s, latency, 0.0 if keeps_up else min(left, bound),
                  not_sent)


def _waits(waiting: np.ndarray, arrivals: np.ndarray, drain: float,
           ahead: np.ndarray | None) -> np.ndarray:
    """Seconds until the ``waiting`` requests ahead of each arrival are served: over this
    second's drain while the rest of it suffices, then over the seconds to come."""
    wait = waiting / drain
    if ahead is None or not len(waiting):
        return wait
    rest = (1.0 - arrivals) * drain
    later = waiting > rest
    if later.any():
        served = np.cumsum(ahead)
        need = waiting[later] - rest[later]
        j = np.minimum(np.searchsorted(served, need), len(ahead) - 1)
        before = np.where(j > 0, served[np.maximum(j - 1, 0)], 0.0)
        wait[later] = (1.0 - arrivals[later]) + j + (need - before) / ahead[j]
    return wait


def _busy_pool_waits(free: np.ndarray, arrival_rps: float, capacity_rps: float, workers: int,
                     variability: float, rng: np.random.Generator) -> np.ndarray:
    """Waits for a worker of a pool that is busy but not full (module docstring): ``free``
    marks the requests with no queue ahead of them; ``variability`` is Ca² + Cs²."""
    waits = np.zeros(len(free))
    load = arrival_rps / capacity_rps if capacity_rps > 0 else 1.0
    if variability <= 0 or load <= 0 or load >= 1 or not free.any():
        return waits
    offered = load * workers  # Erlangs
    blocking = 1.0  # Erlang B, by its recurrence; then Erlang C from it
    for k in range(1, workers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    waiting = workers * blocking / (workers - offered * (1.0 - blocking))
    mean_s = variability / 2.0 / (capacity_rps - arrival_rps)
    chosen = free & (rng.random(len(free)) < waiting)
    waits[chosen] = rng.exponential(mean_s, int(chosen.sum()))
    return waits
