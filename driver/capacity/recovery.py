"""The recovery gate: no run starts on a target still working off the last run's queue.

A run past capacity leaves a queue behind — requests the server accepted and serves whether or
not their clients still wait — and a run that starts on it measures that backlog, not the rate.
So after a run that failed, was cut short, was contaminated or ended with a backlog in flight
(``needs_recovery``), the search waits until the target has recovered:

1. **drain**: no load until nothing of ours is in flight;
2. **probe**: ``RecoveryRule.probe_s`` at the baseline's rate; the target has recovered when the
   probe's p50 is back near the unloaded p50 (at most ``p50_factor`` times it, and
   ``p50_margin_ms`` more), its p99 is under the latency objective, its errors under the limit
   and its requests in flight at its end no more than the baseline rate keeps in flight within
   the objective (``probe_recovered``);
3. otherwise **pause** ``pause_s`` without load and probe again, until ``max_wait_s`` have
   passed since the run ended; a target that has not recovered by then ends the search with the
   answer so far, flagged (the command exits ``EXIT_UNRECOVERED``).

``RecoveryGate`` is that procedure as a state machine, told the time and each probe's figures,
so ``driver.capacity.run.CapacityRun`` (live) and ``bench/capacity_sim.py`` (simulated) follow
the same steps. ``contaminated`` tells a run that inherited a queue from one that failed: its
first judged seconds slow, its last ones not, its backlog not growing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driver.capacity.search import CapacitySearch, StepResult, Verdict

EXIT_UNRECOVERED = 4  # the target did not recover: the answer is the one so far, flagged


@dataclass(frozen=True, slots=True)
class RecoveryRule:
    probe_s: float = 4.0  # each probe lasts this long, at the baseline's rate
    pause_s: float = 3.0  # no load between a probe that failed and the next
    max_wait_s: float = 180.0  # from the run's end: a target not back by then is not coming
    p50_factor: float = 2.0  # the probe's p50 at most this many times the unloaded p50...
    p50_margin_ms: float = 5.0  # ...plus this (a 3 ms p50 moves by milliseconds on its own)
    enabled: bool = True

    def describe(self) -> str:
        return (f"after a failed, cut-short or backlogged run the next waits until nothing is in "
                f"flight and a {self.probe_s:g} s probe at the baseline rate has its p50 within "
                f"{self.p50_factor:g}x the unloaded p50 + {self.p50_margin_ms:g} ms and its p99 "
                f"under the objective (at most {self.max_wait_s:g} s)")


def needs_recovery(result: StepResult, verdict: Verdict, search: CapacitySearch) -> bool:
    """Whether the next run must wait for the target to recover from this one: it failed, was
    cut short or contaminated, or ended with more in flight than its rate keeps within the
    latency objective (a queue the next run would inherit)."""
    if not verdict.passed or result.stopped_early or verdict.contaminated:
        return True
    objective = search.latency_objective_ms
    return objective is not None and backlogged(result, result.rate, objective)


def backlogged(result: StepResult, rate: float, objective_ms: float) -> bool:
    """More in flight at the end than ``rate`` keeps in flight within the objective (and more
    than one request): the target is behind."""
    flight = result.in_flight_end
    return flight is not None and flight > max(1.0, rate * objective_ms / 1000)


def probe_recovered(probe: StepResult, rule: RecoveryRule, unloaded_p50_ms: float | None,
                    objective_ms: float, max_error_rate: float) -> tuple[bool, str]:
    """Whether a probe finds the target recovered, and its figures (or what is still wrong)."""
    if probe.p50_ms is None or probe.p99_ms is None:
        return False, "no probe request completed"
    figures = f"p50 {probe.p50_ms:.1f} ms, p99 {probe.p99_ms:.1f} ms"
    wrong = []
    if unloaded_p50_ms is not None:
        limit = rule.p50_factor * unloaded_p50_ms + rule.p50_margin_ms
        if probe.p50_ms > limit:
            wrong.append(f"p50 over {limit:.1f} ms")
    if probe.p99_ms >= objective_ms:
        wrong.append(f"p99 over {objective_ms:.0f} ms")
    if probe.error_rate >= max_error_rate:
        wrong.append(f"errors {100 * probe.error_rate:.0f}%")
    if backlogged(probe, probe.rate, objective_ms):
        wrong.append(f"{probe.in_flight_end:.0f} still in flight")
    return not wrong, figures + (f" ({', '.join(wrong)})" if wrong else "")


@dataclass
class RecoveryGate:
    """One wait for recovery. ``began`` is when the run ended (the caller's clock, seconds).

    Ask ``next_action(now)``: ``("drain", deadline)``, ``("probe", seconds)``, ``("pause",
    seconds)``, ``("recovered", waited)`` or ``("gave_up", waited)``; after a drain call
    ``drained(now)``, after a probe ``probed(result, now)``, after a pause ``paused()``.
    """

    rule: RecoveryRule
    began: float
    unloaded_p50_ms: float | None
    objective_ms: float
    max_error_rate: float
    state: str = "drain"  # drain, probe, pause, recovered, gave_up
    probes: list[str] = field(default_factory=list)  # each probe's figures
    ended: float | None = None

    def next_action(self, now: float) -> tuple[str, float]:
        if self.state == "drain":
            return "drain", self.began + self.rule.max_wait_s
        if self.state in ("recovered", "gave_up"):
            return self.state, self.waited
        if now + (self.rule.pause_s if self.state == "pause" else 0) + self.rule.probe_s \
                > self.began + self.rule.max_wait_s:
            self.state, self.ended = "gave_up", now
            return "gave_up", self.waited
        if self.state == "pause":
            return "pause", self.rule.pause_s
        return "probe", self.rule.probe_s

    def drained(self, now: float) -> None:
        self.state = "probe"

    def paused(self) -> None:
        self.state = "probe"

    def probed(self, probe: StepResult, now: float) -> bool:
        ok, figures = probe_recovered(probe, self.rule, self.unloaded_p50_ms, self.objective_ms,
                                      self.max_error_rate)
        self.probes.append(figures)
        if ok:
            self.state, self.ended = "recovered", now
        else:
            self.state = "pause"
        return ok

    @property
    def waited(self) -> float:
        return (self.ended if self.ended is not None else self.began) - self.began


def contaminated(seconds_p50: list[float | None], result: StepResult, objective_ms: float,
                 backlog_limit: float | None) -> bool:
    """Whether a run inherited the previous run's queue rather than made its own: its first two
    judged seconds each had a p50 over the objective (or nothing completed), its last third
    none over it, and its backlog did not grow. Past capacity the run stays slow to its end."""
    n = len(seconds_p50)
    if n < 6 or result.stopped_early:
        return False
    growing = backlog_limit is not None and result.backlog_growth is not None \
        and result.backlog_growth >= backlog_limit
    head, tail = seconds_p50[:2], seconds_p50[n - max(2, n // 3):]
    return not growing and all(p is None or p >= objective_ms for p in head) \
        and all(p is not None and p < objective_ms for p in tail)
