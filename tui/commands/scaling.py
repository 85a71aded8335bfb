"""``loadwatch scaling show|enable|disable|restore``: the scaling control from a shell.

The endpoint and the policy's numbers come from a profile's ``sagemaker:`` and ``scaling:``
sections, overridden by flags. ``restore`` puts back the configuration a run saved before it
started (the ``scaling_saved`` event of its recording): what to do after ``--keep-scaling``,
or after a run that could not restore (the machine lost its network, say).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scaling", help="show, enable, disable or restore an endpoint variant's autoscaling",
        description="Read or switch the autoscaling of a SageMaker endpoint variant. enable: "
                    "target tracking on invocations per instance (min, max, target from the "
                    "profile or flags); disable: suspend dynamic scaling (or delete the "
                    "policies with --mode delete); restore: put back what a recorded run saved "
                    "before it started.")
    parser.add_argument("action", choices=("show", "enable", "disable", "restore"))
    parser.add_argument("profile", type=Path, nargs="?",
                        help="profile whose sagemaker: and scaling: sections to use")
    parser.add_argument("--endpoint", help="endpoint name (default: the profile's)")
    parser.add_argument("--variant", help="variant name (default: the profile's, or AllTraffic)")
    parser.add_argument("--inference-component", metavar="NAME",
                        help="act on this inference component's copies (inference-component/"
                             "NAME, DesiredCopyCount) instead of the variant's instances")
    numbers = parser.add_argument_group("enable and disable")
    numbers.add_argument("--min", type=int, help="minimum instances (copies; 0 allowed on an "
                                                 "inference component)")
    numbers.add_argument("--max", type=int, help="maximum instances (copies)")
    numbers.add_argument("--metric", choices=("invocations", "concurrency",
                                               "invocations-per-copy", "concurrency-per-copy"),
                         help="what to track: invocations per instance (default) or "
                              "concurrent requests per model (high resolution, for LLMs); "
                              "per copy on an inference component")
    numbers.add_argument("--scale-from-zero", action="store_true", default=None,
                         help="inference components: add the step policy and CloudWatch "
                              "alarm on NoCapacityInvocationFailures that scale from zero")
    numbers.add_argument("--target", type=float,
                         help="invocations per instance per minute (or, with --metric "
                              "concurrency, requests in flight per model) to hold")
    numbers.add_argument("--scale-out-cooldown", type=float, metavar="SECONDS")
    numbers.add_argument("--scale-in-cooldown", type=float, metavar="SECONDS")
    numbers.add_argument("--policy-name", help="name of the target-tracking policy")
    numbers.add_argument("--mode", choices=("suspend", "delete"),
                         help="how disable works (default: suspend)")
    parser.add_argument("--from", dest="recording", type=Path, metavar="RECORDING",
                        help="restore: the recording whose saved configuration (and instance "
                             "count) to put back")
    parser.add_argument("--keep-instances", action="store_true",
                        help="restore: put the policies back but leave the instance count")
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--profile", dest="aws_profile", metavar="NAME", help="AWS profile")
    aws.add_argument("--region", help="AWS region")
    aws.add_argument("--endpoint-url", metavar="URL",
                     help="AWS endpoint URL (also AWS_ENDPOINT_URL)")
    parser.set_defaults(handler=cmd_scaling)


def _fail(message: str) -> int:
    print(f"loadwatch: {message}", file=sys.stderr)
    return EXIT_FAILED


def cmd_scaling(args: argparse.Namespace) -> int:
    from driver.aws import AwsError
    from driver.profile import ProfileError, ScalingOptions, load_profile

    sagemaker = scaling = None
    if args.profile is not None:
        try:
            profile = load_profile(args.profile)
        except ProfileError as exc:
            return _fail(str(exc))
        sagemaker, scaling = profile.sagemaker, profile.scaling
    saved = None
    region = args.region
    endpoint, variant = args.endpoint, args.variant
    component = args.inference_component or (sagemaker.inference_component if sagemaker
                                             else None)
    if args.action == "restore":
        if args.recording is None:
            return _fail("restore needs --from RECORDING: the recording of the run holds the "
                         "configuration saved before it")
        try:
            saved, recorded = _saved_in(args.recording)
        except ValueError as exc:
            return _fail(str(exc))
        saved["instance_type"] = saved.get("instance_type") or recorded.get("instance_type")
        endpoint = endpoint or recorded.get("endpoint")
        variant = variant or recorded.get("variant")
        component = component or recorded.get("inference_component")
        region = region or recorded.get("region")
    endpoint = endpoint or (sagemaker.endpoint if sagemaker else None)
    variant = variant or (sagemaker.variant if sagemaker else "AllTraffic")
    if not endpoint:
        return _fail("which endpoint? pass --endpoint NAME or a profile with sagemaker.endpoint")
    flags = {"min": "min", "max": "max", "target": "target", "metric": "metric",
             "policy_name": "policy_name",
             "scale_out_cooldown": "scale_out_cooldown", "disable_mode": "mode",
             "scale_in_cooldown": "scale_in_cooldown", "scale_from_zero": "scale_from_zero"}
    values = {name: getattr(args, flag) for name, flag in flags.items()
              if getattr(args, flag) is not None}
    options = dataclasses.replace(scaling or ScalingOptions(), **values)
    if args.action == "enable":  # the command line's enable is an enable: min 0 checks apply
        options = dataclasses.replace(options, enabled=True)
    if args.metric in ("concurrency", "concurrency-per-copy") and args.target is None and (
            scaling is None or scaling.metric != args.metric):
        return _fail("--metric concurrency needs --target (requests in flight per model)")
    if options.min > options.max:
        return _fail(f"--min {options.min} is above --max {options.max}")
    try:
        return asyncio.run(_act(args, sagemaker, endpoint, variant, region, options, saved,
                                component))
    except AwsError as exc:
        return _fail(str(exc))


def _saved_in(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configuration a run saved (its first ``scaling_saved`` event) and its AWS target."""
    from metrics.recording import RecordingError, iter_records
    from metrics.records import Event, Header

    aws: dict[str, Any] = {}
    try:
        for record in iter_records(path):
            if isinstance(record, Header):
                aws = dict(record.meta.get("aws") or {})
            elif isinstance(record, Event) and record.name == "scaling_saved":
                saved = record.data.get("saved")
                if not isinstance(saved, dict):
                    break
                return saved | {"instances": record.data.get("instances"),
                                "instance_type": record.data.get("instance_type")}, aws
    except RecordingError as exc:
        raise ValueError(str(exc)) from exc
    raise ValueError(f"{path}: no saved scaling configuration in this recording (was it a "
                     "SageMaker run?)")


async def _act(args: argparse.Namespace, sagemaker: Any, endpoint: str, variant: str,
               region: str | None, options: Any, saved: dict[str, Any] | None,
               component: str | None = None) -> int:
    from driver.aws import AwsClients, AwsSettings, ScalingControl
    from metrics.endpoint import ScalingConfig, scalable

    settings = AwsSettings.resolve(sagemaker, region=region, aws_profile=args.aws_profile,
                                   endpoint_url=args.endpoint_url)

    def connect() -> ScalingControl:
        clients = AwsClients(settings)
        clients.frozen_credentials()
        sm = clients.client("sagemaker")
        # Before changing anything, the component (or its absence) must fit the endpoint;
        # show needs only the scaling read (a narrow role may not describe the endpoint).
        if args.action in ("enable", "disable") or component is not None:
            _check_component(sm, endpoint, variant, component)
        control = ScalingControl(clients.client("application-autoscaling"), endpoint, variant,
                                 options, sagemaker=sm, component=component,
                                 cloudwatch=clients.client("cloudwatch"))
        if args.action == "enable":
            control.check_options()
        control.read()
        return control

    control = await asyncio.to_thread(connect)
    if args.action == "show":
        for line in _show(control):
            print(line)
        return EXIT_OK
    if saved is not None:
        instances = saved.get("instances")
        control.saved_instances = instances if isinstance(instances, int) else None
        control.instance_type = saved.get("instance_type")
        control.keep_instances = args.keep_instances
        try:
            control.saved = ScalingConfig.from_dict(saved)
        except (KeyError, TypeError, ValueError):
            print(f"loadwatch: {args.recording}: the saved scaling configuration is not "
                  "readable", file=sys.stderr)
            return EXIT_FAILED
        wanted = scalable(endpoint, variant, component)[0]
        if control.saved.resource_id != wanted:
            print(f"loadwatch: the recording saved {control.saved.resource_id}, not "
                  f"{wanted}", file=sys.stderr)
            return EXIT_FAILED
    print(control.describe_change(args.action))
    action = {"enable": control.enable, "disable": control.disable,
              "restore": control.restore}[args.action]
    print(await action())
    return EXIT_FAILED if control.last_error is not None else EXIT_OK


def _check_component(sm: Any, endpoint: str, variant: str, component: str | None) -> None:
    """AwsError (one line: the field and what exists) unless ``component`` is one of the
    endpoint's inference components (or none is named and the endpoint has none)."""
    from driver.aws import call
    from driver.aws.components import check_component, find_components

    described = call(f"describing endpoint {endpoint}", sm.describe_endpoint,
                     EndpointName=endpoint)
    config = call("describing its endpoint config", sm.describe_endpoint_config,
                  EndpointConfigName=described.get("EndpointConfigName", ""))
    check_component(find_components(sm, endpoint, variant, config), component, endpoint)


def _show(control: Any) -> list[str]:
    config = control.current
    lines = [f"{control.resource_id}: {config.describe()}"]
    if config.target is not None:
        state = config.suspended_state
        lines.append(f"  capacity {config.min}-{config.max}; dynamic scale-out "
                     f"{'suspended' if state.get('DynamicScalingOutSuspended') else 'on'}, "
                     f"scale-in "
                     f"{'suspended' if state.get('DynamicScalingInSuspended') else 'on'}")
    for policy in config.policies:
        tracking = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
        if tracking:
            lines.append(f"  policy {policy['PolicyName']}: target {tracking.get('TargetValue'):g}"
                         f", cooldown out {tracking.get('ScaleOutCooldown', 300)} s, in "
                         f"{tracking.get('ScaleInCooldown', 300)} s"
                         + (", no scale-in" if tracking.get("DisableScaleIn") else ""))
        else:
            lines.append(f"  policy {policy['PolicyName']}: {policy['PolicyType']}")
    from driver.aws import AwsError, call
    from metrics.endpoint import NAMESPACE, activity_record

    for alarm in config.alarms:
        lines.append(f"  alarm {alarm['AlarmName']}: {alarm.get('MetricName')} "
                     f"{alarm.get('Statistic', '')} {alarm.get('ComparisonOperator', '')} "
                     f"{alarm.get('Threshold')} -> {', '.join(alarm.get('AlarmActions', []))}")
    try:  # a narrow IAM role may read the policy but not the activities: show what we have
        activities = call("listing scaling activities",
                          control.client.describe_scaling_activities,
                          ServiceNamespace=NAMESPACE, ResourceId=control.resource_id,
                          ScalableDimension=control.dimension, MaxResults=5,
                          IncludeNotScaledActivities=True).get("ScalingActivities", [])
    except AwsError as exc:
        lines.append(f"  recent scaling activities could not be read ({exc.code}): "
                     f"{exc.message}")
        return lines
    for activity in activities:
        why = activity_record(activity).status_message
        lines.append(f"  {activity['StartTime']:%Y-%m-%d %H:%M:%S} {activity['StatusCode']}: "
                     f"{activity.get('Description', '')}{f' ({why})' if why else ''}")
    return lines
