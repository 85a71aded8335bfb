"""Inference components, client side: the header, pre-flight, per-copy scaling with the
scale-from-zero pair, restore of policies, alarms and copies, and AWS's error shapes.

moto has no inference components and refuses the DesiredCopyCount dimension, so the
SageMaker, Application Auto Scaling and CloudWatch calls on a component are checked with
botocore's Stubber (which validates every request and answer against botocore's models);
the plain-variant refusals run against moto.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from driver.aws import AwsClients, AwsSettings, ScalingControl
from driver.aws.scaling import FROM_ZERO_POLICY
from driver.http.sagemaker import SageMakerTarget
from driver.http.streams import MODEL_TIMEOUT
from driver.load.stream_request import OUTCOME_CODES
from driver.profile import ScalingOptions, load_profile
from driver.session import RunOptions, SetupError, prepare_run
from metrics.cloudwatch import CloudWatchPoller
from metrics.endpoint import COPY_DIMENSION, EndpointPoller, ScalingConfig
from metrics.records import TIMEOUT, EndpointState, Event
from metrics.scaling_target import target_meta
from sandbox.eventstream import exception_event, payload_part
from tests.aws.conftest import (
    ACCESS_KEY,
    ENDPOINT,
    REGION,
    SECRET_KEY,
    VARIANT,
    make_endpoint,
    sagemaker_profile,
    target_spec,
)
from tests.driver.http.test_streams import TOKEN, feed_all

IC = "llama-ic"
OTHER = "mistral-ic"
IC_RESOURCE = f"inference-component/{IC}"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012"
START = datetime(2024, 5, 1, tzinfo=UTC)
BODY = b'{"inputs": "hi"}'


# --- the header, signed ------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_the_component_header_is_signed_as_boto3_signs_it(monkeypatch, stream):
    """Our headers and signature are boto3's own for InvokeEndpoint(WithResponseStream) with
    InferenceComponentName and Accept: the header names come from botocore's model."""
    frozen = datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: frozen)
    captured = {}

    def capture(request, **_):
        captured["headers"] = {k.lower(): v.decode() if isinstance(v, bytes) else v
                               for k, v in request.headers.items()}
        captured["url"] = request.url
        raise RuntimeError("captured")

    client = boto3.client("sagemaker-runtime", region_name=REGION,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          endpoint_url="https://runtime.example.test")
    client.meta.events.register("before-send", capture)
    call = client.invoke_endpoint_with_response_stream if stream else client.invoke_endpoint
    with pytest.raises(RuntimeError, match="captured"):
        call(EndpointName=ENDPOINT, Body=BODY, ContentType="application/json",
             Accept="text/event-stream", InferenceComponentName=IC)
    target = SageMakerTarget(target_spec("https://runtime.example.test", stream=stream,
                                         accept="text/event-stream", inference_component=IC))
    prepared = target.prepare(0, "POST", "", {"content-type": "application/json"}, BODY,
                              frozen.timestamp() + 0.3)
    ours = {k.lower(): v for k, v in prepared.headers.items()}
    theirs = captured["headers"]
    assert prepared.url == captured["url"]
    accept = "x-amzn-sagemaker-accept" if stream else "accept"
    assert ours[accept] == theirs[accept] == "text/event-stream"
    assert ("accept" in ours) is not stream  # a streaming call sends no plain Accept
    assert ours["x-amzn-sagemaker-inference-component"] == IC
    assert theirs["x-amzn-sagemaker-inference-component"] == IC
    assert ours["authorization"] == theirs["authorization"]
    assert "x-amzn-sagemaker-inference-component" in ours["authorization"]


async def test_the_runtime_accepts_a_signed_component_request(sigv4_runtime):
    target = SageMakerTarget(target_spec(sigv4_runtime.url, inference_component=IC))
    prepared = target.prepare(0, "POST", "", {"content-type": "text/csv"}, BODY, time.time())
    import aiohttp

    async with aiohttp.ClientSession() as http, \
            http.post(prepared.url, headers=prepared.headers, data=prepared.body) as response:
        assert response.status == 200
    assert sigv4_runtime.seen[0]["X-Amzn-SageMaker-Inference-Component"] == IC


# --- pre-flight ----------------------------------------------------------------------------

def _ic_endpoint(metrics_period: int | None = None) -> dict:
    described = {"EndpointName": ENDPOINT, "EndpointArn": f"{ARN}:endpoint/{ENDPOINT}",
                 "EndpointConfigName": f"{ENDPOINT}-config", "EndpointStatus": "InService",
                 "CreationTime": START, "LastModifiedTime": START,
                 "ProductionVariants": [{"VariantName": VARIANT, "CurrentInstanceCount": 1,
                                         "DesiredInstanceCount": 1}]}
    if metrics_period:
        described["MetricsConfig"] = {"EnableEnhancedMetrics": True,
                                      "MetricPublishFrequencyInSeconds": metrics_period}
    return described


IC_CONFIG = {"EndpointConfigName": f"{ENDPOINT}-config",
             "EndpointConfigArn": f"{ARN}:endpoint-config/{ENDPOINT}-config",
             "CreationTime": START,
             "ProductionVariants": [{"VariantName": VARIANT, "InstanceType": "ml.g5.2xlarge",
                                     "InitialInstanceCount": 1,
                                     "ManagedInstanceScaling": {
                                         "Status": "ENABLED", "MinInstanceCount": 0,
                                         "MaxInstanceCount": 4}}]}


def _component(name: str, desired: int, current: int) -> dict:
    return {"InferenceComponentName": name,
            "InferenceComponentArn": f"{ARN}:inference-component/{name}",
            "EndpointName": ENDPOINT, "EndpointArn": f"{ARN}:endpoint/{ENDPOINT}",
            "VariantName": VARIANT, "InferenceComponentStatus": "InService",
            "CreationTime": START, "LastModifiedTime": START,
            "Specification": {"ModelName": f"{name}-model", "ComputeResourceRequirements": {
                "NumberOfCpuCoresRequired": 2, "NumberOfAcceleratorDevicesRequired": 1,
                "MinMemoryRequiredInMb": 8192}},
            "RuntimeConfig": {"DesiredCopyCount": desired, "CurrentCopyCount": current}}


def _summary(name: str) -> dict:
    return {"InferenceComponentName": name,
            "InferenceComponentArn": f"{ARN}:inference-component/{name}",
            "EndpointName": ENDPOINT, "EndpointArn": f"{ARN}:endpoint/{ENDPOINT}",
            "VariantName": VARIANT, "InferenceComponentStatus": "InService",
            "CreationTime": START, "LastModifiedTime": START}


def _stub_discovery(stub: Stubber, metrics_period: int | None = None) -> None:
    """DescribeEndpoint, its config, and two components listed over two pages."""
    stub.add_response("describe_endpoint", _ic_endpoint(metrics_period),
                      {"EndpointName": ENDPOINT})
    stub.add_response("describe_endpoint_config", IC_CONFIG,
                      {"EndpointConfigName": f"{ENDPOINT}-config"})
    listing = {"EndpointNameEquals": ENDPOINT, "VariantNameEquals": VARIANT,
               "SortBy": "CreationTime", "SortOrder": "Ascending"}
    stub.add_response("list_inference_components",
                      {"InferenceComponents": [_summary(IC)], "NextToken": "page2"}, listing)
    stub.add_response("list_inference_components",
                      {"InferenceComponents": [_summary(OTHER)]},
                      listing | {"NextToken": "page2"})


def _stubbed_clients() -> tuple[AwsClients, Stubber, Stubber, Stubber]:
    clients = AwsClients(AwsSettings(region=REGION))
    stubs = []
    for service in ("sagemaker", "application-autoscaling", "cloudwatch"):
        client = boto3.client(service, region_name=REGION)
        clients.inject(service, client)
        stubs.append(Stubber(client))
    return clients, *stubs


PROFILE = sagemaker_profile("    - {duration: 1, arrivalRate: 5}",
                            sections=f"  region: {REGION}\n")


@pytest.mark.parametrize(("named", "code", "words"), [
    (None, "InferenceComponentMissing",
     f"sagemaker.inferenceComponent missing: endpoint {ENDPOINT} hosts inference components "
     f"({IC}, {OTHER})"),
    ("nope", "UnknownInferenceComponent",
     f"sagemaker.inferenceComponent 'nope': endpoint {ENDPOINT} has no such inference "
     f"component (it has {IC}, {OTHER})"),
])
async def test_pre_flight_names_the_components_when_none_or_a_wrong_one_is_named(
        aws_env, write_profile, named, code, words):
    clients, sm, aas, _cw = _stubbed_clients()
    with sm, aas:
        _stub_discovery(sm)
        with pytest.raises(SetupError) as caught:
            await prepare_run(load_profile(write_profile(PROFILE)),
                              RunOptions(aws_clients=clients, inference_component=named))
        sm.assert_no_pending_responses()  # nothing after the listing: no scaling read
    message = str(caught.value)
    assert caught.value.code == code and words in message and "\n" not in message


async def test_pre_flight_reads_copies_needs_and_managed_scaling(aws_env, write_profile):
    clients, sm, aas, _cw = _stubbed_clients()
    with sm, aas:
        _stub_discovery(sm, metrics_period=10)
        sm.add_response("describe_inference_component", _component(IC, 2, 1),
                        {"InferenceComponentName": IC})
        sm.add_response("describe_inference_component", _component(OTHER, 0, 0),
                        {"InferenceComponentName": OTHER})
        aas.add_response("describe_scalable_targets", {"ScalableTargets": []},
                         {"ServiceNamespace": "sagemaker", "ResourceIds": [IC_RESOURCE],
                          "ScalableDimension": COPY_DIMENSION})
        aas.add_response("describe_scaling_policies", {"ScalingPolicies": []},
                         {"ServiceNamespace": "sagemaker", "ResourceId": IC_RESOURCE,
                          "ScalableDimension": COPY_DIMENSION})
        prepared = await prepare_run(load_profile(write_profile(PROFILE)),
                                     RunOptions(aws_clients=clients, inference_component=IC))
    assert prepared.session.target["inference_component"] == IC
    assert prepared.target_label == f"sagemaker:{ENDPOINT}/{VARIANT}/{IC} ({REGION})"
    notes = "\n".join(prepared.notes)
    assert (f"inference component {IC}: 1 of 2 copies (InService), 2 cores, 1 accelerator, "
            "8192 MB per copy") in notes
    assert f"component {OTHER}: 0 of 0 copies" in notes
    assert "managed instance scaling ENABLED: 0-4 instances" in notes
    assert "(10 s periods" in notes and "warning: metrics.period" not in notes
    assert prepared.scaling is not None and prepared.scaling.resource_id == IC_RESOURCE
    assert prepared.scaling.saved_instances == 2  # the copy count to restore
    meta = prepared.session._header().meta["aws"]
    assert meta["inference_component"] == IC and meta["metrics_period"] == 10
    assert [c["name"] for c in meta["components"]] == [IC, OTHER]


PLAIN_CONFIG = {**IC_CONFIG, "ProductionVariants": [{
    "VariantName": VARIANT, "ModelName": "iris", "InstanceType": "ml.m5.large",
    "InitialInstanceCount": 1}]}


def _stub_plain_endpoint(sm: Stubber) -> None:
    sm.add_response("describe_endpoint", _ic_endpoint(), {"EndpointName": ENDPOINT})
    sm.add_response("describe_endpoint_config", PLAIN_CONFIG,
                    {"EndpointConfigName": f"{ENDPOINT}-config"})


async def test_a_component_on_an_endpoint_without_components_stops_the_run(aws_env,
                                                                           write_profile):
    clients, sm, aas, _cw = _stubbed_clients()
    with sm, aas:  # a Stubber refuses any call not queued: nothing else is sent
        _stub_plain_endpoint(sm)
        with pytest.raises(SetupError) as caught:
            await prepare_run(load_profile(write_profile(PROFILE)),
                              RunOptions(aws_clients=clients, inference_component=IC))
    assert caught.value.code == "NoInferenceComponents"
    assert str(caught.value).startswith(f"sagemaker.inferenceComponent '{IC}': endpoint "
                                        f"{ENDPOINT} hosts no inference components")


@pytest.mark.parametrize(("scaling", "field"), [
    ("{enabled: true, min: 0, max: 2, target: 100}", "scaling.min 0"),
    ("{enabled: true, metric: invocations-per-copy, target: 5}",
     "scaling.metric invocations-per-copy"),
    ("{enabled: true, scaleFromZero: true}", "scaling.scaleFromZero"),
])
async def test_variant_refuses_copy_only_scaling_and_changes_nothing(aws_env, write_profile,
                                                                     scaling, field):
    profile = sagemaker_profile("    - {duration: 1, arrivalRate: 5}",
                                sections=f"  region: {REGION}\nscaling: {scaling}\n")
    clients, sm, aas, cw = _stubbed_clients()
    with sm, aas, cw:  # no Application Auto Scaling call queued: none may be made
        _stub_plain_endpoint(sm)
        with pytest.raises(SetupError) as caught:
            await prepare_run(load_profile(write_profile(profile)),
                              RunOptions(aws_clients=clients))
    assert str(caught.value).startswith(field) and caught.value.code == "BadScalingOption"
    assert "\n" not in str(caught.value)


def test_the_scaling_command_refuses_min_0_on_a_variant_with_exit_2(moto_aws, capsys):
    from tui.commands.cli import main

    make_endpoint()
    code = main(["scaling", "enable", "--endpoint", ENDPOINT, "--region", REGION,
                 "--min", "0", "--max", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("loadwatch: scaling.min 0: only an inference "
                                        "component scales to zero") and "\n" not in err
    aas = boto3.client("application-autoscaling", region_name=REGION)
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_the_sagemaker_default_timeout_is_past_the_60_s_model_limit(write_profile):
    plain = load_profile(write_profile(PROFILE))
    assert plain.load.timeout == 65.0
    given = load_profile(write_profile(PROFILE + "load:\n  timeout: 20s\n", "given.yml"))
    assert given.load.timeout == 20.0


# --- scaling on a component ---------------------------------------------------------------

TARGET_ARGS = {"ServiceNamespace": "sagemaker", "ResourceId": IC_RESOURCE,
               "ScalableDimension": COPY_DIMENSION}
SUSPENDED_OFF = {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                 "ScheduledScalingSuspended": False}
STEP_CONFIG = {"AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Maximum",
               "Cooldown": 60,
               "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}
TRACKING = {"TargetValue": 4.0, "PredefinedMetricSpecification": {
    "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"},
    "ScaleOutCooldown": 60, "ScaleInCooldown": 300, "DisableScaleIn": False}
ALARM = f"{FROM_ZERO_POLICY}-{IC}"


def _target(min_copies: int = 0, max_copies: int = 4) -> dict:
    return {**TARGET_ARGS, "MinCapacity": min_copies, "MaxCapacity": max_copies,
            "RoleARN": f"{ARN}:role/aas", "CreationTime": START,
            "SuspendedState": SUSPENDED_OFF}


def _policy(name: str, kind: str, arn: str, alarms: list[str] = ()) -> dict:
    config = ({"StepScalingPolicyConfiguration": STEP_CONFIG} if kind == "StepScaling"
              else {"TargetTrackingScalingPolicyConfiguration": TRACKING})
    return {"PolicyARN": arn, "PolicyName": name, **TARGET_ARGS, "PolicyType": kind,
            "CreationTime": START, **config,
            "Alarms": [{"AlarmName": a, "AlarmARN": f"{ARN}:alarm:{a}"} for a in alarms]}


def _alarm(actions: list[str]) -> dict:
    return {"AlarmName": ALARM, "AlarmArn": f"{ARN}:alarm:{ALARM}", "ActionsEnabled": True,
            "AlarmActions": actions, "MetricName": "NoCapacityInvocationFailures",
            "Namespace": "AWS/SageMaker", "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": IC}]}


def _stub_read(aas: Stubber, cw: Stubber, policies: list[dict], alarms: list[dict],
               target: dict | None = None) -> None:
    aas.add_response("describe_scalable_targets",
                     {"ScalableTargets": [target or _target()]}, {
                         "ServiceNamespace": "sagemaker", "ResourceIds": [IC_RESOURCE],
                         "ScalableDimension": COPY_DIMENSION})
    aas.add_response("describe_scaling_policies", {"ScalingPolicies": policies}, TARGET_ARGS)
    if any(p.get("Alarms") and p["PolicyType"] == "StepScaling" for p in policies):
        cw.add_response("describe_alarms", {"MetricAlarms": alarms},
                        {"AlarmNames": [ALARM], "AlarmTypes": ["MetricAlarm"]})


def _stub_copies_back(sm: Stubber, now: int, start: int) -> None:
    """The copy count read (twice: what changed, then the wait), set, and read back."""
    for _ in range(2):
        sm.add_response("describe_inference_component", _component(IC, now, now),
                        {"InferenceComponentName": IC})
    sm.add_response("update_inference_component_runtime_config",
                    {"InferenceComponentArn": f"{ARN}:inference-component/{IC}"},
                    {"InferenceComponentName": IC, "DesiredRuntimeConfig": {"CopyCount": start}})
    sm.add_response("describe_inference_component", _component(IC, start, now),
                    {"InferenceComponentName": IC})


def _control(clients: AwsClients, **options) -> ScalingControl:
    return ScalingControl(clients.client("application-autoscaling"), ENDPOINT, VARIANT,
                          ScalingOptions(min=0, max=4, target=4.0, scale_out_cooldown=60,
                                         policy_name="tracking", **options),
                          sagemaker=clients.client("sagemaker"), component=IC,
                          cloudwatch=clients.client("cloudwatch"))


async def test_enable_puts_per_copy_tracking_and_the_scale_from_zero_pair(aws_env):
    clients, sm, aas, cw = _stubbed_clients()
    control = _control(clients, scale_from_zero=True)
    step_arn = f"{ARN}:scalingPolicy:1:resource/{IC_RESOURCE}:policyName/{FROM_ZERO_POLICY}"
    with sm, aas, cw:
        _stub_read(aas, cw, [], [], target={**_target(1, 1)})  # save
        aas.add_response("register_scalable_target", {}, {
            **TARGET_ARGS, "MinCapacity": 0, "MaxCapacity": 4, "SuspendedState": SUSPENDED_OFF})
        aas.add_response("put_scaling_policy", {"PolicyARN": "arn:tracking", "Alarms": []}, {
            **TARGET_ARGS, "PolicyName": "tracking", "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": TRACKING | {"ScaleInCooldown": 300}})
        aas.add_response("put_scaling_policy", {"PolicyARN": step_arn}, {
            **TARGET_ARGS, "PolicyName": FROM_ZERO_POLICY, "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": STEP_CONFIG | {
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]}})
        cw.add_response("put_metric_alarm", {}, {
            "AlarmName": ALARM, "AlarmDescription": ANY, "AlarmActions": [step_arn],
            "MetricName": "NoCapacityInvocationFailures", "Namespace": "AWS/SageMaker",
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": IC}]})
        _stub_read(aas, cw, [_policy("tracking", "TargetTrackingScaling", "arn:tracking"),
                             _policy(FROM_ZERO_POLICY, "StepScaling", step_arn, [ALARM])],
                   [_alarm([step_arn])])
        line = await control.enable()
        aas.assert_no_pending_responses()
    assert control.last_error is None, line
    assert line == (f"scaling enabled: StepScaling {FROM_ZERO_POLICY} (alarm {ALARM}), "
                    "target tracking 4/copy/min, 0-4 copies, enabled")
    assert control.current.alarms[0]["AlarmActions"] == [f"policy:{FROM_ZERO_POLICY}"]


async def test_restore_repoints_the_alarm_at_the_new_policy_and_puts_copies_back(aws_env):
    """The run deleted the policies (disableMode delete) and the copies went 1 -> 3: restore
    re-creates the step policy (a new ARN), points the alarm at it, sets 1 copy back, and
    reads all three back."""
    clients, sm, aas, cw = _stubbed_clients()
    control = _control(clients, disable_mode="delete")
    old_arn, new_arn = "arn:step-old", "arn:step-new"
    saved_policies = [_policy("tracking", "TargetTrackingScaling", "arn:tracking"),
                      _policy(FROM_ZERO_POLICY, "StepScaling", old_arn, [ALARM])]
    control.saved = ScalingConfig.from_responses(IC_RESOURCE, [_target()], saved_policies,
                                                 COPY_DIMENSION, [_alarm([old_arn])])
    control.saved_instances = 1
    control.changed = True
    new_policies = [saved_policies[0], _policy(FROM_ZERO_POLICY, "StepScaling", new_arn,
                                               [ALARM])]
    with sm, aas, cw:
        _stub_read(aas, cw, [], [])  # now: no policies, the alarm orphaned
        aas.add_response("register_scalable_target", {}, {
            **TARGET_ARGS, "MinCapacity": 0, "MaxCapacity": 4, "SuspendedState": SUSPENDED_OFF})
        aas.add_response("put_scaling_policy", {"PolicyARN": new_arn}, {
            **TARGET_ARGS, "PolicyName": FROM_ZERO_POLICY, "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": STEP_CONFIG})
        aas.add_response("put_scaling_policy", {"PolicyARN": "arn:tracking"}, {
            **TARGET_ARGS, "PolicyName": "tracking", "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": TRACKING})
        cw.add_response("put_metric_alarm", {}, {
            **{k: v for k, v in _alarm([new_arn]).items() if k != "AlarmArn"}})
        _stub_read(aas, cw, new_policies, [_alarm([new_arn])])
        _stub_copies_back(sm, now=3, start=1)
        line = await control.restore()
        for stub in (sm, aas, cw):
            stub.assert_no_pending_responses()
    assert control.last_error is None, line
    assert line.endswith("; copies 3 -> 1 as at start (the component is updating)")
    assert f"StepScaling {FROM_ZERO_POLICY} (alarm {ALARM})" in line
    assert not control.changed


async def test_zero_copies_at_the_start_is_a_count_to_restore(aws_env):
    clients, sm, aas, cw = _stubbed_clients()
    control = _control(clients)
    control.saved = ScalingConfig.from_responses(IC_RESOURCE, [_target()], [], COPY_DIMENSION)
    control.saved_instances = 0
    control.changed = True
    with sm, aas, cw:
        _stub_read(aas, cw, [], [])  # policies as at start: only the copies differ
        _stub_copies_back(sm, now=2, start=0)
        line = await control.restore()
        for stub in (sm, aas, cw):
            stub.assert_no_pending_responses()
    assert line.endswith("; copies 2 -> 0 as at start (the component is updating)"), line


@pytest.mark.parametrize(("code", "quota", "throttled"), [
    ("LimitExceededException", True, False),
    ("ThrottlingException", False, True),
    ("ConcurrentUpdateException", False, False),
])
async def test_autoscaling_limit_exceeded_is_a_quota_not_throttling(aws_env, code, quota,
                                                                    throttled):
    clients, sm, aas, cw = _stubbed_clients()
    control = _control(clients)
    with sm, aas, cw:
        _stub_read(aas, cw, [], [])
        aas.add_response("register_scalable_target", {}, {
            **TARGET_ARGS, "MinCapacity": 0, "MaxCapacity": 4, "SuspendedState": SUSPENDED_OFF})
        aas.add_client_error("put_scaling_policy", code, "no", 400)
        line = await control.enable()
    error = control.last_error
    assert error is not None and error.code == code and code in line
    assert (error.quota, error.throttled) == (quota, throttled)


def test_update_copy_count_refusal_keeps_the_code(aws_env):
    from driver.aws import AwsError
    from driver.aws.components import set_copy_count

    sm = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sm) as stub:
        stub.add_client_error("update_inference_component_runtime_config",
                              "ResourceLimitExceeded", "account quota for ml.g5 reached", 400)
        with pytest.raises(AwsError) as caught:
            set_copy_count(sm, IC, 3)
    assert caught.value.code == "ResourceLimitExceeded" and caught.value.quota


# --- pollers --------------------------------------------------------------------------------

async def test_the_endpoint_poller_records_copies_and_says_when_they_change(aws_env):
    sm = boto3.client("sagemaker", region_name=REGION)
    records: list = []
    poller = EndpointPoller(sm, None, ENDPOINT, VARIANT, records.append, component=IC)
    with Stubber(sm) as stub:
        for copies, instances in ((0, 0), (1, 1), (1, 1)):
            described = _ic_endpoint()
            described["ProductionVariants"][0].update(CurrentInstanceCount=instances,
                                                      DesiredInstanceCount=1)
            stub.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT})
            if not records:
                stub.add_response("describe_endpoint_config", IC_CONFIG)
            stub.add_response("describe_inference_component", _component(IC, 1, copies),
                              {"InferenceComponentName": IC})
            await poller.poll()
    states = [r for r in records if isinstance(r, EndpointState)]
    assert [s.components[0]["current"] for s in states] == [0, 1, 1]
    changes = [(r.name, r.message) for r in records if isinstance(r, Event)]
    assert changes == [("copies_changed", "copies 0/1 -> 1/1 (current/desired)")]
    assert [s.instance_counts() for s in states] == [(0, 1), (1, 1), (1, 1)]  # 0 is a count
    assert states[0].copy_counts() == (0, 1)


def test_the_cloudwatch_poller_asks_for_the_components_series():
    from metrics.cloudwatch import series_for

    assert "gpu" not in {m.id for m in series_for(None, "ml.m5.large")}
    assert {"gpu", "gpu_memory"} <= {m.id for m in series_for(None, "ml.g5.2xlarge")}
    poller = CloudWatchPoller(None, ENDPOINT, VARIANT, lambda r: None, period=10, component=IC,
                              metrics=series_for(IC, "ml.g5.2xlarge"))
    queries = {q["Id"]: q["MetricStat"] for q in poller.queries()}
    per_copy = queries["invocations_per_copy"]["Metric"]
    assert per_copy["Dimensions"] == [{"Name": "InferenceComponentName", "Value": IC}]
    assert queries["no_capacity"]["Metric"]["MetricName"] == "NoCapacityInvocationFailures"
    assert queries["copy_cpu"]["Metric"]["Namespace"] == "/aws/sagemaker/InferenceComponents"
    assert queries["concurrency_per_copy"]["Period"] == 10
    assert queries["cpu"]["Metric"]["Dimensions"][0] == {"Name": "EndpointName",
                                                         "Value": ENDPOINT}


def test_a_per_copy_target_is_not_read_as_a_per_instance_figure():
    meta = target_meta(4.0, "profile", "SageMakerInferenceComponentInvocationsPerCopy")
    entry = meta["scaling_target"]
    assert entry["unit"] == "invocations per copy per minute"
    assert "invocations_per_instance_per_minute" not in entry


def test_model_invocation_time_exceeded_counts_as_a_timeout():
    result = feed_all("sagemaker", "tgi", payload_part(TOKEN),
                      exception_event("ModelStreamError", "the model took too long",
                                      "ModelInvocationTimeExceeded"))
    assert result.outcome == MODEL_TIMEOUT  # type: ignore[attr-defined]
    assert OUTCOME_CODES[MODEL_TIMEOUT] == (TIMEOUT, "ModelInvocationTimeExceeded")


def test_find_capacity_on_a_component_recommends_a_per_copy_policy():
    from driver.capacity import per_copy, scaling_block

    searched = {"max_rps": 390.0, "target": 11700, "safety_factor": 0.5,
                "formula": "target = MAX_RPS x SAFETY_FACTOR x 60 = ..."}
    rec = per_copy(searched, IC)
    assert rec["formula"] == ("target = MAX_RPS_PER_COPY x SAFETY_FACTOR x 60 = 390 x 0.5 x 60 "
                              "= 11700 invocations per copy per minute")
    assert "target: 11700   # target = MAX_RPS_PER_COPY" in scaling_block(rec, 0, 4)
