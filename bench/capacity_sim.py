"""How repeatable is the capacity search? Many searches against a simulated noisy endpoint.

    .venv/bin/python bench/capacity_sim.py --searches 40 --seed 101
    .venv/bin/python bench/capacity_sim.py --searches 40 --seed 101 --drift 0.04 --search-drift 0.04

The endpoint is a queue shaped like ``tests/servers/model_server.py`` (gunicorn's 2 sync
workers behind nginx): ``servers`` workers take requests first come first served, each with a
gamma-distributed service time (coefficient of variation ``cv``) and, now and then, a stall
of one worker (a garbage collection: an extra exponential delay while it holds the request)
or a pause of the whole box (a neighbour takes the cores: every worker waits); nginx and the
network add a log-normal overhead that occupies no worker (it gives the unloaded p99 of about
10 ms the real server shows). Arrivals are open-loop Poisson at
the offered rate. The server's capacity moves by up to ``drift`` (uniform, ± 8 % by default)
from one run to the next, as the real server's did with whatever else ran on the box. Time
runs on across runs: a queue left by one run is there at the start of the next, and the 5 s
rest after a failed run lets it drain, as in ``CapacityRun``.

Each search is ``CapacitySearch`` itself, fed by ``SimEndpoint.hold``, which judges a run
second by second exactly as ``CapacityRun._hold`` does (``driver.capacity.run.HoldJudge``),
with the default step plan (23 s runs, 3 s not judged). Each variant in ``VARIANTS`` switches
one change on or off; every variant sees the same seeds, so the same endpoints. Printed per
variant: the answers' max/min over all searches and over each group of five (the real
bench's figure: median and worst group, and how many groups are within 10 %), the median
answer against the nominal capacity, the runs and simulated minutes per search. Results in
``bench/results/capacity_sim.json``. The calibration (stalls, pauses, overhead) was chosen
so that the search as it was scattered about as much as it did against the real server on a
quiet machine (max/min 1.33 over five); it is a model, not that server.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver.capacity.recovery import RecoveryGate, RecoveryRule, needs_recovery  # noqa: E402
from driver.capacity.run import EDGE_FACTOR, HoldJudge, StepPlan  # noqa: E402
from driver.capacity.search import CapacitySearch, Objectives, StepResult  # noqa: E402

RESULTS = ROOT / "bench" / "results"


@dataclass
class SimEndpoint:
    """A c-server FIFO queue with noisy service, stalls and a capacity that drifts per run."""

    capacity: float = 1250.0  # requests per second all workers together serve, on average
    seed: int = 0
    servers: int = 2
    cv: float = 0.8  # service time's coefficient of variation
    drift: float = 0.08  # the capacity of each run: capacity x uniform(1 - drift, 1 + drift)
    search_drift: float = 0.0  # and of the whole search, the same way (a slow drift)
    stall_per_s: float = 0.5  # stalls per second of busy time, each exponential...
    stall_ms: float = 20.0  # ...with this mean
    pause_per_s: float = 0.7  # pauses of the whole box (a neighbour takes the cores)...
    pause_ms: float = 25.0  # ...each exponential with this mean: every worker waits
    overhead_ms: float = 1.5  # median of the log-normal overhead outside the workers
    overhead_sigma: float = 0.8
    # The server's listen queue (gunicorn's backlog, 2048): a request arriving with this many
    # accepted and not yet served is turned away at once (nginx's 502); every accepted one is
    # served, whether its client still waits or not. None: unbounded, nothing turned away.
    queue_limit: int | None = 2048
    timeout_s: float = 30.0  # the client gives up (an error) after this; the server does not
    # A deep queue slows the server itself: each request served takes 1 + queued / this as
    # long (connections held open, their timeouts and retries, all on the capped CPU), so a
    # burst past capacity leaves a queue that drains slower than it grew. None: no such cost.
    thrash_at: float | None = None
    # A target that never recovers: offered more than this, it wedges (a leak, a stuck
    # worker) and from then on serves at a fiftieth of its capacity. None: it never wedges.
    wedges_above: float | None = None
    wedged: bool = field(init=False, default=False)
    rng: np.random.Generator = field(init=False)
    now: float = field(init=False, default=0.0)
    free: list[float] = field(init=False)
    capacities: list[float] = field(init=False, default_factory=list)
    # When each accepted request leaves its worker (a heap): the server's queue, which
    # survives the end of a run, a rest and the client's timeout.
    queue: list[float] = field(init=False, default_factory=list)
    client_until: float = field(init=False, default=0.0)  # the client's last request ends

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.capacity *= 1 + self.rng.uniform(-self.search_drift, self.search_drift)
        self.free = [0.0] * self.servers

    def backlog(self) -> int:
        """Requests accepted and not yet served now (whoever still waits for them)."""
        while self.queue and self.queue[0] <= self.now:
            heapq.heappop(self.queue)
        return len(self.queue)

    def rest(self, seconds: float) -> None:
        self.now += seconds

    def drain(self, deadline: float) -> None:
        """No load until none of the client's requests is in flight (or ``deadline``)."""
        self.now = max(self.now, min(self.client_until, deadline))

    def _run(self, rate: float, seconds: int) -> dict[str, np.ndarray]:
        """Arrivals for ``seconds`` at ``rate``; each request's send and completion times."""
        rng = self.rng
        capacity = self.capacity * (1 + rng.uniform(-self.drift, self.drift))
        self.wedged = self.wedged or (self.wedges_above is not None and rate > self.wedges_above)
        if self.wedged:
            capacity /= 50
        self.capacities.append(capacity)
        n = rng.poisson(rate * seconds)
        sends = np.sort(rng.uniform(0, seconds, n)) + self.now
        mean_s = self.servers / capacity  # a worker's mean service time
        shape = 1 / self.cv ** 2
        service = rng.gamma(shape, mean_s / shape, n)
        stalled = rng.random(n) < self.stall_per_s * mean_s
        service[stalled] += rng.exponential(self.stall_ms / 1000, int(stalled.sum()))
        # the mean stall time is part of the capacity: take it out of the service itself
        service *= mean_s / (mean_s + self.stall_per_s * mean_s * self.stall_ms / 1000)
        overhead = rng.lognormal(math.log(self.overhead_ms / 1000), self.overhead_sigma, n)
        npause = rng.poisson(self.pause_per_s * seconds)
        pauses = (np.sort(rng.uniform(0, seconds, npause)) + self.now,
                  rng.exponential(self.pause_ms / 1000, npause))
        start_free, start_queue = list(self.free), list(self.queue)
        done, turned_away = self._serve(sends, service, overhead, pauses)
        self.now += seconds
        return {"sends": sends, "done": done, "turned_away": turned_away, "service": service,
                "overhead": overhead, "pauses": pauses, "start_free": start_free,
                "start_queue": start_queue}

    def _serve(self, sends: np.ndarray, service: np.ndarray, overhead: np.ndarray,
               pauses: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """First come, first served: the earliest free worker takes each request.

        A pause of the box at ``t`` for ``d`` delays every worker: the request each one holds
        finishes ``d`` later, an idle one is free only after ``t + d``. A request arriving
        while ``queue_limit`` are accepted and unserved is turned away at once (it finishes
        after its overhead alone, an error). Returns each request's finish (as the server
        sends it, however long its client waited) and whether it was turned away.
        """
        free, queue, limit = self.free, self.queue, self.queue_limit
        holding = [-1] * len(free)  # the request each worker has (or last had)
        finish: list[float] = []
        turned_away: list[bool] = []
        at, lasting = pauses[0].tolist(), pauses[1].tolist()
        p = 0
        for i, (send, work, extra) in enumerate(zip(sends.tolist(), service.tolist(),
                                                    overhead.tolist(), strict=True)):
            while p < len(at) and at[p] <= send:
                for k, busy_until in enumerate(free):
                    if busy_until > at[p] and holding[k] >= 0:
                        finish[holding[k]] += lasting[p]
                    free[k] = max(busy_until, at[p]) + lasting[p]
                p += 1
            while queue and queue[0] <= send:
                heapq.heappop(queue)
            if limit is not None and len(queue) >= limit:
                finish.append(send + extra)
                turned_away.append(True)
                continue
            if self.thrash_at:
                work *= 1 + len(queue) / self.thrash_at
            k = free.index(min(free))
            free[k] = (send if send > free[k] else free[k]) + work
            holding[k] = i
            heapq.heappush(queue, free[k])
            finish.append(free[k] + extra)
            turned_away.append(False)
        return np.array(finish), np.array(turned_away, dtype=bool)

    def hold(self, search: CapacitySearch, rate: float, plan: StepPlan,
             seconds: float, judge_early: bool = True,
             settle_s: float | None = None) -> StepResult:
        """One run, judged second by second as ``CapacityRun._hold`` judges it."""
        whole = max(int(seconds), 1)
        begin = self.now
        run = self._run(rate, whole)
        settle = plan.settle_s if settle_s is None else settle_s
        sends = run["sends"] - begin
        # What the client sees: the answer, or its own timeout (an error; the server goes on)
        served = run["done"] - begin
        done = np.minimum(served, sends + self.timeout_s)
        self.client_until = begin + float(done.max()) if done.size else self.now
        failed = run["turned_away"] | (served - sends > self.timeout_s)
        latency_ms = (done - sends) * 1000
        done_second = np.floor(done).astype(int)
        done_sorted = np.sort(done)

        def in_flight(second: int) -> int:  # at the end of ``second`` of this run
            end = second + 1
            return int(np.searchsorted(sends, end) - np.searchsorted(done_sorted, end))

        def measure(first: int, last: int, stopped_early: bool = False,
                    overloaded_s: int = 0) -> StepResult:
            mask = (done_second >= first) & (done_second <= last)
            ended = int(mask.sum())
            lat = latency_ms[mask & ~failed]  # as loadwatch: the latency of the successes
            sent = int(np.searchsorted(sends, last + 1) - np.searchsorted(sends, first))
            p99 = float(np.percentile(lat, 99)) if lat.size else None
            p50 = float(np.percentile(lat, 50)) if lat.size else None
            # The client sends on its schedule (loadwatch's pacer does, to within 1 %): the
            # Poisson count's own noise is not a shortfall of the client's.
            return StepResult(rate=rate, achieved_rps=rate if sent else 0.0,
                              error_rate=float((mask & failed).sum()) / ended if ended else 0.0,
                              p99_ms=p99, p50_ms=p50, requests=ended,
                              stopped_early=stopped_early, overloaded_s=overloaded_s,
                              seconds=last - first + 1)

        judge = HoldJudge(search, rate, int(settle), whole - 1, measure, in_flight, 0)
        for second in range(judge.begin or 0, whole if judge_early else 0):
            stopped = judge.second_done(second)
            if stopped is not None:
                # the run was cut short: what it would have sent after that was not sent
                self.now = begin + second + 1
                self.free, self.queue = run["start_free"], run["start_queue"]
                keep = int(np.searchsorted(run["sends"], self.now))
                self.client_until = begin + float(done[:keep].max()) if keep else self.now
                at, lasting = run["pauses"]
                early = at < self.now
                self._serve(run["sends"][:keep], run["service"][:keep], run["overhead"][:keep],
                            (at[early], lasting[early]))
                return stopped
        return judge.result()


# What each variant sets: the search's fields, its objectives and the step plan (explicitly,
# so a variant means the same whatever the defaults). "before" is the search as it was before
# issue 11 (a p99 over the objective fails a run; a first pass stands); "issue 11" added the
# backlog criterion and the highest pass confirmed (a blind 5 s rest after a failure); the
# rest are issue 22's changes one by one, and "now" is the default: all of them.
NO_GATE = RecoveryRule(enabled=False)
ISSUE_11 = {"search": {"confirm_edge": True, "careful_growth": 0.0},
            "objectives": {"backlog_limit": 0.01, "early_clear": False,
                           "window_median": False},
            "plan": {"edge_factor": 1.0, "recovery": NO_GATE}}
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "before": {"search": {"confirm_edge": False, "strict_latency": True, "careful_growth": 0.0},
               "objectives": {"backlog_limit": None, "early_clear": False,
                              "window_median": False},
               "plan": {"edge_factor": 1.0, "recovery": NO_GATE}},
    "issue 11": ISSUE_11,
    "+ recovery gate": {**ISSUE_11, "plan": {"edge_factor": 1.0}},
    "+ careful growth": {**ISSUE_11, "search": {"confirm_edge": True}},
    "+ early clear failures": {**ISSUE_11, "objectives": {"backlog_limit": 0.01,
                                                          "window_median": False}},
    "+ longer edge holds": {**ISSUE_11, "plan": {"edge_factor": EDGE_FACTOR,
                                                 "recovery": NO_GATE}},
    "+ window median": {**ISSUE_11, "objectives": {"backlog_limit": 0.01,
                                                   "early_clear": False}},
    "now": {"search": {}, "objectives": {}, "plan": {}},
    "now, edge holds x2": {"search": {}, "objectives": {}, "plan": {"edge_factor": 2.0}},
    "now, no longer edge holds": {"search": {}, "objectives": {}, "plan": {"edge_factor": 1.0}},
    "now, no window median": {"search": {}, "objectives": {"window_median": False},
                              "plan": {}},
    "now, clear on any queue": {"search": {}, "objectives": {"clear_needs_growth": False},
                                "plan": {}},
}

# The server of issue 22's search: hey's ~240 req/s, and a queue that slows the server as it
# deepens (calibrated so that "issue 11" falls from 200 to about 120 req/s as that search did).
SURVIVING_QUEUE = {"capacity": 240.0, "thrash_at": 1000.0}


def recover(sim: SimEndpoint, search: CapacitySearch, plan: StepPlan) -> dict[str, Any]:
    """``CapacityRun._recover`` on the simulated endpoint: the same ``RecoveryGate``."""
    assert search.latency_objective_ms is not None
    gate = RecoveryGate(plan.recovery, sim.now, search.unloaded_p50_ms,
                        search.latency_objective_ms, search.objectives.max_error_rate)
    while True:
        action, value = gate.next_action(sim.now)
        if action == "drain":
            sim.drain(value)
            gate.drained(sim.now)
        elif action == "probe":
            gate.probed(sim.hold(search, plan.baseline_rps, plan, value, False, 0.0), sim.now)
        elif action == "pause":
            sim.rest(value)
            gate.paused()
        else:
            return {"recovered": action == "recovered", "waited_s": gate.waited,
                    "probes": len(gate.probes)}


def one_search(capacity: float, seed: int, variant: str = "now", start: float = 50,
               trace: list[str] | None = None, **endpoint: Any) -> dict[str, Any]:
    """One search as ``CapacityRun._run`` drives it; ``trace`` gets a line per run."""
    change = VARIANTS[variant]
    plan = dataclasses.replace(StepPlan.for_period(10, start), **change["plan"])
    sim = SimEndpoint(capacity=capacity, seed=seed, **endpoint)
    search = CapacitySearch(start_rps=start, objectives=Objectives(**change["objectives"]))
    base = sim.hold(search, plan.baseline_rps, plan, plan.baseline_s, False)
    search.set_baseline(base.p99_ms or 1.0, base.p50_ms)
    for name, value in change["search"].items():
        setattr(search, name, value)
    previous, recover_next, waits, unrecovered = None, False, [], False
    while (rate := search.next_rate()) is not None:
        recover_wait = recover_next and plan.gated(search)
        if recover_wait:
            wait = recover(sim, search, plan)
            waits.append(round(wait["waited_s"], 1))
            if not wait["recovered"]:
                unrecovered = True
                break
        elif previous is not None and not previous.passed:
            sim.rest(plan.rest_s)
        queued = sim.backlog()
        result = sim.hold(search, rate, plan, plan.hold_for(search))
        previous = search.record(result)
        recover_next = needs_recovery(result, previous, search)
        if trace is not None:
            verdict = ("aside" if previous.contaminated else
                       "pass" if previous.passed else "FAIL")
            waited = waits[-1] if waits and recover_wait else 0.0
            trace.append(f"{sim.now:6.0f} s  {rate:6g}  {verdict:5}  wait {waited:5.1f} s"
                         f"  queue at start {queued:5d}  p99 {result.p99_ms or 0:7.0f} ms  "
                         f"errors {100 * result.error_rate:3.0f}%"
                         + ("  cut short" if result.stopped_early else ""))
    rec = search.recommendation() or {}
    return {"answer": rec.get("max_rps"), "runs": len(search.history),
            "minutes": round(sim.now / 60, 1), "objective_ms": search.latency_objective_ms,
            "capacities": [round(c) for c in sim.capacities], "waits_s": waits,
            "unrecovered": unrecovered, "contaminated": sum(search.contaminated.values())}


def repeat(searches: int, capacity: float, seed: int = 1, variant: str = "now",
           **endpoint: Any) -> dict[str, Any]:
    found = [one_search(capacity, seed + i, variant, **endpoint) for i in range(searches)]
    answers = [f["answer"] for f in found if f["answer"]]
    return {
        "variant": variant, "capacity": capacity, "searches": searches, "answers": answers,
        "max_over_min": round(max(answers) / min(answers), 3),
        "median_over_capacity": round(statistics.median(answers) / capacity, 3),
        "worst_of_5": worst_of_five(answers),
        "runs_median": statistics.median(f["runs"] for f in found),
        "minutes_median": statistics.median(f["minutes"] for f in found),
        "objective_ms_median": round(statistics.median(f["objective_ms"] for f in found), 1),
        "recovery_wait_s_median": round(statistics.median(
            [w for f in found for w in f["waits_s"]] or [0.0]), 1),
        "recovery_wait_s_max": max([w for f in found for w in f["waits_s"]] or [0.0]),
        "unrecovered": sum(f["unrecovered"] for f in found),
        "contaminated_runs": sum(f["contaminated"] for f in found),
    }


def worst_of_five(answers: list[float]) -> dict[str, float]:
    """Over consecutive groups of five answers (the real bench's figure): max/min of each."""
    groups = [answers[i:i + 5] for i in range(0, len(answers) - 4, 5)] or [answers]
    ratios = sorted(max(g) / min(g) for g in groups)
    within = sum(r <= 1.10 for r in ratios)
    return {"median": round(statistics.median(ratios), 3), "worst": round(ratios[-1], 3),
            "groups_within_10pct": f"{within} of {len(ratios)}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--searches", type=int, default=40)
    parser.add_argument("--capacity", type=float, default=1250.0)
    parser.add_argument("--drift", type=float, default=0.08)
    parser.add_argument("--search-drift", type=float, default=0.0,
                        help="the capacity also moves this much from one search to the next")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--surviving-queue", action="store_true",
                        help="issue 22's server: 240 req/s, a deep queue slows it (overrides "
                             "--capacity)")
    parser.add_argument("--trace", action="store_true",
                        help="print each run of the first search of each variant")
    parser.add_argument("--out", type=Path, default=RESULTS / "capacity_sim.json")
    args = parser.parse_args(argv)
    endpoint: dict[str, Any] = dict(SURVIVING_QUEUE) if args.surviving_queue else {
        "capacity": args.capacity}
    capacity = endpoint.pop("capacity")
    report = {}
    for variant in args.variants:
        if args.trace:
            trace: list[str] = []
            one_search(capacity, args.seed, variant, trace=trace, drift=args.drift, **endpoint)
            print(f"{variant}:", *trace, sep="\n  ", flush=True)
        began = time.monotonic()
        found = repeat(args.searches, capacity, args.seed, variant, drift=args.drift,
                       search_drift=args.search_drift, **endpoint)
        found["seconds"] = round(time.monotonic() - began, 1)
        print(json.dumps({k: v for k, v in found.items() if k != "answers"}), flush=True)
        report[variant] = found
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
