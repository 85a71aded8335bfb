"""Inference components: whether an endpoint hosts them, which, and what each asks for.

An endpoint hosts inference components when its endpoint config's variant names no model
(``ProductionVariant.ModelName`` absent: the models are the components', AWS "Deploy models
for real-time inference" with inference components). Against such an endpoint every
InvokeEndpoint must name a component (``X-Amzn-SageMaker-Inference-Component``), else
SageMaker answers 400 ``INFERENCE_COMPONENT_NAME_MISSING``: pre-flight catches that before
load is sent. Calls (botocore's sagemaker model): ListInferenceComponents (EndpointNameEquals,
paged), DescribeInferenceComponent (RuntimeConfig: DesiredCopyCount, CurrentCopyCount;
Specification.ComputeResourceRequirements), UpdateInferenceComponentRuntimeConfig
(DesiredRuntimeConfig.CopyCount).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driver.aws.clients import AwsError, call

# What a wrong component looks like to the user: the profile field (or flag) to fix.
FIELD = "sagemaker.inferenceComponent"


@dataclass(frozen=True, slots=True)
class Component:
    """One inference component as DescribeInferenceComponent tells it."""

    name: str
    variant: str | None
    status: str
    desired_copies: int | None
    current_copies: int | None
    cpus: float | None = None  # NumberOfCpuCoresRequired per copy
    accelerators: float | None = None  # NumberOfAcceleratorDevicesRequired per copy
    memory_mb: int | None = None  # MinMemoryRequiredInMb per copy

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Component:
        runtime = described.get("RuntimeConfig") or {}
        spec = described.get("Specification") or {}
        needs = spec.get("ComputeResourceRequirements") or {}
        return cls(name=described["InferenceComponentName"],
                   variant=described.get("VariantName"),
                   status=described.get("InferenceComponentStatus", "Unknown"),
                   desired_copies=runtime.get("DesiredCopyCount"),
                   current_copies=runtime.get("CurrentCopyCount"),
                   cpus=needs.get("NumberOfCpuCoresRequired"),
                   accelerators=needs.get("NumberOfAcceleratorDevicesRequired"),
                   memory_mb=needs.get("MinMemoryRequiredInMb"))

    def per_copy(self) -> str:
        """'2 cores, 1 accelerator, 4096 MB' per copy (what is declared)."""
        parts = []
        if self.cpus:
            parts.append(f"{self.cpus:g} core{'s' if self.cpus != 1 else ''}")
        if self.accelerators:
            parts.append(f"{self.accelerators:g} accelerator"
                         f"{'s' if self.accelerators != 1 else ''}")
        if self.memory_mb:
            parts.append(f"{self.memory_mb} MB")
        return ", ".join(parts) or "no declared needs"

    def describe(self) -> str:
        return (f"component {self.name}: {self.current_copies} of {self.desired_copies} copies "
                f"({self.status}), {self.per_copy()} per copy")

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class EndpointComponents:
    """What pre-flight learnt: whether the variant hosts components, and which."""

    hosts_components: bool  # the variant has no ModelName
    names: tuple[str, ...]  # every component of the endpoint (this variant's)
    managed_scaling: dict[str, Any] | None  # the variant's ManagedInstanceScaling

    def listing(self) -> str:
        return ", ".join(self.names) or "none"

    def managed_scaling_line(self) -> str | None:
        m = self.managed_scaling
        if not m:
            return None
        return (f"managed instance scaling {m.get('Status', '?')}: "
                f"{m.get('MinInstanceCount', '?')}-{m.get('MaxInstanceCount', '?')} instances")


def config_variant(config: dict[str, Any], variant: str) -> dict[str, Any]:
    """The variant's entry in a DescribeEndpointConfig answer ({} when absent)."""
    return next((v for v in config.get("ProductionVariants", [])
                 if v.get("VariantName") == variant), {})


def list_components(sm: Any, endpoint: str, variant: str | None = None) -> list[str]:
    """The names of the endpoint's inference components (all pages), oldest first."""
    names: list[str] = []
    request: dict[str, Any] = {"EndpointNameEquals": endpoint, "SortBy": "CreationTime",
                               "SortOrder": "Ascending"}
    if variant:
        request["VariantNameEquals"] = variant
    while True:
        page = call(f"listing the inference components of {endpoint}",
                    sm.list_inference_components, **request)
        names += [c["InferenceComponentName"] for c in page.get("InferenceComponents", [])]
        if not page.get("NextToken"):
            return names
        request["NextToken"] = page["NextToken"]


def describe_component(sm: Any, name: str) -> Component:
    return Component.from_description(call(
        f"describing inference component {name}", sm.describe_inference_component,
        InferenceComponentName=name))


def find_components(sm: Any, endpoint: str, variant: str,
                    config: dict[str, Any]) -> EndpointComponents:
    """Whether the variant hosts inference components, and their names (blocking)."""
    entry = config_variant(config, variant)
    hosts = bool(entry) and not entry.get("ModelName")
    names = list_components(sm, endpoint, variant) if hosts else []
    return EndpointComponents(hosts, tuple(names), entry.get("ManagedInstanceScaling"))


def check_component(found: EndpointComponents, name: str | None, endpoint: str) -> None:
    """AwsError (one line naming the field and what exists) when ``name`` cannot be used."""
    if name is None:
        if found.hosts_components:
            raise AwsError(f"{FIELD} missing: endpoint {endpoint} hosts inference components "
                           f"({found.listing()}), and SageMaker refuses a request that names "
                           "none (INFERENCE_COMPONENT_NAME_MISSING); set it or pass "
                           "--inference-component NAME", "InferenceComponentMissing")
        return
    if not found.hosts_components:
        raise AwsError(f"{FIELD} {name!r}: endpoint {endpoint} hosts no inference components "
                       "(its variant serves a model of its own); remove the field",
                       "NoInferenceComponents")
    if name not in found.names:
        raise AwsError(f"{FIELD} {name!r}: endpoint {endpoint} has no such inference component "
                       f"(it has {found.listing()})", "UnknownInferenceComponent")


def set_copy_count(sm: Any, name: str, copies: int) -> None:
    """UpdateInferenceComponentRuntimeConfig: ask for ``copies`` copies (0 included)."""
    call(f"setting the copy count of {name}", sm.update_inference_component_runtime_config,
         InferenceComponentName=name, DesiredRuntimeConfig={"CopyCount": int(copies)})
