"""Where load workers run and how the controller talks to them: the typed protocol, the
``WorkerPool`` interface with local processes and Ray actors, and the merger of their ticks.
May import ``driver.schedule``, ``driver.profile`` and ``metrics``; ``RayPool`` needs the
``ray`` extra.
"""

from driver.pool.base import KILL_DEADLINE_S, PoolStartError, WorkerPool, describe_source
from driver.pool.local import LocalProcessPool
from driver.pool.merger import TickMerger
from driver.pool.protocol import (
    Command,
    Done,
    EventMessage,
    Kill,
    Message,
    ProtocolError,
    Ready,
    SetControls,
    Start,
    Stop,
    TickMessage,
    WorkerConfig,
    WorkerLost,
    decode_command,
    decode_config,
    encode_message,
)
from driver.pool.ray_pool import RayPool

__all__ = [
    "KILL_DEADLINE_S",
    "Command",
    "Done",
    "EventMessage",
    "Kill",
    "LocalProcessPool",
    "Message",
    "PoolStartError",
    "ProtocolError",
    "RayPool",
    "Ready",
    "SetControls",
    "Start",
    "Stop",
    "TickMerger",
    "TickMessage",
    "WorkerConfig",
    "WorkerLost",
    "WorkerPool",
    "decode_command",
    "decode_config",
    "describe_source",
    "encode_message",
]
