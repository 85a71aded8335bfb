"""Virtual sessions of a known twin written as recordings: fit inputs whose truth is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metrics.recording import RecordingWriter
from sandbox.config import InstanceProfile, SandboxConfig
from twin.model import Twin
from twin.virtual import Traffic, VirtualRun


def instance(workers: int = 2, service_time_ms: float = 25.0, queue_bound: int = 16) -> Twin:
    """A twin that is exactly a sandbox instance of these parameters."""
    return Twin.from_sandbox(SandboxConfig(profile=InstanceProfile(
        "ml.c5.large", vcpus=2, memory_gib=4.0, workers=workers,
        service_time_ms=service_time_ms, jitter_ms=1.0, queue_bound=queue_bound)))


def write_session(twin: Twin, plan: list[tuple[str, int, int]], path: Path, *, seed: int = 1,
                  timeout_s: float = 20.0, max_in_flight: int | None = None) -> Path:
    """``plan``: (phase name, req/s, seconds) in order; one instance, no scaling;
    ``max_in_flight``: the client's cap on requests in flight."""
    counts = np.array([rate for _, rate, seconds in plan for _ in range(seconds)],
                      dtype=np.int64)
    traffic = Traffic(counts, counts.astype(float),
                      np.repeat(np.arange(len(plan)), [seconds for _, _, seconds in plan]),
                      [name for name, _, _ in plan], timeout_s=timeout_s,
                      max_in_flight=max_in_flight, source="steps")
    records = VirtualRun(twin, traffic, None, seed=seed).run(records=True).records
    with RecordingWriter(path, records[0]) as writer:  # type: ignore[arg-type]
        for record in records[1:]:
            writer.write(record)
    return path
