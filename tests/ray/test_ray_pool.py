"""The Ray pool against a real local Ray cluster (tests/ray/conftest.py) and a real aiohttp
server: the same figures as local processes, workers on distinct nodes, live control and kill
reaching every node, a node lost mid-run, a recording that replays."""

from __future__ import annotations

import asyncio
import math
import re

import pytest

from driver.pool import RayPool
from driver.profile import load_profile
from driver.session import Session
from metrics.recording import read_recording
from metrics.records import Event, Tick
from tests.driver.session.test_session import collect, profile_text

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'",
                          exc_type=ImportError)

# One worker for the module: one Ray cluster (10-25 s to start), and never two at once.
pytestmark = pytest.mark.xdist_group("ray")

RATE = 40


def node_ids(cluster) -> dict[str, str]:
    return {name: node.node_id for name, node in cluster.nodes_by_name.items()}


def events(records: list, name: str) -> list[Event]:
    return [r for r in records if isinstance(r, Event) and r.name == name]


def in_schedule(records: list) -> list[Tick]:
    return [r for r in records if isinstance(r, Tick) and r.in_schedule]


async def run(path, pool=None, steer=None, **kw) -> tuple[object, list]:
    session = Session(load_profile(path), workers=2, pool=pool, **kw)
    records = collect(session)
    task = asyncio.create_task(session.run())
    if steer is not None:
        steering = asyncio.create_task(steer(session, records))
        await asyncio.wait({task, steering}, return_when=asyncio.FIRST_COMPLETED)
        if steering.done():
            steering.result()
        else:  # the run ended first: say how
            steering.cancel()
            raise AssertionError([(r.name, r.message) for r in records
                                  if isinstance(r, Event)])
    return await task, records


async def test_ray_gives_the_local_figures_from_distinct_nodes(ray_cluster, target_server,
                                                                write_profile, tmp_path):
    path = write_profile(profile_text(target_server.url,
                                      f"    - {{duration: 3, arrivalRate: {RATE}}}"))
    local, local_records = await run(path)
    served_locally = target_server.requests
    result, records = await run(path, RayPool(strategy="STRICT_SPREAD"),
                                record=tmp_path / "ray.jsonl")
    assert result.exit_code == 0 and result.reason == "completed"
    assert target_server.requests - served_locally == RATE * 3 == served_locally
    assert result.summary["total"]["requests"] == local.summary["total"]["requests"]
    assert [t.target_rps for t in in_schedule(records)] == [
        t.target_rps for t in in_schedule(local_records)]
    for ray_tick, local_tick in zip(in_schedule(records), in_schedule(local_records),
                                    strict=True):
        assert abs(ray_tick.sent - local_tick.sent) <= 2  # a send at a second's edge
    assert not events(records, "totals_mismatch")
    # Each Ray worker measured its own CPU on its node, and it reached the merged ticks.
    assert any(set(t.cpu) == {"0", "1"} for t in in_schedule(records))
    assert set(result.summary["client"]["cpu_max"]) == {"0", "1"}

    replay = read_recording(tmp_path / "ray.jsonl")  # the recording replays
    assert replay.complete and replay.footer.reason == "completed"
    source = replay.header.meta["load_source"]
    assert source["kind"] == "ray"
    placed = {n["node_id"]: n["workers"] for n in source["nodes"]}
    assert set(placed) == set(node_ids(ray_cluster).values())  # both worker nodes, not head
    assert sorted(w for ws in placed.values() for w in ws) == [0, 1]
    assert all(len(ws) == 1 for ws in placed.values())
    assert all(abs(n["offset_ms"]) < 10 and n["rtt_ms"] > 0 for n in source["nodes"])
    assert "load from Ray cluster" in events(records, "load_source")[0].message


async def test_the_command_line_runs_on_the_cluster_and_says_so(ray_cluster, target_server,
                                                                  write_profile, tmp_path):
    from tests.driver.session.test_session import loadwatch

    path = write_profile(profile_text(target_server.url, "    - {duration: 2, arrivalRate: 20}",
                                      "  ensure: {maxErrorRate: 1}"))
    code, out, err = await loadwatch("run", str(path), "--ray", ray_cluster.address,
                                     "--ray-avoid-head", "--workers", "2", "--headless",
                                     "--record", str(tmp_path / "cli.jsonl"))
    assert code == 0, err
    assert f"load from Ray cluster {ray_cluster.address}: 2 node(s)" in out
    assert target_server.requests == 40
    assert read_recording(tmp_path / "cli.jsonl").footer.summary["total"]["requests"] == 40


async def test_a_node_whose_clock_is_off_is_refused_by_name(ray_cluster, target_server,
                                                            write_profile):
    # On one host the offsets are a few µs: a threshold of a nanosecond makes them "too far".
    path = write_profile(profile_text(target_server.url, "    - {duration: 2, arrivalRate: 5}",
                                      "load: {lateMs: 0.000001}"))
    result, _records = await run(path, RayPool())
    assert result.exit_code == 2 and target_server.requests == 0
    assert re.search(r"node \S+ \([0-9a-f]{8}\): its clock is [+-]\d+\.\d ms off the "
                     r"controller's, more than the late-send threshold", result.error or ""), (
        result.error)


async def test_a_rate_change_and_a_kill_reach_every_node(ray_cluster, target_server,
                                                         write_profile, tmp_path):
    path = write_profile(profile_text(target_server.url,
                                      f"    - {{duration: 20, arrivalRate: {RATE}}}"))
    marks: dict[str, float] = {}

    async def steer(session, records) -> None:
        async with asyncio.timeout(60):
            while not any(isinstance(r, Tick) for r in records):
                await asyncio.sleep(0.05)
            session.set_rate(2 * RATE)
            marks["rate"] = session.elapsed()
            while not any(isinstance(r, Tick) and r.second >= math.ceil(marks["rate"]) + 1
                          for r in records):
                await asyncio.sleep(0.05)
            marks["kill"] = session.elapsed()
            session.kill()

    result, _records = await run(path, RayPool(), steer, record=tmp_path / "k.jsonl")
    assert result.reason == "killed"
    ticks = {t.second: t for t in read_recording(tmp_path / "k.jsonl").records
             if isinstance(t, Tick)}
    # The first whole second after the change: both workers send their half of the new rate.
    after = ticks[math.ceil(marks["rate"])]
    assert after.target_rps == 2 * RATE and abs(after.sent - 2 * RATE) <= 2
    # From one second after the kill, nothing is sent on any node.
    assert all(t.sent == 0 for s, t in ticks.items() if s >= math.ceil(marks["kill"] + 1))
    assert result.summary["total"]["requests"] < 20 * RATE


async def test_a_node_lost_mid_run_is_replaced_and_every_request_counted_once(
        ray_cluster, target_server, write_profile, tmp_path):
    spare = ray_cluster.add_node(num_cpus=1, resources={"spare": 1})
    ray_cluster.wait_for_nodes()
    nodes = {n.node_id: (name, n) for name, n in
             [*ray_cluster.nodes_by_name.items(), ("spare", spare)]}
    path = write_profile(profile_text(target_server.url,
                                      f"    - {{duration: 8, arrivalRate: {RATE}}}"))
    pool = RayPool(strategy="STRICT_SPREAD")
    removed: list[str] = []

    async def steer(session, records) -> None:
        async with asyncio.timeout(60):
            while not any(isinstance(r, Tick) and r.second >= 1 for r in records):
                await asyncio.sleep(0.05)
        host = next(n for n in pool.nodes.values() if 1 in n.workers)  # worker 1's node
        name, node = nodes[host.node_id]
        removed.append(name)
        await asyncio.to_thread(ray_cluster.remove_node, node)

    result, records = await run(path, pool, steer, record=tmp_path / "lost.jsonl")
    ray_cluster.nodes_by_name = {name: node for name, node in nodes.values()
                                 if name not in removed}
    lost = events(records, "worker_lost")
    assert len(lost) == 1 and lost[0].data["worker"] == 1, [e.message for e in lost]
    assert "node" in lost[0].message
    assert events(records, "worker_replaced"), [e.message for e in events(records, "incomplete")]
    assert result.reason == "completed"
    ticks = in_schedule(records)
    assert [round(t.target_rps) for t in ticks] == [RATE] * 8  # never halved
    every = [r for r in records if isinstance(r, Tick)]
    per_worker = events(records, "worker_totals")[0].data["workers"]
    assert sum(w["sent"] for w in per_worker) == sum(t.sent for t in every)
    assert sum(t.sent + t.not_sent for t in every) == RATE * 8
    assert not events(records, "totals_mismatch")
    assert read_recording(tmp_path / "lost.jsonl").complete
