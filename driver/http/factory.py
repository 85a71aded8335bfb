"""Which target a worker's spec names, built: the one place that knows every target kind.

The target modules import only what they build on (``driver.http.targets``), never this one,
so adding a kind is a module and a line here. A kind's module is imported when a spec names it
(a plain HTTP worker never loads the SigV4 signer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driver.http.targets import HttpTarget


def make_target(spec: Mapping[str, Any]) -> HttpTarget:
    """Build a worker's target from its JSON spec: ``{"kind": "http" | "sagemaker", ...}``."""
    kind = spec.get("kind", "http")
    if kind == "http":
        return HttpTarget(spec)
    if kind == "sagemaker":
        from driver.http.sagemaker import SageMakerTarget

        return SageMakerTarget(spec)
    raise ValueError(f"unknown target kind {kind!r}")
