"""What the controller and a load worker say to each other: typed, one encoder and decoder each.

The controller sends a ``WorkerConfig`` first, then ``Command``s (``Start``, ``SetControls``,
``Stop``, ``Kill``); a worker answers with ``Message``s (``Ready``, then one ``TickMessage`` per
elapsed second, ``EventMessage``s, and finally ``Done``). A pool adds ``WorkerLost`` when a
worker ends without ``Done``. All are small frozen dataclasses, so a pool that is not a pipe (a
Ray actor, say) can pass the objects themselves; over a pipe each is one JSON line.

A tick travels as a ``metrics.records.Tick``: a field added there (token counters, say) is on
the wire with no change here. A line that cannot be decoded raises ``ProtocolError`` saying why.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from driver.profile import LoadOptions, RenderedRequest
from driver.schedule import Control, Phase
from metrics.records import Event, Tick, record_from_dict


class ProtocolError(ValueError):
    """A line that is not a valid command, message or config."""


# --- the worker config --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything one worker needs, sent once before any command."""

    index: int
    workers: int
    phases: tuple[Phase, ...]
    scenarios: tuple[tuple[RenderedRequest, ...], ...]  # per scenario: one per payload row
    weights: tuple[float, ...]
    load: LoadOptions = field(default_factory=LoadOptions)
    target: dict[str, Any] = field(default_factory=lambda: {"kind": "http"})
    payload_order: str = "random"
    seed: int = 0
    gc_freeze: bool = True

    # Shorthands the worker's hot path reads.
    @property
    def timeout(self) -> float:
        return self.load.timeout

    @property
    def max_in_flight(self) -> int:
        return self.load.max_in_flight


def encode_config(config: WorkerConfig) -> bytes:
    data = {
        "index": config.index, "workers": config.workers,
        "phases": [asdict(p) for p in config.phases],
        "scenarios": [[{"method": r.method, "url": r.url, "headers": r.headers,
                        "body": None if r.body is None else base64.b64encode(r.body).decode()}
                       for r in requests] for requests in config.scenarios],
        "weights": list(config.weights), "load": asdict(config.load), "target": config.target,
        "payload_order": config.payload_order, "seed": config.seed,
        "gc_freeze": config.gc_freeze,
    }
    return _line(data)


def decode_config(line: bytes | str) -> WorkerConfig:
    data = _object(line, "worker config")
    try:
        return WorkerConfig(
            index=data["index"], workers=data["workers"],
            phases=tuple(Phase(**p) for p in data["phases"]),
            scenarios=tuple(
                tuple(RenderedRequest(r["method"], r["url"], r["headers"],
                                  None if r["body"] is None else base64.b64decode(r["body"]))
                      for r in requests)
                for requests in data["scenarios"]),
            weights=tuple(data["weights"]), load=LoadOptions(**data["load"]),
            target=data["target"], payload_order=data["payload_order"], seed=data["seed"],
            gc_freeze=data["gc_freeze"])
    except KeyError as exc:
        raise ProtocolError(f"worker config: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"worker config: {exc}") from None


# --- commands (controller -> worker) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Elapsed 0 is ``t0`` on ``time.perf_counter`` (one clock on a host) and ``epoch`` UTC.

    ``at``: a replacement worker begins at that elapsed whole second, taking over its share
    of the plan from there (0 for a worker there from the start).
    """

    TYPE: ClassVar[str] = "start"
    t0: float
    epoch: float
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class SetControls:
    """Every live control in force so far; the worker rebuilds its rate from them."""

    TYPE: ClassVar[str] = "controls"
    controls: tuple[Control, ...]


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop sending; requests in flight may finish."""

    TYPE: ClassVar[str] = "stop"


@dataclass(frozen=True, slots=True)
class Kill:
    """Stop sending and cancel every request in flight now."""

    TYPE: ClassVar[str] = "kill"


Command = Start | SetControls | Stop | Kill


# --- messages (worker -> controller) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    TYPE: ClassVar[str] = "ready"
    worker: int
    pid: int


@dataclass(frozen=True, slots=True)
class TickMessage:
    TYPE: ClassVar[str] = "tick"
    worker: int
    tick: Tick


@dataclass(frozen=True, slots=True)
class EventMessage:
    TYPE: ClassVar[str] = "event"
    worker: int
    event: Event


@dataclass(frozen=True, slots=True)
class Done:
    TYPE: ClassVar[str] = "done"
    worker: int
    reason: str  # completed | stopped | killed
    sent: int = 0  # this worker's totals over the run, to check against its ticks
    completed: int = 0
    not_sent: int = 0


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """From the pool, not the worker: a worker ended (or became unreachable) without Done."""

    TYPE: ClassVar[str] = "lost"
    worker: int
    reason: str  # e.g. "exited with code -9"
    detail: str = ""  # the last lines of its stderr, when there are any


Message = Ready | TickMessage | EventMessage | Done | WorkerLost


# --- encoding -----------------------------------------------------------------------------


def _record_fields(record: Tick | Event) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _record(cls: type) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        if not isinstance(value, dict):
            raise ProtocolError(f"{cls.TYPE}: expected an object")  # type: ignore[attr-defined]
        try:
            return record_from_dict({**value, "type": cls.TYPE})  # type: ignore[attr-defined]
        except TypeError as exc:
            raise ProtocolError(f"{cls.TYPE}: {exc}") from None  # type: ignore[attr-defined]

    return decode


def _controls(value: Any) -> tuple[Control, ...]:
    if not isinstance(value, list):
        raise ProtocolError("controls: expected a list")
    try:
        return tuple(Control(**c) for c in value)
    except TypeError as exc:
        raise ProtocolError(f"controls: {exc}") from None


# Fields that are not plain JSON values: how to write them and how to rebuild them.
_NESTED: dict[type, dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]] = {
    TickMessage: {"tick": (_record_fields, _record(Tick))},
    EventMessage: {"event": (_record_fields, _record(Event))},
    SetControls: {"controls": (lambda controls: [asdict(c) for c in controls], _controls)},
}
_SIMPLE = {"int": (int,), "float": (int, float), "str": (str,)}
_COMMANDS: dict[str, type] = {c.TYPE: c for c in (Start, SetControls, Stop, Kill)}
_MESSAGES: dict[str, type] = {
    m.TYPE: m for m in (Ready, TickMessage, EventMessage, Done, WorkerLost)
}


def _encode(item: Command | Message) -> bytes:
    data: dict[str, Any] = {"type": item.TYPE}
    nested = _NESTED.get(type(item), {})
    for f in dataclasses.fields(item):
        value = getattr(item, f.name)
        data[f.name] = nested[f.name][0](value) if f.name in nested else value
    return _line(data)


def _decode(line: bytes | str, kinds: Mapping[str, type], what: str) -> Any:
    data = _object(line, what)
    kind = data.get("type")
    cls = kinds.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ProtocolError(f"{what}: unknown type {kind!r}; expected one of "
                            f"{', '.join(sorted(kinds))}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is not dataclasses.MISSING:
                continue
            raise ProtocolError(f"{what} {kind!r}: missing field {f.name!r}")
        value = data[f.name]
        nested = _NESTED.get(cls, {}).get(f.name)
        if nested is not None:
            value = nested[1](value)
        elif not isinstance(value, _SIMPLE.get(str(f.type), object)) or isinstance(value, bool):
            raise ProtocolError(f"{what} {kind!r}: field {f.name!r} expected {f.type}, "
                                f"got {value!r}")
        values[f.name] = value
    return cls(**values)


def encode_command(command: Command) -> bytes:
    return _encode(command)


def decode_command(line: bytes | str) -> Command:
    return _decode(line, _COMMANDS, "command")  # type: ignore[no-any-return]


def encode_message(message: Message) -> bytes:
    return _encode(message)


def decode_message(line: bytes | str) -> Message:
    return _decode(line, _MESSAGES, "worker message")  # type: ignore[no-any-return]


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def _object(line: bytes | str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{what}: not JSON ({exc}): {_clip(line)}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: expected a JSON object, got {_clip(line)}")
    return data


def _clip(line: bytes | str) -> str:
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.strip()
    return text if len(text) <= 80 else text[:77] + "..."
