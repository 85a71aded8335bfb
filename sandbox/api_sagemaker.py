"""SageMaker control plane (JSON 1.1, ``X-Amz-Target: SageMaker.*``): the endpoint as described.

DescribeEndpoint reports ``Updating`` while instances are being added or removed, with
DesiredInstanceCount already at the new value and CurrentInstanceCount still counting the
instances that serve, as AWS shows during a scaling activity. The instance type lives only in
DescribeEndpointConfig, as on AWS.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

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
    variant: dict[str, Any] = {
        "VariantName": endpoint.variant,
        "DeployedImages": [{
            "SpecifiedImage": "loadwatch/sandbox-iris-decision-tree:latest",
            "ResolvedImage": "loadwatch/sandbox-iris-decision-tree@sha256:" + "0" * 64,
            "ResolutionTime": from_epoch(endpoint.created),
        }],
        "CurrentWeight": 1.0,
        "DesiredWeight": 1.0,
        "CurrentInstanceCount": endpoint.current,
        "DesiredInstanceCount": endpoint.desired,
    }
    if endpoint.update_started is not None:
        variant["VariantStatus"] = [{
            "Status": "Updating",
            "StatusMessage": (f"Updating instance count from {endpoint.current} to "
                              f"{endpoint.desired}."),
            "StartTime": from_epoch(endpoint.update_started),
        }]
    return {
        "EndpointName": endpoint.name,
        "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.config_name,
        "ProductionVariants": [variant],
        "EndpointStatus": endpoint.status,
        "CreationTime": from_epoch(endpoint.created),
        "LastModifiedTime": from_epoch(endpoint.last_modified),
    }


def describe_endpoint_config(sim: Simulation, params: dict[str, Any],
                             now: float) -> dict[str, Any]:
    endpoint = sim.endpoint
    name = params.get("EndpointConfigName")
    if name != endpoint.config_name:
        arn = endpoint.config_arn.rsplit("/", 1)[0] + f"/{str(name).lower()}"
        raise validation(f'Could not find endpoint configuration "{arn}".')
    return {
        "EndpointConfigName": endpoint.config_name,
        "EndpointConfigArn": endpoint.config_arn,
        "ProductionVariants": [{
            "VariantName": endpoint.variant,
            "ModelName": endpoint.model_name,
            "InitialInstanceCount": sim.config.initial_instances,
            "InstanceType": endpoint.profile.instance_type,
            "InitialVariantWeight": 1.0,
        }],
        "CreationTime": from_epoch(endpoint.created),
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


OPERATIONS: dict[str, Handler] = {
    "DescribeEndpoint": describe_endpoint,
    "DescribeEndpointConfig": describe_endpoint_config,
    "ListEndpoints": list_endpoints,
    "UpdateEndpointWeightsAndCapacities": update_endpoint_weights_and_capacities,
}
