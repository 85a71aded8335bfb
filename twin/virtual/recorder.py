"""The records a live session would have written, built from a virtual run as it goes.

A header (``meta.simulated`` says it is one, with the twin, seed and policy), the schedule's
phase events, one tick per second (HDR histograms of the successful requests' latency and
service time, the failed ones' latency; requests counted in the second they complete), the
CloudWatch datapoints the poller asks for (``metrics.cloudwatch.METRICS``) in the second they
become visible, endpoint states when they change, scaling activities when they start or
change, and a footer with the same summary and ensure checks. Replay, compare and report read
it as any recording. There is no send lag in virtual time: ``lag`` is empty.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

import driver
from metrics import ensure as ensure_checks
from metrics import hdr
from metrics.cloudwatch import METRICS
from metrics.records import (
    FORMAT_VERSION,
    HTTP_5XX,
    OK,
    TIMEOUT,
    Datapoint,
    EndpointState,
    Event,
    Footer,
    Header,
    Record,
    ScalingActivity,
    Tick,
)
from metrics.stats import summarize
from sandbox.metricstore import series_key
from sandbox.simulation import Simulation
from twin.virtual.serving import Second
from twin.virtual.traffic import Traffic

TARGET_LABEL = "twin:{endpoint}/{variant} (simulated)"


class RecordBuilder:
    def __init__(self, sim: Simulation, traffic: Traffic, epoch0: float,
                 simulated: dict[str, Any], scaling_target: float | None) -> None:
        self.sim = sim
        self.traffic = traffic
        self.epoch0 = epoch0
        self.records: list[Record] = []
        self.ticks: dict[int, Tick] = {}
        # completion second -> lists of (ok latency us, failed latency us) arrays
        self._ok: dict[int, list[np.ndarray]] = defaultdict(list)
        self._failed: dict[int, list[np.ndarray]] = defaultdict(list)
        self._outcomes: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._sent = np.zeros(traffic.seconds, dtype=np.int64)
        self._not_sent = np.zeros(traffic.seconds, dtype=np.int64)
        self._endpoint_seen: tuple[Any, ...] | None = None
        self._activities: dict[str, tuple[Any, ...]] = {}
        config = sim.config
        meta: dict[str, Any] = {
            "plan": traffic.plan,
            "load": {"workers": 1, "arrivals": "poisson" if traffic.poisson else "even",
                     "timeout": traffic.timeout_s,
                     **({"max_in_flight": traffic.max_in_flight}
                        if traffic.max_in_flight is not None else {})},
            "ensure": dict(traffic.profile.ensure) if traffic.profile else {},
            "target_kind": "sagemaker",
            "load_source": {"kind": "virtual time"},
            "aws": {"endpoint": config.endpoint_name, "variant": config.variant,
                    "region": config.region, "sandbox": False,
                    "instance_type": config.profile.instance_type,
                    "instances": config.initial_instances,
                    "metrics_period": int(config.timings.period_s)},
            "simulated": simulated,
        }
        if scaling_target is not None:
            meta["scaling_target"] = {"invocations_per_instance_per_minute": scaling_target,
                                      "source": "profile"}
        profile = traffic.profile
        self.header = Header(
            format=FORMAT_VERSION, tool_version=driver.__version__,
            started_at=datetime.fromtimestamp(epoch0, UTC).isoformat(), t=epoch0,
            target=TARGET_LABEL.format(endpoint=config.endpoint_name, variant=config.variant),
            profile_path=str(profile.path) if profile and profile.path else None,
            profile=dict(profile.sanitized) if profile else {}, workers=1, meta=meta)
        self.records.append(self.header)
        self.records.append(Event(epoch0, 0.0, "session", "started",
                                  f"virtual time: {traffic.source}, {traffic.seconds} s"))
        self._phase_starts = {round(row["start"]): (i, row)
                              for i, row in enumerate(traffic.plan)}

    # --- each second -------------------------------------------------------------------------

    def before_second(self, k: int, now: float) -> None:
        """After the sandbox stepped to ``now``: what a live session's pollers would see."""
        if k in self._phase_starts:
            index, row = self._phase_starts[k]
            self.records.append(Event(now, float(k), "schedule", "phase_started",
                                      f"phase {index + 1}/{len(self.traffic.plan)} "
                                      f"'{row['name']}'", {"index": index, **row}))
        self._endpoint_state(k, now)
        self._scaling(now)
        self._datapoints(now)

    def after_second(self, k: int, second: Second, timed_out: np.ndarray) -> None:
        not_sent = int(second.not_sent.sum())
        self._sent[k] = len(second.arrivals) - not_sent
        self._not_sent[k] = not_sent
        done = np.floor(k + second.arrivals + second.latency_s).astype(np.int64)
        latency_us = (second.latency_s * 1e6).astype(np.int64)
        bad = second.rejected | timed_out
        sent = ~second.not_sent  # a request not sent never ends
        for at in np.unique(done[sent]).tolist():
            here = (done == at) & sent
            good = here & ~bad
            self._ok[at].append(latency_us[good])
            failed = here & bad
            if failed.any():
                self._failed[at].append(latency_us[failed])
                outcomes = self._outcomes[at]
                outcomes[HTTP_5XX] += int((failed & second.rejected).sum())
                outcomes[TIMEOUT] += int((failed & ~second.rejected).sum())
        self._emit_tick(k)

    def _emit_tick(self, k: int) -> None:
        traffic = self.traffic
        ok_parts = self._ok.pop(k, [])
        failed_parts = self._failed.pop(k, [])
        outcomes = {name: n for name, n in self._outcomes.pop(k, {}).items() if n}
        ok_us = np.concatenate(ok_parts) if ok_parts else np.zeros(0, dtype=np.int64)
        failed_us = np.concatenate(failed_parts) if failed_parts else np.zeros(0, np.int64)
        if len(ok_us):
            outcomes = {OK: len(ok_us), **outcomes}
        completed = sum(outcomes.values())
        status = {}
        if len(ok_us):
            status["200"] = len(ok_us)
        if outcomes.get(HTTP_5XX):
            status["503"] = outcomes[HTTP_5XX]
        in_schedule = k < traffic.seconds
        latency, out1 = hdr.encode_values(ok_us.tolist())
        failed_latency, out2 = hdr.encode_values(failed_us.tolist())
        self._completed = getattr(self, "_completed", 0) + completed
        tick = Tick(
            second=k, t=self.epoch0 + k, elapsed=float(k),
            phase=traffic.phase_names[int(traffic.phase_index[min(k, traffic.seconds - 1)])],
            phase_index=int(traffic.phase_index[min(k, traffic.seconds - 1)]),
            target_rps=float(traffic.target_rps[k]) if in_schedule else 0.0,
            sent=int(self._sent[k]) if in_schedule else 0, completed=completed,
            not_sent=int(self._not_sent[k]) if in_schedule else 0,
            outcomes=outcomes, status=status,
            errors={"ServiceUnavailable": outcomes[HTTP_5XX]} if outcomes.get(HTTP_5XX) else {},
            in_flight=int(self._sent[:k + 1].sum()) - self._completed,
            out_of_range=out1 + out2, in_schedule=in_schedule, latency=latency,
            service=latency, failed_latency=failed_latency)
        self.records.append(tick)
        self.ticks[k] = tick

    # --- what the pollers see ----------------------------------------------------------------

    def _endpoint_state(self, k: int, now: float) -> None:
        endpoint = self.sim.endpoint
        seen = (endpoint.status, endpoint.current, endpoint.desired)
        if seen == self._endpoint_seen:
            return
        self._endpoint_seen = seen
        self.records.append(EndpointState(
            t=now, elapsed=float(k), endpoint=endpoint.name, status=endpoint.status,
            variants=[{"name": endpoint.variant, "current": endpoint.current,
                       "desired": endpoint.desired,
                       "instance_type": endpoint.profile.instance_type}]))

    def _scaling(self, now: float) -> None:
        for activity in self.sim.autoscaler.activities:
            state = (activity.status, activity.end)
            if self._activities.get(activity.activity_id) == state:
                continue
            self._activities[activity.activity_id] = state
            self.records.append(ScalingActivity(
                t=activity.start, activity_id=activity.activity_id, status=activity.status,
                description=activity.description, cause=activity.cause, end=activity.end,
                status_message=activity.status_message or ""))

    def _datapoints(self, now: float) -> None:
        """Datapoints whose period became visible in the second before ``now``."""
        timings = self.sim.config.timings
        dims = self.sim.dimensions
        store = self.sim.store
        for spec in METRICS:
            period = int(spec.resolution or timings.period_s)
            # the period whose end + delay falls in (now - 1, now]
            end = now - timings.publication_delay_s
            start = int(np.floor(end / period) * period) - period
            if not (now - 1 < start + period + timings.publication_delay_s <= now):
                continue
            key = series_key(spec.namespace, spec.metric, dims)
            for t, value in store.query(key, start, start + period, period, spec.stat, now):
                self.records.append(Datapoint(
                    t=float(t), period=period, namespace=spec.namespace, metric=spec.metric,
                    stat=spec.stat, value=value * spec.scale, unit=spec.unit))

    # --- the end -----------------------------------------------------------------------------

    def finish(self, end: float) -> list[Record]:
        """Ticks of the seconds requests drained in, and the footer."""
        k = self.traffic.seconds
        while self._ok or self._failed:
            self._sent = np.append(self._sent, 0)
            self._not_sent = np.append(self._not_sent, 0)
            self._emit_tick(k)
            k += 1
        ticks = [self.ticks[s] for s in sorted(self.ticks)]
        summary = summarize(ticks)
        ensure = dict(self.traffic.profile.ensure) if self.traffic.profile else {}
        checks = ensure_checks.evaluate(ensure, summary["total"])
        self.records.append(Footer(t=self.epoch0 + k, elapsed=float(k), reason="completed",
                                   summary=summary, ensure=ensure_checks.as_dicts(checks),
                                   exit_code=0 if all(c.ok for c in checks) else 1))
        return self.records
