"""``loadwatch validate``: check a profile and print its plan, without sending anything."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from driver.load import rate_warnings
from driver.profile import (
    Profile,
    ProfileError,
    describe_llm,
    describe_plan,
    llm_length_warnings,
)
from driver.session import EXIT_USAGE
from tui.commands.run import load_profile_arg
from tui.console import clock


def register(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser("validate", help="check a profile and print its plan")
    validate.add_argument("profile", type=Path)
    validate.add_argument("--target", metavar="URL", help="HTTP target, overriding config.target")
    validate.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        profile = load_profile_arg(args.profile, args.target)
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.profile}: valid")
    for warning in rate_warnings(profile.phases, profile.load.workers):
        print(warning)
    if profile.target_problem is not None:
        print(f"warning: {profile.target_problem} — `run` will refuse until it is set")
    if profile.target is not None and profile.target_problem is None:
        print(f"target: {profile.target}")
    elif profile.sagemaker and profile.sagemaker.endpoint:
        print(f"target: SageMaker endpoint {profile.sagemaker.endpoint} "
              f"(variant {profile.sagemaker.variant}"
              + (f", inference component {profile.sagemaker.inference_component}"
                 if profile.sagemaker.inference_component else "") + ")")
    elif profile.uses_sandbox:
        print("target: the built-in sandbox")
    rate_head = "in flight" if profile.load.mode == "concurrency" else "rate req/s"
    print(f"{'#':>2}  {'phase':<20} {'start':>8} {'duration':>9} {rate_head:>16} "
          f"{'requests':>10}")
    for i, row in enumerate(describe_plan(profile), start=1):
        rate = "pause" if row["pause"] else (
            f"{row['rate_start']:g}" if row["rate_start"] == row["rate_end"]
            else f"{row['rate_start']:g} → {row['rate_end']:g}")
        print(f"{i:>2}  {row['name'][:20]:<20} {clock(row['start']):>8} "
              f"{clock(row['duration']):>9} {rate:>16} {round(row['requests']):>10}")
    print(f"total: {clock(profile.duration)} ({profile.duration:g} s), "
          f"{round(profile.requests)} requests, {len(profile.scenarios)} scenario(s)")
    for line in describe_llm(profile.llm, profile.load, sagemaker=profile.target is None):
        print(line)
    if profile.llm is not None:
        for line in llm_length_warnings(profile.llm, *_model_limit(profile)):
            print(line)
    if profile.engine is not None:
        engine = profile.engine
        print(f"engine metrics: {engine.url} every {engine.interval:g} s "
              f"({engine.engine or 'engine told from its series'}"
              + (f"; also {', '.join(engine.series)}" if engine.series else "") + ")")
    if profile.ensure:
        print("ensure: " + ", ".join(f"{k} {v:g}" for k, v in profile.ensure.items()))
    return 0


def _model_limit(profile: Profile) -> tuple[int | None, str]:
    """The context length requests must fit: the profile's ``llm.maxModelLen``, else for the
    sandbox its simulated model's."""
    assert profile.llm is not None
    if profile.llm.max_model_len is not None:
        return profile.llm.max_model_len, "llm.maxModelLen"
    if profile.uses_sandbox:
        from sandbox.cli import LLM_INSTANCE
        from sandbox.config import INSTANCE_PROFILES

        llm = INSTANCE_PROFILES[LLM_INSTANCE].llm
        if llm is not None:
            return llm.max_model_len, f"the sandbox's {llm.model}"
    return None, ""
