"""SageMaker control plane (JSON 1.1, ``X-Amz-Target: SageMaker.*``): the endpoint as described.

DescribeEndpoint reports ``Updating`` while instances are being added or removed, with
DesiredInstanceCount already at the new value and CurrentInstanceCount still counting the
instances that serve, as AWS shows during a scaling activity. The instance type lives only in
DescribeEndpointConfig, as on AWS.

An endpoint with inference components has a variant without ModelName (and with
ManagedInstanceScaling when the sandbox manages its instances); ListInferenceComponents,
DescribeInferenceComponent and UpdateInferenceComponentRuntimeConfig describe and scale its
components' copies. Both endpoints report MetricsConfig: enhanced metrics at the sandbox's
metric period.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sandbox.components import Component
from sandbox.errors import AwsError, validation
from sandbox.protocols import from_epoch, to_epoch
from sandbox.simulation import Simulation

Handler = Callable[[Simulation, dict[str, Any], float], dict[str, Any]]


def describe_endpoint(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    endpoint = sim.endpoint
    name = params.get("EndpointName")
    if name != endpoint.name:
        arn = endpoint.arn.rsplit("/", 1)[0] + f"/{str(name).lower()}"
        raise validation(f'Could not find endpoint "{arn}".')
    fleet = sim.fleet
    variant: dict[str, Any] = {"VariantName": endpoint.variant}
    if fleet is None:
        variant["DeployedImages"] = [{
            "SpecifiedImage": "loadwatch/sandbox-iris-decision-tree:latest",
            "ResolvedImage": "loadwatch/sandbox-iris-decision-tree@sha256:" + "0" * 64,
            "ResolutionTime": from_epoch(endpoint.created),
        }]
    current = endpoint.current if fleet is None else fleet.current_instances
    desired = endpoint.desired if fleet is None else fleet.desired_instances
    variant.update({"CurrentWeight": 1.0, "DesiredWeight": 1.0,
                    "CurrentInstanceCount": current, "DesiredInstanceCount": desired})
    if endpoint.update_started is not None:
        variant["VariantStatus"] = [{
            "Status": "Updating",
            "StatusMessage": (f"Updating instance count from {endpoint.current} to "
                              f"{endpoint.desired}."),
            "StartTime": from_epoch(endpoint.update_started),
        }]
    managed = _managed_scaling(sim)
    if managed is not None:
        variant["ManagedInstanceScaling"] = managed
    return {
        "EndpointName": endpoint.name,
        "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.config_name,
        "ProductionVariants": [variant],
        # Instances coming and going under managed scaling leave the endpoint InService.
        "EndpointStatus": endpoint.status,
        "CreationTime": from_epoch(endpoint.created),
        "LastModifiedTime": from_epoch(max(endpoint.last_modified,
                                           fleet.last_change if fleet else 0.0)),
        "MetricsConfig": _metrics_config(sim),
    }


def _managed_scaling(sim: Simulation) -> dict[str, Any] | None:
    managed = sim.config.managed_scaling
    if managed is None:
        return None
    return {"Status": "ENABLED", "MinInstanceCount": managed.min_instances,
            "MaxInstanceCount": managed.max_instances}


def _metrics_config(sim: Simulation) -> dict[str, Any]:
    """Enhanced metrics published every metric period (AWS: 10 to 300 s, default 60)."""
    return {"EnableEnhancedMetrics": True,
            "MetricPublishFrequencyInSeconds": int(sim.config.timings.period_s)}


def describe_endpoint_config(sim: Simulation, params: dict[str, Any],
                             now: float) -> dict[str, Any]:
    endpoint = sim.endpoint
    name = params.get("EndpointConfigName")
    if name != endpoint.config_name:
        arn = endpoint.config_arn.rsplit("/", 1)[0] + f"/{str(name).lower()}"
        raise validation(f'Could not find endpoint configuration "{arn}".')
    variant: dict[str, Any] = {"VariantName": endpoint.variant}
    if sim.fleet is None:
        variant["ModelName"] = endpoint.model_name  # with components, the variant has none
    variant.update({"InitialInstanceCount": sim.config.initial_instances,
                    "InstanceType": endpoint.profile.instance_type})
    if sim.fleet is None:
        variant["InitialVariantWeight"] = 1.0
    managed = _managed_scaling(sim)
    if managed is not None:
        variant["ManagedInstanceScaling"] = managed
    if sim.fleet is not None:
        variant["RoutingConfig"] = {"RoutingStrategy": (
            "LEAST_OUTSTANDING_REQUESTS" if sim.config.routing == "least-outstanding"
            else "RANDOM")}
    return {
        "EndpointConfigName": endpoint.config_name,
        "EndpointConfigArn": endpoint.config_arn,
        "ProductionVariants": [variant],
        "CreationTime": from_epoch(endpoint.created),
        "MetricsConfig": _metrics_config(sim),
    }


def update_endpoint_weights_and_capacities(sim: Simulation, params: dict[str, Any],
                                           now: float) -> dict[str, Any]:
    """Set a variant's instance count (and weight) in place, as AWS does: the endpoint goes
    Updating while instances are added or drained; refused while an update is in progress."""
    endpoint = sim.endpoint
    name = params.get("EndpointName")
    if name != endpoint.name:
        arn = endpoint.arn.rsplit("/", 1)[0] + f"/{str(name).lower()}"
        raise validation(f'Could not find endpoint "{arn}".')
    wanted = params.get("DesiredWeightsAndCapacities")
    if not isinstance(wanted, list) or not wanted:
        raise validation("DesiredWeightsAndCapacities must name at least one variant.")
    if sim.fleet is not None:
        raise validation("The endpoint hosts inference components: scale their copies with "
                         "UpdateInferenceComponentRuntimeConfig; its instances follow "
                         "ManagedInstanceScaling.")
    if endpoint.updating:
        raise validation(f'Cannot update in-progress endpoint "{endpoint.arn}".')
    counts = []
    for item in wanted:
        variant = item.get("VariantName") if isinstance(item, dict) else None
        if variant != endpoint.variant:
            raise validation(f"The variant name(s) [{variant}] is/are not present in the "
                             "endpoint.")
        count = item.get("DesiredInstanceCount")
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise validation("DesiredInstanceCount must be a whole number of at least 1.")
            counts.append(count)
    for count in counts:
        endpoint.set_desired(count, now)
    return {"EndpointArn": endpoint.arn}


def list_endpoints(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    endpoint = sim.endpoint
    summary = {
        "EndpointName": endpoint.name,
        "EndpointArn": endpoint.arn,
        "CreationTime": from_epoch(endpoint.created),
        "LastModifiedTime": from_epoch(endpoint.last_modified),
        "EndpointStatus": endpoint.status,
    }
    matches = [summary] if _matches(endpoint.name, endpoint.status, endpoint.created,
                                    endpoint.last_modified, params) else []
    start = decode_token(params.get("NextToken"))
    limit = int(params.get("MaxResults") or 10)
    if not 1 <= limit <= 100:
        raise validation("MaxResults must be between 1 and 100.")
    page = matches[start:start + limit]
    result: dict[str, Any] = {"Endpoints": page}
    if start + limit < len(matches):
        result["NextToken"] = encode_token(start + limit)
    return result


def _matches(name: str, status: str, created: float, modified: float,
             params: dict[str, Any]) -> bool:
    """ListEndpoints' filters: NameContains, StatusEquals and the four time bounds."""
    contains = params.get("NameContains")
    if contains and contains.lower() not in name.lower():
        return False
    if params.get("StatusEquals") not in (None, status):
        return False
    bounds = {"CreationTimeBefore": (created, -1), "CreationTimeAfter": (created, 1),
              "LastModifiedTimeBefore": (modified, -1), "LastModifiedTimeAfter": (modified, 1)}
    for key, (when, sign) in bounds.items():
        if key in params and (when - to_epoch(params[key], key)) * sign <= 0:
            return False
    return True


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: object, error_code: str = "ValidationException") -> int:
    """The offset a NextToken made by ``encode_token`` stands for (0 for no token)."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(token).encode()).decode()
        kind, _, offset = text.partition(":")
        if kind == "offset" and int(offset) >= 0:
            return int(offset)
    except ValueError:
        pass
    raise AwsError(error_code, "The NextToken is not valid.")


# --- inference components ------------------------------------------------------------------

def _component(sim: Simulation, params: dict[str, Any]) -> Component:
    name = params.get("InferenceComponentName")
    if not name:
        raise validation("1 validation error detected: Value null at 'inferenceComponentName' "
                         "failed to satisfy constraint: Member must not be null")
    component = None if sim.fleet is None else sim.fleet.component(str(name))
    if component is None:
        arn = (f"arn:aws:sagemaker:{sim.config.region}:{sim.config.account_id}:"
               f"inference-component/{str(name).lower()}")
        raise validation(f'Could not find inference component "{arn}".')
    return component


def _summary(sim: Simulation, component: Component) -> dict[str, Any]:
    endpoint = sim.endpoint
    return {
        "CreationTime": from_epoch(component.created),
        "InferenceComponentArn": component.arn,
        "InferenceComponentName": component.name,
        "EndpointArn": endpoint.arn,
        "EndpointName": endpoint.name,
        "VariantName": endpoint.variant,
        "InferenceComponentStatus": component.status,
        "LastModifiedTime": from_epoch(component.last_modified),
    }


def describe_inference_component(sim: Simulation, params: dict[str, Any],
                                 now: float) -> dict[str, Any]:
    component = _component(sim, params)
    spec = component.spec
    requirements: dict[str, Any] = {"NumberOfCpuCoresRequired": spec.cores,
                                    "MinMemoryRequiredInMb": spec.memory_mb}
    if spec.accelerators:
        requirements["NumberOfAcceleratorDevicesRequired"] = float(spec.accelerators)
    image = ("loadwatch/sandbox-llm:latest" if spec.serving.llm is not None
             else "loadwatch/sandbox-iris-decision-tree:latest")
    result = _summary(sim, component)
    result.update({
        "Specification": {
            "Container": {"DeployedImage": {"SpecifiedImage": image,
                                            "ResolvedImage": image.split(":")[0]
                                            + "@sha256:" + "0" * 64,
                                            "ResolutionTime": from_epoch(component.created)}},
            "StartupParameters": {"ModelDataDownloadTimeoutInSeconds": 3600,
                                  "ContainerStartupHealthCheckTimeoutInSeconds": 600},
            "ComputeResourceRequirements": requirements,
        },
        "RuntimeConfig": {"DesiredCopyCount": component.desired,
                          "CurrentCopyCount": component.current},
    })
    return result


def list_inference_components(sim: Simulation, params: dict[str, Any],
                              now: float) -> dict[str, Any]:
    components = [] if sim.fleet is None else list(sim.fleet.components.values())
    wanted_endpoint = params.get("EndpointNameEquals")
    wanted_variant = params.get("VariantNameEquals")
    if wanted_endpoint not in (None, sim.endpoint.name) or \
            wanted_variant not in (None, sim.endpoint.variant):
        components = []
    components = [c for c in components
                  if _matches(c.name, c.status, c.created, c.last_modified, params)]
    sort_by = params.get("SortBy") or "CreationTime"
    keys = {"Name": lambda c: c.name, "CreationTime": lambda c: (c.created, c.name),
            "Status": lambda c: c.status}
    if sort_by not in keys:
        raise validation(f"SortBy must be Name, CreationTime or Status, not {sort_by!r}.")
    components.sort(key=keys[sort_by], reverse=params.get("SortOrder", "Descending")
                    == "Descending")
    start = decode_token(params.get("NextToken"))
    limit = int(params.get("MaxResults") or 10)
    if not 1 <= limit <= 100:
        raise validation("MaxResults must be between 1 and 100.")
    page = components[start:start + limit]
    result: dict[str, Any] = {"InferenceComponents": [_summary(sim, c) for c in page]}
    if start + limit < len(components):
        result["NextToken"] = encode_token(start + limit)
    return result


def update_inference_component_runtime_config(sim: Simulation, params: dict[str, Any],
                                              now: float) -> dict[str, Any]:
    """Set a component's copy count: copies load, or wait for managed scaling to add room."""
    component = _component(sim, params)
    wanted = params.get("DesiredRuntimeConfig")
    count = wanted.get("CopyCount") if isinstance(wanted, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise validation("DesiredRuntimeConfig.CopyCount must be a whole number of at least 0.")
    assert sim.fleet is not None
    sim.fleet.set_desired(component.name, count, now)
    return {"InferenceComponentArn": component.arn}


OPERATIONS: dict[str, Handler] = {
    "DescribeInferenceComponent": describe_inference_component,
    "ListInferenceComponents": list_inference_components,
    "UpdateInferenceComponentRuntimeConfig": update_inference_component_runtime_config,
    "DescribeEndpoint": describe_endpoint,
    "DescribeEndpointConfig": describe_endpoint_config,
    "ListEndpoints": list_endpoints,
    "UpdateEndpointWeightsAndCapacities": update_endpoint_weights_and_capacities,
}
