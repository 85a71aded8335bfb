"""The sandbox: a local stand-in for an Amazon SageMaker real-time endpoint.

One port on 127.0.0.1 answers unmodified boto3 clients for the SageMaker runtime, SageMaker,
Application Auto Scaling and CloudWatch, with SigV4 checked. Behind it, simulated instances
serve a real scikit-learn model, saturate like the blog's ml.m4.xlarge, publish CloudWatch
metrics and scale with target tracking. It imports nothing else of loadwatch.

Three ways to run one (all take a ``SandboxConfig``):

- ``SandboxProcess``: a child process, for the tool (``with SandboxProcess() as sandbox:``);
- ``start_sandbox``: on the running event loop, returns a ``SandboxServer``;
- ``SandboxThread``: on its own loop in a thread, for synchronous code and tests.

Names are imported lazily so that ``import sandbox`` stays cheap (no aiohttp, no sklearn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ENDPOINT_NAME,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_REGION,
    DEFAULT_SECRET_ACCESS_KEY,
    DEFAULT_VARIANT,
    FAST,
    INSTANCE_PROFILES,
    REALISTIC,
    Credentials,
    InstanceProfile,
    SandboxConfig,
    Timings,
)

if TYPE_CHECKING:
    from sandbox.process import SandboxProcess, SandboxStartError
    from sandbox.server import SandboxServer, SandboxThread, start_sandbox

_LAZY = {
    "SandboxProcess": "sandbox.process",
    "SandboxStartError": "sandbox.process",
    "SandboxServer": "sandbox.server",
    "SandboxThread": "sandbox.server",
    "start_sandbox": "sandbox.server",
}

__all__ = [
    "DEFAULT_ACCESS_KEY_ID", "DEFAULT_ENDPOINT_NAME", "DEFAULT_INSTANCE_TYPE", "DEFAULT_REGION",
    "DEFAULT_SECRET_ACCESS_KEY", "DEFAULT_VARIANT", "FAST", "INSTANCE_PROFILES", "REALISTIC",
    "Credentials", "InstanceProfile", "SandboxConfig", "SandboxProcess", "SandboxServer",
    "SandboxStartError", "SandboxThread", "Timings", "start_sandbox",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
