"""``loadwatch find-capacity``: the highest rate one instance sustains, and the policy for it."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

EXIT_NOT_FOUND = 1
EXIT_UNRECOVERED = 4  # driver.capacity.recovery's: the answer so far, flagged
DEFAULT_MIN_GOODPUT = 95.0  # driver.capacity.llm's, without importing the driver for --help
STEERED_BY = "the capacity search"
PLAIN_HTTP_NOTE = ("a plain HTTP target: no endpoint to check for one instance and no scaling "
                   "to suspend, so the answer is the capacity of whatever serves that URL")


def register(commands: argparse._SubParsersAction) -> None:
    from tui.commands.run import add_run_options

    parser = commands.add_parser(
        "find-capacity",
        help="find the highest rate one instance sustains and recommend the scaling target",
        description="Raise the rate in steps (each held for two metric periods), narrow the "
                    "edge by bisection, re-run a failing step to confirm it, and recommend "
                    "SageMakerVariantInvocationsPerInstance = MAX_RPS x SAFETY_FACTOR x 60. "
                    "A SageMaker endpoint must have one instance; its scaling is suspended "
                    "for the search and restored afterwards. Any HTTP target works too. "
                    "A streaming LLM target is judged on goodput under its TTFT/TPOT SLOs, "
                    "searched in req/s or, with load.mode concurrency, in requests in flight, "
                    "and answered with a ConcurrentRequestsPerModel target = MAX_CONCURRENCY "
                    "x SAFETY_FACTOR.")
    parser.add_argument("profile", type=Path, nargs="?",
                        help="profile naming the target and the request (default: sandbox demo)")
    add_run_options(parser)
    search = parser.add_argument_group("search")
    search.add_argument("--start", type=float, metavar="RATE",
                        help="first step (default 50 req/s; a streaming LLM target 1 req/s; "
                             "load.mode concurrency 4 in flight)")
    search.add_argument("--growth", type=float, default=2.0,
                        help="each passing step multiplies the rate by this (default 2)")
    search.add_argument("--tolerance", type=float, default=0.05,
                        help="stop when the edge is this narrow, relative (default 0.05)")
    search.add_argument("--max-error-rate", type=float, default=5.0, metavar="PERCENT",
                        help="a step fails at this error rate (default 5, as the blog)")
    search.add_argument("--latency-ms", type=float, metavar="MS",
                        help="a step fails when client p99 reaches this (default: 4x the "
                             "unloaded p99, at least 50 ms above it; not used for a streaming "
                             "target)")
    llm = parser.add_argument_group("streaming LLM targets")
    llm.add_argument("--min-goodput", type=float, default=DEFAULT_MIN_GOODPUT, metavar="PERCENT",
                     help="a step fails when fewer of its requests meet both SLOs (default 95)")
    llm.add_argument("--ttft-ms", type=float, metavar="MS",
                     help="TTFT SLO (default: the profile's llm.slo.ttft, else 2000 ms)")
    llm.add_argument("--tpot-ms", type=float, metavar="MS",
                     help="TPOT SLO (default: the profile's llm.slo.tpot, else 100 ms)")
    search.add_argument("--hold", type=float, metavar="SECONDS",
                        help="seconds per step (default: 3 + two metric periods)")
    search.add_argument("--no-confirm", action="store_true",
                        help="believe a failing run at once instead of re-running it (faster, "
                             "less repeatable)")
    search.add_argument("--safety-factor", type=float, default=0.5,
                        help="target = MAX_RPS x this x 60, or MAX_CONCURRENCY x this for a "
                             "streaming target (default 0.5, AWS's guidance)")
    search.add_argument("--apply", action="store_true",
                        help="put the recommended target-tracking policy on the endpoint")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from driver.aws.prices import PriceError
    from driver.profile import ProfileError
    from driver.session import EXIT_USAGE
    from tui.commands.run import (
        attach_exports,
        demo_profile_path,
        load_profile_arg,
        run_async,
        run_options,
    )

    problems = [f"--{name} must be {rule}" for name, value, ok, rule in (
        ("start", args.start, args.start is None or args.start > 0, "above 0"),
        ("min-goodput", args.min_goodput, 0 < args.min_goodput <= 100, "a percentage above 0"),
        ("ttft-ms", args.ttft_ms, args.ttft_ms is None or args.ttft_ms > 0, "above 0"),
        ("tpot-ms", args.tpot_ms, args.tpot_ms is None or args.tpot_ms > 0, "above 0"),
        ("growth", args.growth, args.growth > 1, "above 1"),
        ("tolerance", args.tolerance, 0 < args.tolerance < 1, "between 0 and 1"),
        ("max-error-rate", args.max_error_rate, 0 < args.max_error_rate <= 100,
         "a percentage above 0"),
        ("safety-factor", args.safety_factor, 0 < args.safety_factor <= 1, "in (0, 1]"),
    ) if not ok]
    if problems:
        print("loadwatch: " + "; ".join(problems), file=sys.stderr)
        return EXIT_USAGE
    try:
        profile = load_profile_arg(args.profile or demo_profile_path(), args.target)
        options = run_options(args, profile)
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except PriceError as exc:
        print(f"loadwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if (problem := attach_exports(args, options, "find-capacity", at_footer=False)) is not None:
        print(f"loadwatch: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return run_async(_find(profile, options, args))


async def _find(profile: Any, options: Any, args: argparse.Namespace) -> int:
    from driver.capacity import CapacityRun, StepPlan, scaling_block, search_profile
    from driver.profile import ScalingOptions
    from driver.session import EXIT_USAGE
    from tui.commands.run import run_headless, wants_headless
    from tui.console import launch_or_explain, print_result
    from tui.monitor import load_keymap, monitor_session

    scaling = profile.scaling or ScalingOptions()
    profile, search, slo_source = _search_for(profile, args)
    # The search suspends scaling itself, before any load; the profile's own wish waits.
    searched = dataclasses.replace(search_profile(profile, search.start_rps),
                                   scaling=dataclasses.replace(scaling, enabled=None))
    prepared = await launch_or_explain(searched, options)
    if prepared is None:
        return EXIT_USAGE
    try:
        refusal = await _take_one_instance(prepared)
        if refusal:
            print(f"loadwatch: cannot search: {refusal}", file=sys.stderr)
            return EXIT_USAGE
        session = prepared.session
        # Recorded in the header: the monitor and replays say who sets the rate, and the
        # monitor offers no keys that would steer it.
        session.meta["steered_by"] = STEERED_BY
        aws = session.meta.get("aws", {})
        period = float(aws.get("metrics_period") or 10)
        plan = StepPlan.for_period(period, search.start_rps)
        if args.hold:
            plan.hold_s = max(args.hold, plan.settle_s + 1)
        if search.objectives.streaming:  # no latency objective to derive: one step's length
            plan.baseline_s = plan.hold_s
        if search.unit != "req/s":
            # No rest between steps: in flight never queues past N, and a rest would start the
            # next N requests at once, in step, and judge that burst rather than the load.
            plan.rest_s = 0.0
        # The session's start line says what the search does, not its 6-hour upper bound.
        session.meta["plan_note"] = plan.describe(search)
        run = CapacityRun(search, plan, safety_factor=args.safety_factor, slo_source=slo_source)
        if prepared.scaling is None:  # said as the search starts, in the monitor too
            run.notes.append(PLAIN_HTTP_NOTE)
            if args.apply:
                run.notes.append("--apply: nothing to apply it to (no scaling on a plain HTTP "
                                 "target); the recommendation is printed only")
        session.subscribe(run.observe)
        session.add_producer(run.run)
        if args.apply and prepared.scaling is not None:
            session.add_cleanup(_applier(run, prepared, scaling, args.safety_factor))
        if wants_headless(args):
            for note in prepared.notes:
                print(note, flush=True)
            result = await run_headless(prepared, args.interval)
            print_result(result, "interrupted: load stopped, recording finished")
            exit_code = result.exit_code
        else:  # the monitor shows the search: its steps and verdicts are in the event log
            exit_code = await monitor_session(prepared, options, load_keymap())
    finally:
        await prepared.close()
    print()
    component = session.meta.get("aws", {}).get("inference_component")
    for line in _report(run, args.safety_factor, scaling_block, scaling, component):
        print(line)
    if session.reason == "interrupted":
        pass
    elif run.error:
        print(f"loadwatch: {run.error}", file=sys.stderr)
        exit_code = EXIT_USAGE
    elif run.unrecovered:
        exit_code = EXIT_UNRECOVERED
    else:
        exit_code = 0 if run.result else EXIT_NOT_FOUND
    writer = getattr(args, "summary_writer", None)
    if writer is not None:
        from driver.export import capacity_part

        writer.finish(exit_code, capacity_part(run.result, run.steps, run.error))
    return exit_code


def _search_for(profile: Any, args: argparse.Namespace) -> tuple[Any, Any, str]:
    """The profile to run (a streaming one with the SLOs to count goodput against), the
    search (in req/s or in flight) and, for a streaming target, where its SLOs came from."""
    from driver.capacity import CapacitySearch, judge_for, objectives_from
    from driver.capacity import llm as capacity_llm

    concurrency = capacity_llm.is_concurrency(profile)
    streaming = profile.llm is not None
    start = args.start or (capacity_llm.DEFAULT_START_CONCURRENCY if concurrency else
                           capacity_llm.DEFAULT_START_RPS if streaming else 50.0)
    if concurrency:
        start = float(max(1, round(start)))  # whole requests in flight
    quantum = capacity_llm.RATE_QUANTUM if streaming and not concurrency else 1.0
    slo_source, ttft, tpot, goodput = "", None, None, None
    if streaming:
        ttft, tpot, slo_source = capacity_llm.slo_of(profile, args.ttft_ms, args.tpot_ms)
        profile = capacity_llm.with_slo(profile, ttft, tpot)
        goodput = args.min_goodput
    objectives = objectives_from(args.max_error_rate, args.latency_ms, goodput, ttft, tpot,
                                 concurrency)
    search = CapacitySearch(start_rps=start, growth=args.growth, tolerance=args.tolerance,
                            confirm=not args.no_confirm, objectives=objectives,
                            judge=judge_for(objectives),
                            unit=capacity_llm.CONCURRENCY if concurrency else "req/s",
                            quantum=quantum, min_rps=quantum)
    return profile, search, slo_source


async def _take_one_instance(prepared: Any) -> str | None:
    """Check the endpoint has one instance and suspend its scaling; a reason if it cannot."""
    control = prepared.scaling
    if control is None:  # a plain HTTP target: nothing to check or suspend
        return None
    aws = prepared.session.meta.get("aws", {})
    instances = aws.get("instances")
    if aws.get("inference_component"):  # capacity per copy: one copy, however many instances
        name = aws["inference_component"]
        copies = next((c.get("desired_copies") for c in aws.get("components", [])
                       if c.get("name") == name), None)
        if copies != 1:
            return (f"inference component {name} runs {copies} copies; capacity is found per "
                    "copy: bring it to one copy (scaling min = max = 1) and run again")
    elif instances != 1:
        return (f"endpoint {prepared.endpoint} variant {prepared.variant} runs {instances} "
                "instances; capacity is found per instance: bring the variant to one instance "
                "(e.g. min = max = 1) and run again")
    if control.saved is not None and control.saved.target is not None:
        message = await control.disable()
        if control.last_error is not None:
            return f"scaling must be suspended for the search, and that failed: {message}"
    return None


def _applier(run: Any, prepared: Any, scaling: Any, safety_factor: float) -> Any:
    async def apply(session: Any) -> None:
        recommendation = run.result
        if recommendation is None:
            session.event("capacity", "capacity_apply_skipped",
                          "--apply: nothing to apply, no step passed")
            return
        control = prepared.scaling
        control.options = dataclasses.replace(
            scaling, enabled=True, target=float(recommendation["target"]),
            metric=recommendation.get("metric", "invocations"))
        message = await control.enable()
        # The applied policy is the configuration to keep, not a change to undo at exit.
        control.changed = False
        session.event("capacity", "capacity_applied", f"--apply: {message}")

    return apply


def _report(run: Any, safety_factor: float, scaling_block: Any, scaling: Any,
            component: str | None = None) -> list[str]:
    from driver.capacity import CLEAR_FAILURE_NOTE, CONTAMINATED_NOTE, describe_spread, per_copy

    streaming = run.search.objectives.streaming
    unit = run.search.unit
    lines = [_llm_header(unit) if streaming else
             f"{'step req/s':>10} {'run':>3} {'verdict':<8} {'wait s':>6} {'achieved':>9} "
             f"{'p50 ms':>8} {'p99 ms':>8} {'errors %':>8}  why"]
    first_passed: dict[float, bool] = {}  # each rate's first run
    for step in run.steps:
        first = first_passed.setdefault(step["rate"], step["passed"])
        lines.append(_llm_row(step, first) if streaming else _row(step, first))
    if any(step["clear"] for step in run.steps):
        lines.append(CLEAR_FAILURE_NOTE)
    if any(step.get("contaminated") for step in run.steps):
        lines.append(CONTAMINATED_NOTE)
    if run.waits:
        waited = [w["waited_s"] for w in run.waits]
        lines.append(f"recovery: waited {len(waited)} time{'s' if len(waited) != 1 else ''} "
                     f"for the target to recover, {sum(waited):.0f} s in all, the longest "
                     f"{max(waited):.0f} s ('wait s': before that run)")
    if run.unrecovered:
        lines.append(f"FLAGGED: the target did not recover within {run.waits[-1]['waited_s']:.0f}"
                     " s of the last run, so the search ended there (exit 4): the answer below "
                     "is the highest rate that passed so far, not a confirmed edge")
    recommendation = run.result
    if recommendation is None and run.error is None and not run.finished:
        best = run.search.best_pass
        lines.append("the search was stopped before it finished: no answer"
                     + (f" (the highest rate that passed so far: {best.rate:g} {unit})"
                        if best else ""))
        return lines
    if recommendation is None:
        lines.append("no sustainable rate found" + (f": {run.error}" if run.error else ""))
        return lines
    rec = recommendation if component is None or streaming else per_copy(recommendation,
                                                                          component)
    per, metric = (("copy", "SageMakerInferenceComponentInvocationsPerCopy") if component
                   else ("instance", "SageMakerVariantInvocationsPerInstance"))
    if streaming:
        lines += _llm_answer(rec, run.slo_source)
    else:
        lines += [
            "",
            f"maximum sustainable rate per {per}: {rec['max_rps']:g} req/s "
            f"(p50 {rec['p50_ms']:.1f} ms, p99 {rec['p99_ms']:.1f} ms, errors "
            f"{100 * rec['error_rate']:.2f}%); first failing step: "
            f"{rec['first_failing_rps']:g} req/s"
            if rec["first_failing_rps"] else
            f"maximum sustainable rate per {per}: at least {rec['max_rps']:g} req/s "
            "(no step failed)",
            f"spread: {describe_spread(rec['spread'])}",
            f"objectives: errors under {100 * rec['max_error_rate']:g}%, p99 under "
            f"{rec['latency_objective_ms']:.0f} ms"
            + ("" if rec.get("strict_latency", True) or all(
                step.get("backlog_growth") is None for step in run.steps) else
               " (over it only with a growing backlog, never twice past it)")
            + ", achieved within 5% of offered",
            f"recommended {metric}: {rec['formula']}",
        ]
    lines += [
        "",
        "paste into your profile:",
        scaling_block(rec, scaling.min, scaling.max).rstrip(),
    ]
    return lines


def _why(step: dict[str, Any], first_passed: bool = False) -> str:
    """The step's reasons, and whether its rate is decided (confirmed, overturned);
    ``first_passed``: the rate's first run passed (a re-run pass confirms it)."""
    why = "; ".join(step["reasons"])
    if step.get("contaminated"):
        return why
    decided = step.get("rate_passes")
    if decided is None:  # a first failure, or this rate's runs disagree
        why += (" — " if why else "") + ("a third run decides" if step.get("run", 1) > 1
                                          else "re-run to confirm")
    elif step.get("run", 1) > 1:
        confirmed = decided == first_passed  # the first run's verdict stood
        why += (" — " if why else "") + ("confirmed: " if confirmed else "overturned: ") + (
            "passes" if decided else "fails")
    return why


def _row(step: dict[str, Any], first_passed: bool = False) -> str:
    from driver.capacity import verdict_label

    verdict = ("aside" if step.get("contaminated") else
               verdict_label(step["passed"], step["clear"]))
    p50 = "-" if step["p50_ms"] is None else f"{step['p50_ms']:.1f}"
    p99 = "-" if step["p99_ms"] is None else f"{step['p99_ms']:.1f}"
    wait = f"{step['recovery_s']:.0f}" if step.get("recovery_s") else "-"
    return (f"{step['rate']:>10g} {step.get('run', 1):>3} {verdict:<8} {wait:>6} "
            f"{step['achieved_rps']:>9.1f} {p50:>8} {p99:>8} "
            f"{100 * step['error_rate']:>8.2f}  {_why(step, first_passed)}")


# A streaming search's step table: goodput, TTFT and TPOT (ms), output tokens/s.
LLM_COLUMNS = (("goodput %", "goodput_pct", 1), ("TTFT p50", "ttft_p50_ms", 0),
               ("TTFT p99", "ttft_p99_ms", 0), ("TPOT p50", "tpot_p50_ms", 1),
               ("TPOT p99", "tpot_p99_ms", 1), ("tokens/s", "output_tokens_per_s", 0),
               ("in flight", "in_flight_mean", 1))


def _llm_header(unit: str) -> str:
    return (f"{'step ' + unit:>14} {'run':>3} {'verdict':<8} {'sent/s':>9} "
            + " ".join(f"{title:>9}" for title, _, _ in LLM_COLUMNS) + f" {'errors %':>8}  why")


def _llm_row(step: dict[str, Any], first_passed: bool = False) -> str:
    from driver.capacity import verdict_label

    verdict = verdict_label(step["passed"], step["clear"])
    cells = " ".join(f"{'-' if step.get(key) is None else f'{step[key]:.{digits}f}':>9}"
                     for _, key, digits in LLM_COLUMNS)
    return (f"{step['rate']:>14g} {step.get('run', 1):>3} {verdict:<8} "
            f"{step['achieved_rps']:>9.1f} {cells} {100 * step['error_rate']:>8.2f}  "
            f"{_why(step, first_passed)}")


def _llm_answer(rec: dict[str, Any], slo_source: str) -> list[str]:
    from driver.capacity import CONCURRENCY, answer_line, describe_spread

    found = ("maximum sustainable concurrency per instance: " if rec["unit"] == CONCURRENCY
             else "maximum sustainable rate per instance: ")
    failing = rec["first_failing"]
    return [
        "",
        found + answer_line(rec) + (f"; first failing step: {failing:g} {rec['unit']}"
                                    if failing else " (no step failed)"),
        f"spread: {describe_spread(rec['spread'])}",
        f"objectives: goodput ≥ {rec['min_goodput_pct']:g}% under {slo_source}, errors "
        f"under {100 * rec['max_error_rate']:g}%; client p99 latency is not an "
        "objective for a streaming target (it follows the output length)",
        f"concurrency: {rec['concurrency_basis']}",
        f"recommended ConcurrentRequestsPerModel: {rec['formula']}",
    ]
