"""``loadwatch what-if TRAFFIC --twin twin.yml``: scaling policies tried on a twin in virtual time.

TRAFFIC is a profile (its schedule) or a recording (its per-second arrivals). Candidate
policies are every combination of the lists and ranges given; each runs on the twin on its
own core, and the table ranks them (those meeting the SLO first). The cheapest that meets it
is printed as a profile's ``scaling:`` block and as Application Auto Scaling JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "what-if", help="try scaling policies on a fitted twin, in virtual time, and rank them",
        description="Run each candidate policy on the twin (the sandbox's autoscaler on a "
                    "virtual clock) against the traffic of a profile or a recording; rank "
                    "by cost, time over the latency SLO, errors or p99; print the cheapest "
                    "policy that meets the SLO as a scaling: block and as Application Auto "
                    "Scaling JSON. Lists are a,b,c; ranges START:STOP:STEP (stop included). "
                    "Exit 2 on bad input.")
    parser.add_argument("traffic", type=Path, metavar="PROFILE|RECORDING",
                        help="a profile (its schedule) or a recording (.jsonl: the rate it "
                             "was asked for, second by second)")
    parser.add_argument("--twin", type=Path, required=True, help="the twin file (loadwatch twin)")
    policy = parser.add_argument_group("candidate policies")
    policy.add_argument("--metric", default="invocations",
                        help="invocations (InvocationsPerInstance), concurrency "
                             "(ConcurrentRequestsPerModel, high resolution), or both: "
                             "invocations,concurrency")
    policy.add_argument("--target", metavar="LIST|RANGE",
                        help="InvocationsPerInstance targets per instance per minute "
                             "(default: the profile's scaling.target)")
    policy.add_argument("--concurrency-target", metavar="LIST|RANGE",
                        help="ConcurrentRequestsPerModel targets (requests in flight)")
    policy.add_argument("--min", dest="min_capacity", metavar="LIST|RANGE",
                        help="minimum instances (default: the profile's, else 1)")
    policy.add_argument("--max", dest="max_capacity", metavar="LIST|RANGE",
                        help="maximum instances (default: the profile's, else 4)")
    policy.add_argument("--step-threshold", metavar="LIST|RANGE",
                        help="also try step scaling: InvocationsPerInstance per instance per "
                             "minute above which (3 periods) instances are added, below half "
                             "of which (15 periods) one is removed")
    policy.add_argument("--step-adjustment", default="1", metavar="LIST|RANGE",
                        help="instances a step policy adds at once (default 1)")
    policy.add_argument("--scale-out-cooldown", metavar="LIST|RANGE",
                        help="seconds (default: the profile's, else 300)")
    policy.add_argument("--scale-in-cooldown", metavar="LIST|RANGE",
                        help="seconds (default: the profile's, else 300)")
    slo = parser.add_argument_group("the SLO a policy must meet")
    slo.add_argument("--slo-ms", type=float,
                     help="client p99 objective per second (default: the profile's or the "
                          "recording's ensure p99, else 500)")
    slo.add_argument("--max-error-rate", type=float, metavar="PERCENT",
                     help="(default: the profile's ensure maxErrorRate, else 1)")
    slo.add_argument("--max-over-slo", type=float, default=1.0, metavar="PERCENT",
                     help="share of the schedule's seconds allowed over the objective "
                          "(default 1)")
    parser.add_argument("--sort", choices=("cost", "over-slo", "errors", "p99",
                                           "cost-per-million"), default="cost",
                        help="rank by this among the policies meeting the SLO, then the rest")
    parser.add_argument("--seed", type=int, default=0, help="the virtual run's seed")
    parser.add_argument("--jobs", type=int, help="processes (default: one per core)")
    parser.add_argument("--top", type=int, default=20, help="rows to print (default 20)")
    parser.add_argument("--record", type=Path, metavar="PATH",
                        help="also write the best policy's virtual session as a recording "
                             "(replay, compare and report read it)")
    parser.add_argument("--report", type=Path, metavar="HTML",
                        help="also write an HTML report: the ranking, and the demand with the "
                             "first policies' instance counts and p99 on one time axis")
    parser.set_defaults(handler=cmd_whatif)


def _fail(message: str) -> int:
    print(f"loadwatch what-if: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_whatif(args: argparse.Namespace) -> int:
    import time

    from driver.profile import ProfileError, load_profile
    from metrics.recording import RecordingError, read_recording
    from twin.model import TwinError, load_twin
    from twin.virtual import traffic_from_profile, traffic_from_recording
    from twin.whatif import GridError, GridSpec, Objective, candidates, rank

    try:
        twin = load_twin(args.twin)
    except TwinError as exc:
        return _fail(str(exc))
    profile = None
    ensure: dict[str, float] = {}
    try:
        if args.traffic.suffix == ".jsonl":
            recording = read_recording(args.traffic)
            traffic = traffic_from_recording(recording)
            ensure = dict(recording.header.meta.get("ensure") or {})
        else:
            profile = load_profile(args.traffic)
            traffic = traffic_from_profile(profile)
    except ProfileError as exc:
        return _fail(str(exc).splitlines()[0])
    except (RecordingError, OSError, ValueError) as exc:
        return _fail(f"{args.traffic}: {exc}")
    scaling = profile.scaling if profile is not None else None
    if profile is not None:
        ensure = dict(profile.ensure)

    def default(given: str | None, value: object, fallback: str) -> str:
        if given is not None:
            return given
        return f"{value:g}" if isinstance(value, (int, float)) else fallback

    spec = GridSpec(
        metric=args.metric,
        target=default(args.target, scaling.target if scaling else None, "")
        or None,
        concurrency_target=args.concurrency_target,
        min_capacity=default(args.min_capacity, scaling.min if scaling else None, "1"),
        max_capacity=default(args.max_capacity, scaling.max if scaling else None, "4"),
        scale_out_cooldown=default(args.scale_out_cooldown,
                                   scaling.scale_out_cooldown if scaling else None, "300"),
        scale_in_cooldown=default(args.scale_in_cooldown,
                                  scaling.scale_in_cooldown if scaling else None, "300"),
        step_threshold=args.step_threshold, step_adjustment=args.step_adjustment)
    if args.report is not None and args.report.resolve() in (args.traffic.resolve(),
                                                             args.twin.resolve()):
        return _fail(f"--report: {args.report} is an input; choose another file")
    try:
        policies = candidates(spec)
    except GridError as exc:
        return _fail(str(exc))
    objective = Objective(
        slo_ms=args.slo_ms or float(ensure.get("p99", 500.0)),
        max_error_share=(args.max_error_rate if args.max_error_rate is not None
                         else float(ensure.get("maxErrorRate", 1.0))) / 100.0,
        max_over_slo=args.max_over_slo / 100.0)
    started = time.perf_counter()
    print(f"what-if: {len(policies)} policies x {traffic.seconds} s of {traffic.source} "
          f"({traffic.requests:,} requests) on twin {args.twin} "
          f"({twin.summary})", flush=True)
    ranked = rank(twin, traffic, policies, objective, seed=args.seed, jobs=args.jobs,
                  sort=args.sort)
    elapsed = time.perf_counter() - started
    from twin.whatif.text import best_policy_text, ranking_table

    print(ranking_table(ranked, objective, args.top))
    print(f"{len(ranked)} policies in {elapsed:.1f} s (virtual time, seed {args.seed})")
    best = next((f for f in ranked if f.meets), None)
    print(best_policy_text(best, objective, twin.period_s))
    if best is not None and args.record is not None:
        from metrics.recording import RecordingWriter
        from twin.virtual import VirtualRun

        records = VirtualRun(twin, traffic, best.policy, seed=args.seed).run(records=True).records
        with RecordingWriter(args.record, records[0]) as writer:  # type: ignore[arg-type]
            for record in records[1:]:
                writer.write(record)
        print(f"recorded the best policy's virtual session: {args.record}")
    if args.report is not None:
        from tui.report.whatif_report import whatif_html

        html = whatif_html(_report(twin, args, traffic, ranked, objective, elapsed))
        try:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(html, encoding="utf-8")
        except OSError as exc:
            return _fail(f"--report: cannot write {args.report}: {exc.strerror}")
        print(f"report: {args.report} ({len(html.encode()) / 1024:,.0f} KiB)")
    return 0


def _report(twin: Any, args: argparse.Namespace, traffic: Any, ranked: list[Any],
            objective: Any, elapsed: float) -> Any:
    """The report's figures: the first policies of the ranking run again (same seed, so the
    same figures) for their per-second instance counts and p99."""
    import math

    from tui.report.tables import Table
    from tui.report.whatif_report import MAX_CHARTED, PolicyTrace, WhatIfReport
    from twin.virtual import VirtualRun
    from twin.whatif.text import COLUMNS, best_policy_text, mark, ranking_rows, slo_text

    # Policies that behave alike (a cooldown that never came into play) draw the same lines:
    # one line each, its legend counting the others, so the chart shows different behaviours.
    charted: dict[tuple[tuple[int, ...], tuple[float, ...]], list[Any]] = {}
    demand: list[float] = []
    for figures in ranked[:MAX_CHARTED * 4]:
        result = VirtualRun(twin, traffic, figures.policy, seed=args.seed).run()
        demand = demand or [float(v) for v in result.sent]
        key = (tuple(int(v) for v in result.serving),
               tuple(round(float(v), 1) for v in result.p99_ms))
        if key in charted:
            charted[key][1] += 1
        elif len(charted) < MAX_CHARTED:
            charted[key] = [figures, 0, result]
        if len(charted) == MAX_CHARTED and key not in charted:
            break
    traces = []
    for figures, alike, result in charted.values():
        label = figures.policy.label + (f" (+{alike} alike)" if alike else "")
        traces.append(PolicyTrace(
            label, [float(v) for v in result.serving],
            [None if math.isnan(v) else float(v) for v in result.p99_ms], mark(figures, ranked)))
    phases = []
    for i, name in enumerate(traffic.phase_names):
        seconds = [k for k, p in enumerate(traffic.phase_index) if p == i]
        if seconds:
            phases.append((float(seconds[0]), float(seconds[-1] + 1), name))
    best = next((f for f in ranked if f.meets), None)
    return WhatIfReport(
        traffic=str(args.traffic), demand=demand, phases=phases,
        twin=f"{args.twin} ({twin.summary})",
        ranking=Table(list(COLUMNS), [list(r) for r in ranking_rows(ranked, args.top)]),
        traces=traces, slo_ms=objective.slo_ms, slo_text=slo_text(objective),
        best_text=best_policy_text(best, objective, twin.period_s), policies=len(ranked),
        meeting=sum(f.meets for f in ranked), seconds_taken=elapsed)
