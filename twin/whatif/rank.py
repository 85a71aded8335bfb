"""Each candidate policy run on the twin in virtual time, over the cores, and ranked.

A policy's figures: seconds whose p99 (ok) is above the latency objective, the error share,
the p99 of the whole run, instance-hours (instances billed each second, provisioning and
draining included) and their cost from ``driver.aws.prices``, and the cost per million
successful requests. A policy *meets the SLO* when its error share is at most the allowed one
and at most ``max_over_slo`` of the schedule's seconds are over the objective.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from driver.aws.prices import USD_PER_HOUR
from twin.model import ScalingPolicy, Twin
from twin.virtual import Traffic, VirtualRun

SORT_KEYS = ("cost", "over-slo", "errors", "p99", "cost-per-million")


@dataclass(frozen=True, slots=True)
class Objective:
    slo_ms: float
    max_error_share: float  # 0..1
    max_over_slo: float  # share of the schedule's seconds, 0..1


@dataclass(frozen=True, slots=True)
class PolicyFigures:
    policy: ScalingPolicy
    seconds_over_slo: int
    seconds: int
    error_share: float
    p99_ms: float | None
    instance_hours: float
    cost_usd: float | None
    cost_per_million_ok: float | None
    max_instances: int
    meets: bool

    def key(self, sort: str) -> tuple[float, ...]:
        cost = self.cost_usd if self.cost_usd is not None else self.instance_hours
        per_million = self.cost_per_million_ok if self.cost_per_million_ok is not None else \
            float("inf")
        p99 = self.p99_ms if self.p99_ms is not None else float("inf")
        keys = {"cost": (cost, self.seconds_over_slo), "over-slo": (self.seconds_over_slo, cost),
                "errors": (self.error_share, cost), "p99": (p99, cost),
                "cost-per-million": (per_million, self.seconds_over_slo)}
        return (0.0 if self.meets else 1.0, *keys[sort])


def evaluate(twin: Twin, traffic: Traffic, policy: ScalingPolicy | None, objective: Objective,
             seed: int = 0) -> PolicyFigures:
    result = VirtualRun(twin, traffic, policy, seed=seed).run()
    seconds = traffic.seconds
    over = int(np.sum(np.nan_to_num(result.p99_ms, nan=0.0) > objective.slo_ms))
    sent = int(result.sent.sum())
    ok = int(result.ok.sum())
    error_share = (sent - ok) / sent if sent else 0.0
    hours = float(result.billed.sum()) / 3600.0
    price = USD_PER_HOUR.get(twin.instance_type)
    cost = None if price is None else hours * price
    per_million = None if cost is None or ok == 0 else cost / ok * 1e6
    meets = (error_share <= objective.max_error_share
             and over <= objective.max_over_slo * seconds)
    fallback = ScalingPolicy("InvocationsPerInstance", 0.0, 1, 1)
    return PolicyFigures(policy or fallback, over, seconds, error_share,
                         result.percentile_ms(99), hours, cost, per_million,
                         int(result.serving.max()) if seconds else 0, meets)


def _evaluate(job: tuple[Twin, Traffic, ScalingPolicy, Objective, int]) -> PolicyFigures:
    return evaluate(*job)


def rank(twin: Twin, traffic: Traffic, policies: Sequence[ScalingPolicy], objective: Objective,
         *, seed: int = 0, jobs: int | None = None, sort: str = "cost",
         progress: Callable[[int, int], None] | None = None) -> list[PolicyFigures]:
    """Every policy's figures, those meeting the SLO first, then by ``sort``."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(policies)))
    work = [(twin, traffic, policy, objective, seed) for policy in policies]
    figures: list[PolicyFigures] = []
    if jobs == 1:
        for job in work:
            figures.append(_evaluate(job))
            if progress:
                progress(len(figures), len(work))
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            for done in pool.map(_evaluate, work):
                figures.append(done)
                if progress:
                    progress(len(figures), len(work))
    return sorted(figures, key=lambda f: f.key(sort))
