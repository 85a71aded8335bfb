"""A twin whose capacity comes in fast and slow stretches: served, fitted back, saved and read.

The recordings are virtual sessions of a server with known stretches (no real server needed):
a queue that never turns anyone away, as nginx -> gunicorn's, offered more than either speed
serves so the queue stands and each second's completions are that second's capacity.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from metrics.recording import read_recording
from tests.twin.sessions import instance, write_session
from twin.fit import fit
from twin.model import Stretches, Twin, TwinError, load_twin, save_twin
from twin.virtual import VirtualRun, constant_traffic

DEEP = instance(service_time_ms=20.0, queue_bound=100_000)  # 100 req/s
KNOWN = Stretches(fast_rps=100.0, slow_rps=60.0, fast_s=6.0, slow_s=4.0)  # mean 84 req/s


def _recording(twin: Twin, tmp_path: Path, name: str, seed: int = 3) -> Path:
    return write_session(twin, [("low", 20, 12), ("over", 130, 120)],
                         tmp_path / f"{name}.jsonl", seed=seed, timeout_s=300.0)


def test_the_fit_recovers_known_stretches(tmp_path: Path) -> None:
    fitted = fit([read_recording(_recording(replace(DEEP, stretches=KNOWN), tmp_path, "s"))])
    st = fitted.stretches
    assert st is not None
    assert st.fast_rps == pytest.approx(KNOWN.fast_rps, rel=0.08)
    assert st.slow_rps == pytest.approx(KNOWN.slow_rps, rel=0.08)
    # Stretches cut by the run's end count as whole, and two stretches of one kind a second
    # apart can merge: the lengths are known roughly.
    assert KNOWN.fast_s / 2 <= st.fast_s <= KNOWN.fast_s * 1.6
    assert KNOWN.slow_s / 2 <= st.slow_s <= KNOWN.slow_s * 1.6
    assert "standing queue" in fitted.sources["slow_capacity_rps"]["how"]
    assert fitted.sources["fast_stretch_s"]["seconds"]


def test_one_capacity_fits_no_stretches_and_says_why(tmp_path: Path) -> None:
    fitted = fit([read_recording(_recording(DEEP, tmp_path, "one"))])
    assert fitted.stretches is None
    assert fitted.capacity_rps == pytest.approx(100.0, rel=0.05)
    assert any(note.startswith("one capacity:") for note in fitted.notes)


def test_slow_stretches_queue_where_one_capacity_does_not() -> None:
    """At 90 % of the mean capacity a server of one capacity never queues; one with slow
    stretches under that rate queues in each of them: the p99 the real server showed."""
    rate = 0.9 * KNOWN.mean_rps
    one = VirtualRun(replace(DEEP, capacity_rps=KNOWN.mean_rps), constant_traffic(rate, 300),
                     seed=1).run()
    two = VirtualRun(replace(DEEP, stretches=KNOWN), constant_traffic(rate, 300), seed=1).run()
    assert one.percentile_ms(99) < 50
    assert two.percentile_ms(99) > 20 * one.percentile_ms(99)
    # Every request is still served: the fast stretches catch up.
    assert two.ok.sum() == two.sent.sum()


def test_same_seed_same_stretches() -> None:
    twin = replace(DEEP, stretches=KNOWN)
    runs = [VirtualRun(twin, constant_traffic(80, 120), seed=7).run() for _ in range(2)]
    assert np.array_equal(runs[0].p99_ms, runs[1].p99_ms, equal_nan=True)
    other = VirtualRun(twin, constant_traffic(80, 120), seed=8).run()
    assert not np.array_equal(runs[0].p99_ms, other.p99_ms, equal_nan=True)


def test_stretches_round_trip_and_come_all_or_none(tmp_path: Path) -> None:
    path = tmp_path / "twin.yml"
    save_twin(replace(DEEP, stretches=KNOWN), path)
    assert load_twin(path).stretches == KNOWN
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.startswith("  slow_stretch_s:"))
    path.write_text(text)
    with pytest.raises(TwinError, match=r"fields\.slow_stretch_s: missing"):
        load_twin(path)


def test_a_live_sandbox_says_it_serves_one_capacity() -> None:
    assert DEEP.live_caveat is None
    caveat = replace(DEEP, stretches=KNOWN).live_caveat
    assert caveat is not None and "100 req/s" in caveat and "60 req/s" in caveat
