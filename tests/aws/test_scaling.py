"""Scaling control against moto: enable, disable (suspend or delete), restore what was there."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from driver.aws import ScalingControl
from driver.profile import ScalingOptions
from metrics.endpoint import read_scaling_config
from tests.aws.conftest import ENDPOINT, REGION, VARIANT, make_endpoint, register_scaling

BLOG = ScalingOptions(min=1, max=4, target=25000, scale_in_cooldown=300,
                      scale_out_cooldown=60)


def control(options: ScalingOptions = BLOG, events: list | None = None) -> ScalingControl:
    aas = boto3.client("application-autoscaling", region_name=REGION)
    sink = None if events is None else (lambda name, message, **data:
                                        events.append((name, message, data)))
    return ScalingControl(aas, ENDPOINT, VARIANT, options, event=sink,
                          sagemaker=boto3.client("sagemaker", region_name=REGION))


def now():
    aas = boto3.client("application-autoscaling", region_name=REGION)
    return read_scaling_config(aas, ENDPOINT, VARIANT)


async def test_enable_then_restore_to_no_scaling(moto_aws):
    make_endpoint()
    events: list = []
    c = control(events=events)
    c.save(instances=1)
    assert c.state.mode == "none"
    assert c.describe_change("enable").startswith(
        "enable: 1-4 instances, target tracking 25000 invocations/instance/min")
    message = await c.enable()
    assert message == ("scaling enabled: target tracking 25000/instance/min, 1-4 instances, "
                       "enabled")
    config = now()
    policy = config.policy("loadwatch-target-tracking")
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 25000.0,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleOutCooldown": 60, "ScaleInCooldown": 300, "DisableScaleIn": False}
    assert (c.state.mode, c.state.min, c.state.max, c.state.target) == ("enabled", 1, 4, 25000)
    assert c.state.changed
    assert c.describe_change("restore").startswith("restore: back to no scaling")
    message = await c.restore()
    assert message.startswith("scaling restored: no scaling")
    assert now().mode == "none" and now().target is None
    assert [e[0] for e in events] == ["scaling_enabled", "scaling_restored"]
    assert events[0][2]["before"]["target"] is None
    assert events[0][2]["after"]["target"]["MaxCapacity"] == 4


async def test_disable_suspends_and_restore_unsuspends(moto_aws):
    make_endpoint()
    register_scaling(min_capacity=1, max_capacity=2, target=20000)
    c = control()
    saved = c.save()
    assert c.describe_change("disable") == (
        "disable: suspend dynamic scale-out and scale-in, policies kept; now target tracking "
        "20000/instance/min, 1-2 instances, enabled")
    assert (await c.disable()).endswith("1-2 instances, suspended")
    config = now()
    assert config.mode == "suspended"
    assert config.suspended_state == {"DynamicScalingInSuspended": True,
                                      "DynamicScalingOutSuspended": True,
                                      "ScheduledScalingSuspended": False}
    assert config.policies == saved.policies  # suspended, not deleted
    await c.restore()
    assert now() == saved


async def test_disable_by_deleting_and_restore_puts_the_users_policy_back(moto_aws):
    make_endpoint()
    register_scaling(min_capacity=2, max_capacity=3, target=18000, policy="users-policy")
    c = control(ScalingOptions(disable_mode="delete"))
    saved = c.save()
    assert "delete the variant's scaling policies (users-policy)" in c.describe_change("disable")
    message = await c.disable()
    assert "deleted policies users-policy" in message
    assert now().policies == () and now().mode == "none"
    await c.restore()
    assert now() == saved
    assert now().policy("users-policy")["TargetTrackingScalingPolicyConfiguration"][
        "TargetValue"] == 18000


async def test_enable_over_the_users_policy_and_restore_both(moto_aws):
    make_endpoint()
    register_scaling(min_capacity=1, max_capacity=2, target=20000, suspended=True)
    c = control()
    saved = c.save()
    await c.enable()
    names = {p["PolicyName"] for p in now().policies}
    assert names == {"users-policy", "loadwatch-target-tracking"}
    assert now().mode == "enabled" and now().max == 4
    await c.restore()
    assert now() == saved and now().mode == "suspended"


async def test_nothing_changed_means_nothing_restored_at_exit(moto_aws):
    make_endpoint()
    events: list = []
    c = control(events=events)
    c.save()
    assert await c.restore_at_exit() is None
    assert await c.disable() == "scaling already off: no scaling: the variant is not " \
                                "registered with Application Auto Scaling"
    assert await c.restore_at_exit() is None
    assert [e[0] for e in events] == ["scaling_disabled"]


async def test_keep_scaling_leaves_the_change_and_says_so(moto_aws):
    make_endpoint()
    events: list = []
    c = control(events=events)
    c.save()
    await c.enable()
    c.keep_at_exit = True
    assert await c.restore_at_exit() is None
    assert now().mode == "enabled"
    assert events[-1][0] == "scaling_kept"


async def test_apply_profile(moto_aws):
    make_endpoint()
    register_scaling()
    c = control(ScalingOptions(enabled=False))
    c.save()
    await c.apply_profile()
    assert now().mode == "suspended"
    unset = control(ScalingOptions())
    assert await unset.apply_profile() is None


def desired_instances() -> int:
    sm = boto3.client("sagemaker", region_name=REGION)
    variant = sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]
    return variant.get("DesiredInstanceCount") or variant["CurrentInstanceCount"]


async def test_restore_puts_the_instance_count_back(moto_aws):
    make_endpoint(instances=3)
    c = control()
    c.save(instances=1, instance_type="ml.m4.xlarge")  # as if it scaled from 1 to 3 in the run
    await c.enable()
    message = await c.restore()
    assert message.endswith("; instances 3 -> 1 as at start (the endpoint is updating)")
    assert desired_instances() == 1
    assert c.last_error is None


async def test_keep_instances_restores_the_policies_and_says_what_they_cost(moto_aws):
    make_endpoint(instances=3)
    c = control()
    c.save(instances=1, instance_type="ml.m4.xlarge")
    await c.enable()
    c.keep_instances = True
    message = await c.restore()
    assert message.startswith("scaling restored: no scaling")
    assert ("3 instance(s) kept (1 at start, --keep-instances): about $0.56/hour for 2 x "
            "ml.m4.xlarge (approximate us-east-1 on-demand price") in message
    assert desired_instances() == 3


async def test_keep_scaling_says_what_the_extra_instances_cost(moto_aws):
    make_endpoint(instances=2)
    events: list = []
    c = control(events=events)
    c.save(instances=1, instance_type="ml.c5.large")
    await c.enable()
    c.keep_at_exit = True
    await c.restore_at_exit()
    name, message, _ = events[-1]
    assert name == "scaling_kept"
    assert message.endswith("2 instance(s) now, 1 at start: about $0.12/hour for 1 x "
                            "ml.c5.large (approximate us-east-1 on-demand price; see "
                            "aws.amazon.com/sagemaker/pricing) more")


async def test_a_refused_instance_count_says_what_is_left_and_fails(moto_aws):
    make_endpoint(instances=4)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    c = control()
    c.sagemaker = sagemaker
    c.instance_wait_s = 0
    c.save(instances=1, instance_type="ml.unknown")
    await c.enable()
    with Stubber(sagemaker) as stub:
        described = {"EndpointName": ENDPOINT,
                     "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x",
                     "EndpointConfigName": "c", "EndpointStatus": "Updating",
                     "CreationTime": "2026-01-01T00:00:00Z",
                     "LastModifiedTime": "2026-01-01T00:00:00Z",
                     "ProductionVariants": [{"VariantName": VARIANT, "CurrentInstanceCount": 4,
                                             "DesiredInstanceCount": 4}]}
        stub.add_response("describe_endpoint", described)
        stub.add_response("describe_endpoint", described)
        stub.add_client_error("update_endpoint_weights_and_capacities", "ValidationException",
                              "Cannot update in-progress endpoint")
        message = await c.restore()
    assert "the variant still runs 4 instance(s), 1 at start" in message
    assert "3 x ml.unknown billed by the hour (no price known for this type" in message
    assert "loadwatch scaling restore --from RECORDING" in message
    assert c.last_error is not None and c.last_error.code == "ValidationException"


@pytest.mark.parametrize(("code", "status"), [
    ("AccessDeniedException", 400),
    ("ValidationException", 400),
    ("ConcurrentUpdateException", 400),
    ("ExpiredTokenException", 400),
])
async def test_a_failed_action_says_what_aws_answered(aws_env, code, status):
    aas = boto3.client("application-autoscaling", region_name=REGION)
    events: list = []
    c = ScalingControl(aas, ENDPOINT, VARIANT, BLOG,
                       event=lambda name, message, **data: events.append((name, data)))
    with Stubber(aas) as stub:
        stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
        stub.add_response("describe_scaling_policies", {"ScalingPolicies": []})
        stub.add_client_error("register_scalable_target", service_error_code=code,
                              service_message="no", http_status_code=status)
        message = await c.enable()
    assert message.startswith("enable scaling:") and message.endswith(f"({code})")
    assert c.last_error is not None and c.last_error.code == code
    assert events == [("scaling_failed", {"action": "enable", "code": code})]
    assert c.changed  # a half-done change is still restored at exit


def test_describe_change_rejects_unknown_actions(aws_env):
    c = ScalingControl(None, ENDPOINT, VARIANT)
    with pytest.raises(ValueError, match="unknown scaling action"):
        c.describe_change("explode")
    assert c.describe_change("restore") == "restore: nothing was saved"
    assert c.state.mode == "unknown" and c.state.label() == "scaling unknown"


def test_show_with_a_role_that_may_not_list_activities_shows_the_policy(moto_aws, monkeypatch,
                                                                         capsys):
    """moto's IAM denies DescribeScalingActivities to a narrow user: the policy still shows."""
    import json

    from moto.core import set_initial_no_auth_action_count

    from tui.commands.cli import main

    make_endpoint()
    register_scaling(target=20000)
    iam = boto3.client("iam", region_name=REGION)

    @set_initial_no_auth_action_count(3)  # the three IAM calls below; then moto checks IAM
    def as_a_narrow_role() -> int:
        iam.create_user(UserName="narrow")
        iam.put_user_policy(UserName="narrow", PolicyName="read-scaling", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "application-autoscaling:Describe*",
                 "Resource": "*"},
                {"Effect": "Deny", "Action": "application-autoscaling:DescribeScalingActivities",
                 "Resource": "*"}]}))
        key = iam.create_access_key(UserName="narrow")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        return main(["scaling", "show", "--endpoint", ENDPOINT])

    code = as_a_narrow_role()
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (f"endpoint/{ENDPOINT}/variant/{VARIANT}: target tracking "
                        "20000/instance/min, 1-2 instances, enabled")
    assert "  policy users-policy: target 20000, cooldown out 120 s, in 600 s" in lines
    # moto answers a JSON API's denial in XML, so botocore reads its code as the status (403);
    # AWS says AccessDeniedException. Either way the code is named.
    assert lines[-1].startswith("  recent scaling activities could not be read (")
    assert "not authorized to perform: application-autoscaling:DescribeScalingActivities" \
        in lines[-1]
