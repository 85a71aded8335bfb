"""Load workers on a Ray cluster: one ``WorkerHost`` actor per worker, spread over the nodes.

``RayPool.connect()`` reaches the cluster (``RayUnavailable``, one line, when Ray is not
installed or the cluster cannot be reached). ``start`` reserves one bundle per worker in a
placement group (``SPREAD`` by default, ``STRICT_SPREAD`` for one worker per node; with
``avoid_head`` no bundle goes on the head node), puts a ``WorkerHost`` actor in each, probes
each node's clocks against the controller and refuses to start when a node's UTC clock is off by
more than the late-send threshold, then starts the workers. Each worker runs on its node exactly
as locally (``python -m driver.load.process``, its own event loop).

Clocks: ``time.perf_counter`` is per host, so the start time handed to a worker on another node
is translated through that node's probed monotonic offset (NTP-style: controller t0, node t1,
controller t3; offset = t1 − (t0 + t3)/2, best of a few rounds by round trip).

Messages come back by long poll (``WorkerHost.read``) and join the pool's stream; commands are
sent to every actor at once (no waiting). A node that is lost surfaces as ``WorkerLost`` naming
the node; the replacement goes in the same bundle, which Ray moves to a live node if one has
room. Ticks from a slow node may be late: ``tick_deadline`` lets the session merge without them
(they are counted once, later; see ``driver.pool.merger``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from driver.pool.base import PoolStartError, WorkerPool
from driver.pool.local import PROJECT_ROOT
from driver.pool.protocol import Command, Kill, Start, WorkerConfig, WorkerLost

STRATEGIES = ("SPREAD", "STRICT_SPREAD", "PACK")
PLACE_TIMEOUT_S = 30.0  # for the placement group and each actor to come up
POLL_S = 0.5  # a read returns at once when messages are there; at most this long otherwise
PROBE_ROUNDS = 5
# The offset is known to within half the best round trip: on a busy controller every one of five
# rounds can take 20 ms and a true offset of 0 reads as 10 ms, so probe on (up to a bound) until
# one round is quick enough to tell.
PROBE_MAX_ROUNDS = 40
PROBE_GOOD_RTT_S = 0.002
CONNECT_TIMEOUT_S = 3.0


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached; the message says which."""


@dataclass
class NodeClock:
    node_id: str
    ip: str
    host: str
    offset_ms: float  # node UTC minus controller UTC
    mono_offset_s: float  # node perf_counter minus controller perf_counter, same instant
    rtt_ms: float
    workers: list[int]

    def summary(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "ip": self.ip, "host": self.host,
                "workers": self.workers, "offset_ms": round(self.offset_ms, 3),
                "rtt_ms": round(self.rtt_ms, 3)}


@dataclass
class _Slot:
    index: int
    actor: Any
    node: NodeClock
    relay: asyncio.Task[None] | None = None
    ended: bool = False


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed: pip install 'loadwatch[ray]'") from None
    return ray


class RayPool(WorkerPool):
    tick_deadline = 2.0

    def __init__(self, address: str = "auto", *, strategy: str = "SPREAD",
                 avoid_head: bool = False, cpus: float = 1.0, max_replacements: int = 3,
                 place_timeout: float = PLACE_TIMEOUT_S) -> None:
        super().__init__()
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
        self.address = address
        self.strategy = strategy
        self.avoid_head = avoid_head
        self.cpus = cpus
        self.max_replacements = max_replacements
        self.place_timeout = place_timeout
        self.nodes: dict[str, NodeClock] = {}
        self._slots: list[_Slot] = []
        self._pg: Any = None
        self._host_class: Any = None
        self._kill_sent = False

    # --- connecting -------------------------------------------------------------------

    def connect(self) -> None:
        """Reach the cluster now (blocking, before any load); RayUnavailable if not."""
        ray = _ray()
        if ray.is_initialized():
            return
        self._check_reachable()
        try:
            ray.init(address=self.address, logging_level="ERROR", log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RayUnavailable(f"cannot reach the Ray cluster at {self.address}: "
                                 f"{first}") from None

    def _check_reachable(self) -> None:
        """A host:port that does not answer fails here in seconds (ray.init retries for
        minutes, printing as it goes)."""
        if self.address in ("auto", "local", ""):
            return
        host, _, port = self.address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise RayUnavailable(f"--ray {self.address}: expected HOST:PORT (or auto)")
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise RayUnavailable(f"cannot reach the Ray cluster at {self.address}: "
                                 f"{exc.strerror or exc}") from None

    def _head_node_id(self) -> str | None:
        ray = _ray()
        for node in ray.nodes():
            if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}):
                return str(node["NodeID"])
        return None

    # --- starting ---------------------------------------------------------------------

    async def start(self, configs: Sequence[WorkerConfig]) -> None:
        self.connect()
        ray = _ray()
        from ray.util.placement_group import placement_group

        self._host_class = ray.remote(num_cpus=self.cpus)(_host_class())
        selector = None
        head = self._head_node_id() if self.avoid_head else None
        if head is not None:
            selector = [{"ray.io/node-id": f"!{head}"}] * len(configs)
        self._pg = placement_group([{"CPU": self.cpus}] * len(configs),
                                   strategy=self.strategy, bundle_label_selector=selector)
        try:
            try:
                await asyncio.wait_for(_awaitable(self._pg.ready()), self.place_timeout)
            except TimeoutError:
                raise PoolStartError(
                    f"the Ray cluster cannot place {len(configs)} worker(s) of {self.cpus:g} "
                    f"CPU ({self.strategy}{', off the head node' if head else ''}) within "
                    f"{self.place_timeout:g} s: add nodes or use fewer workers") from None
            slots = await asyncio.gather(*(self._place(c) for c in configs))
            self._slots.extend(slots)
            self._check_clocks(configs[0].load.late_ms if configs else 10.0)
            await asyncio.gather(*(self._start_slot(s, c) for s, c in zip(slots, configs,
                                                                          strict=True)))
        except BaseException:
            await self.terminate()
            raise

    async def _place(self, config: WorkerConfig) -> _Slot:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        actor = self._host_class.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
            self._pg, placement_group_bundle_index=config.index)).remote()
        try:
            info = await asyncio.wait_for(_awaitable(actor.node.remote()), self.place_timeout)
        except TimeoutError:
            raise PoolStartError(f"worker {config.index}: no Ray node took it within "
                                 f"{self.place_timeout:g} s") from None
        node = self.nodes.get(info["node_id"])
        if node is None:
            node = await self._probe(actor, info)
            self.nodes[node.node_id] = node
        node.workers.append(config.index)
        return _Slot(config.index, actor, node)

    async def _probe(self, actor: Any, info: dict[str, Any]) -> NodeClock:
        best: tuple[float, float, float] | None = None
        for round_ in range(PROBE_MAX_ROUNDS):
            if round_ >= PROBE_ROUNDS and best is not None and best[0] <= PROBE_GOOD_RTT_S:
                break
            wall0, mono0 = time.time(), time.perf_counter()
            node_wall, node_mono = await _awaitable(actor.clock.remote())
            wall3, mono3 = time.time(), time.perf_counter()
            rtt = mono3 - mono0
            if best is None or rtt < best[0]:
                best = (rtt, node_wall - (wall0 + wall3) / 2, node_mono - (mono0 + mono3) / 2)
        assert best is not None
        return NodeClock(str(info["node_id"]), str(info["ip"]), str(info["host"]),
                         best[1] * 1000, best[2], best[0] * 1000, [])

    def _check_clocks(self, late_ms: float) -> None:
        for node in self.nodes.values():
            if abs(node.offset_ms) > late_ms:
                raise PoolStartError(
                    f"node {node.ip} ({node.node_id[:8]}): its clock is {node.offset_ms:+.1f} "
                    f"ms off the controller's, more than the late-send threshold "
                    f"({late_ms:g} ms): sync its clock (chrony) and retry")

    async def _start_slot(self, slot: _Slot, config: WorkerConfig) -> None:
        try:
            await _awaitable(slot.actor.start.remote(config))
        except Exception as exc:
            raise PoolStartError(f"worker {config.index} on {slot.node.ip} failed to start: "
                                 f"{_reason(exc)}") from None
        self._open += 1
        slot.relay = asyncio.create_task(self._relay(slot))

    async def _start_replacement(self, config: WorkerConfig) -> None:
        slot = await self._place(config)
        self._slots.append(slot)
        try:
            await _awaitable(slot.actor.start.remote(config))
        except Exception as exc:
            slot.ended = True
            raise PoolStartError(f"worker {config.index} on {slot.node.ip}: "
                                 f"{_reason(exc)}") from None
        slot.relay = asyncio.create_task(self._relay(slot))

    # --- running ----------------------------------------------------------------------

    async def _relay(self, slot: _Slot) -> None:
        ray = _ray()
        try:
            while True:
                try:
                    batch = await _awaitable(slot.actor.read.remote(POLL_S))
                except ray.exceptions.RayError as exc:
                    if not slot.ended:
                        self._queue.put_nowait(WorkerLost(
                            slot.index, f"lost with its node {slot.node.ip} "
                                        f"({slot.node.node_id[:8]}): {_reason(exc)}"))
                    return
                if batch is None:
                    return
                for message in batch:
                    self._queue.put_nowait(message)
        finally:
            slot.ended = True
            self._queue.put_nowait(None)

    def send(self, command: Command, index: int | None = None) -> None:
        for slot in self._slots:
            if slot.ended or (index is not None and slot.index != index):
                continue
            to_send = command
            if isinstance(command, Start):  # elapsed 0 on this node's monotonic clock
                to_send = replace(command, t0=command.t0 + slot.node.mono_offset_s)
            slot.actor.send.remote(to_send)

    def kill(self) -> None:
        self.send(Kill())
        if not self._kill_sent:  # each host ends its worker after KILL_DEADLINE_S itself
            self._kill_sent = True
            for slot in self._slots:
                if not slot.ended:
                    slot.actor.kill.remote()

    async def terminate(self) -> None:
        ray = _ray()
        live = [s for s in self._slots if not s.ended]
        if live:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(
                    *(_awaitable(s.actor.terminate.remote()) for s in live),
                    return_exceptions=True), 3.0)
        for slot in self._slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.actor)
        relays = [s.relay for s in self._slots if s.relay is not None]
        if relays:
            await asyncio.wait(relays, timeout=3.0)
        if self._pg is not None:
            from ray.util.placement_group import remove_placement_group

            with contextlib.suppress(Exception):
                remove_placement_group(self._pg)
            self._pg = None

    def where(self, index: int) -> str | None:
        for slot in reversed(self._slots):
            if slot.index == index:
                return f"node {slot.node.ip} ({slot.node.node_id[:8]})"
        return None

    def describe(self) -> dict[str, object]:
        return {"kind": "ray", "address": self.address, "strategy": self.strategy,
                "avoid_head": self.avoid_head,
                "nodes": [n.summary() for n in self.nodes.values()]}


def _host_class() -> type:
    from driver.pool.ray_host import WorkerHost

    return WorkerHost


def _awaitable(ref: Any) -> Any:
    """A Ray ObjectRef as an asyncio future (ObjectRefs are awaitable in an event loop)."""
    return asyncio.ensure_future(_await(ref))


async def _await(ref: Any) -> Any:
    return await ref


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
