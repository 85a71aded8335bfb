"""The one way the headless mode and the monitor get a ``PreparedRun``.

If the profile names no target (or ``--sandbox`` was given), the built-in sandbox is started
as a child process first and the AWS options are pointed at it: its URL, its fixed
credentials, its region and endpoint. The rest is ``driver.setup.prepare_run``, exactly as
for real AWS. ``PreparedRun.close()`` stops the sandbox. This lives in ``tui/`` because
``driver/`` may not import ``sandbox/``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from driver.profile import Profile, ProfileError
from driver.setup import PreparedRun, RunOptions, SetupError, prepare_run


def uses_sandbox(profile: Profile, options: RunOptions) -> bool:
    return options.sandbox or profile.uses_sandbox


async def launch_or_explain(profile: Profile, options: RunOptions) -> PreparedRun | None:
    """``launch``, or None once one line on stderr has said why the run cannot start."""
    try:
        return await launch(profile, options)
    except (SetupError, ProfileError) as exc:
        print(f"loadwatch: {exc}", file=sys.stderr)
        return None


async def launch(profile: Profile, options: RunOptions) -> PreparedRun:
    """Start the sandbox if the run needs one, then prepare the run; SetupError if either fails.

    The sandbox starts in a thread (it takes a second or two to train its model) so a UI
    calling this keeps drawing.
    """
    if not uses_sandbox(profile, options):
        return await prepare_run(profile, options)

    from driver.aws import FrozenCredentials
    from sandbox.cli import LLM_INSTANCE
    from sandbox.config import FAST, REALISTIC, SandboxConfig, profile_named
    from sandbox.process import SandboxProcess, SandboxStartError

    sagemaker = profile.sagemaker
    timings = REALISTIC if options.realistic else FAST
    if options.sandbox_period:
        timings = dataclasses.replace(timings, period_s=options.sandbox_period,
                                      publication_delay_s=min(timings.publication_delay_s,
                                                              options.sandbox_period / 2))
        # Asked for on the command line, the sandbox's period is the one to poll at.
        profile = dataclasses.replace(profile, metrics=dataclasses.replace(
            profile.metrics, period=max(1, round(options.sandbox_period)),
            poll_interval=None))
    try:
        config = SandboxConfig(timings=timings, initial_instances=options.sandbox_instances)
        # An LLM profile needs an instance that streams: the sandbox's GPU instance by default.
        instance = options.sandbox_instance or (LLM_INSTANCE if profile.llm else None)
        if instance:
            config = config.replace(profile=profile_named(instance))
    except ValueError as exc:
        raise SetupError(f"sandbox: {exc}") from exc
    if sagemaker is not None and sagemaker.endpoint:
        config = config.replace(endpoint_name=sagemaker.endpoint)
    if sagemaker is not None:
        config = config.replace(variant=sagemaker.variant)
    sandbox = SandboxProcess(config)
    try:
        await asyncio.to_thread(sandbox.start)
    except (SandboxStartError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SetupError(f"the sandbox did not start: {first}") from exc
    aimed = dataclasses.replace(
        options, sandbox=True, endpoint_url=sandbox.endpoint_url, region=sandbox.region,
        aws_profile=None, endpoint=sandbox.endpoint_name, variant=sandbox.variant,
        aws_credentials=FrozenCredentials(sandbox.credentials.access_key_id,
                                          sandbox.credentials.secret_access_key),
        metrics_period=int(config.timings.period_s))
    try:
        prepared = await prepare_run(profile, aimed)
    except BaseException:
        await asyncio.to_thread(sandbox.stop)
        raise
    prepared._closers.append(lambda: asyncio.to_thread(sandbox.stop))
    timings = config.timings
    prepared.notes.insert(0, (
        f"sandbox: {sandbox.endpoint_url} (pid {sandbox.pid}), {config.initial_instances} x "
        f"{config.profile.instance_type} at about {config.profile.capacity_rps:.0f} req/s each; "
        f"{timings.period_s:g} s metric periods, new instances serve after "
        f"{timings.provisioning_delay_s:g} s"))
    return prepared
