"""Property tests of the recording reader and everything that reads what it returns.

Recordings are damaged at random: bytes flipped, cut anywhere, lines replaced by JSON of the
wrong shape, NaN and infinities, nesting thousands deep. The reader must never raise anything
but RecordingError (and that only for a first line that is not a header), must keep every
line that was not touched, and replay, report, compare and export must accept whatever it
returns without a traceback and with a truthful exit code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics.recording import RecordingError, read_recording
from metrics.records import to_dict
from tests.reliability.counts import counted
from tui.commands.cli import main
from tui.monitor.app import rehearse_replay

# The property tests share one worker, so that LOADWATCH_CASE_COUNTS gets all their counts
# from one process (tests/reliability/counts.py).
pytestmark = pytest.mark.xdist_group("case-counts")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# A small run with ticks and events, and a sandbox run with metrics, endpoint states and
# scaling activities (its first 60 lines, to keep each example quick), and a streaming LLM run
# (its ticks carry tokens, TTFT and goodput that report and compare read).
SOURCES = {
    "http": (FIXTURES / "http-1x.jsonl").read_bytes(),
    "sandbox": b"".join((FIXTURES / "sandbox-before.jsonl").read_bytes()
                        .splitlines(keepends=True)[:60]),
    "llm": b"".join((FIXTURES / "sandbox-llm-light.jsonl").read_bytes()
                    .splitlines(keepends=True)[:40]),
}
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12)


def read_or_refuse(path: Path):  # type: ignore[no-untyped-def]
    """The recording, or None if the reader refused the file (line 1 damaged)."""
    try:
        return read_recording(path)
    except RecordingError as exc:
        assert str(exc).startswith(str(path)), exc  # one line naming the file
        return None


def kept_in_order(expected: list[dict], got: list[dict]) -> bool:
    position = 0
    for item in got:
        if position < len(expected) and item == expected[position]:
            position += 1
    return position == len(expected)


def untouched_records(original: bytes, damaged: bytes, path: Path) -> list[dict]:
    """The records of the original's lines (after line 1) that survive whole in ``damaged``."""
    source = path.parent / "original.jsonl"
    source.write_bytes(original)
    by_line = dict(zip(original.split(b"\n")[1:], [to_dict(r) for r in (
        lambda rec: [*rec.records, *([rec.footer] if rec.footer else [])])(
        read_recording(source))], strict=False))
    lines = damaged.split(b"\n")
    whole = lines[1:-1]  # the last piece has no newline: it may be a cut line
    return [by_line[line] for line in whole if line in by_line]


@SETTINGS
@given(source=st.sampled_from(sorted(SOURCES)), data=st.data())
def test_random_bytes_and_cuts_cost_only_the_lines_they_touch(source, data, tmp_path):
    original = SOURCES[source]
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(0, 6), label="flips")):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans(), label="cut"):
        damaged = damaged[:data.draw(st.integers(0, len(damaged)))]
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(bytes(damaged))
    counted("reader: random bytes and cuts")
    recording = read_or_refuse(path)
    if recording is None:
        return
    got = [to_dict(r) for r in [*recording.records,
                                *([recording.footer] if recording.footer else [])]]
    assert kept_in_order(untouched_records(original, bytes(damaged), tmp_path), got)


@st.composite
def hostile_line(draw: st.DrawFn, record: dict) -> bytes:
    kind = draw(st.sampled_from(["field", "nested", "nan", "deep", "drop", "not_object"]))
    changed = json.loads(json.dumps(record))
    if kind == "nested":
        # Inside the free-form parts (a header's meta and profile, a footer's summary, an
        # event's data): what the type check cannot see, the readers must survive.
        node: Any = changed
        while True:
            keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
            keys = [k for k in keys if k != "type"]
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(node[key], dict | list) and node[key] and draw(st.booleans()):
                node = node[key]
                continue
            node[key] = draw(json_values)
            break
        return json.dumps(changed).encode()
    if kind == "field":
        changed[draw(st.sampled_from(sorted(changed)))] = draw(json_values)
        return json.dumps(changed).encode()
    if kind == "nan":
        number_fields = [k for k, v in changed.items() if isinstance(v, int | float)
                         and not isinstance(v, bool)]
        if number_fields:
            changed[draw(st.sampled_from(number_fields))] = draw(
                st.sampled_from([math.nan, math.inf, -math.inf]))
        return json.dumps(changed).encode()
    if kind == "deep":
        depth = draw(st.integers(30, 20_000))
        field = draw(st.sampled_from(sorted(changed)))
        head, _, tail = json.dumps({**changed, field: "@@"}).partition('"@@"')
        return (head + "[" * depth + "]" * depth + tail).encode()
    if kind == "drop":
        changed.pop(draw(st.sampled_from(sorted(k for k in changed if k != "type"))), None)
        return json.dumps(changed).encode()
    return json.dumps(draw(json_values)).encode()


@settings(SETTINGS, max_examples=40)
@given(source=st.sampled_from(sorted(SOURCES)), data=st.data())
def test_wrong_types_nan_and_nesting_are_skipped_with_a_warning(source, data, tmp_path,
                                                                capsys):
    lines = SOURCES[source].rstrip(b"\n").split(b"\n")
    chosen = data.draw(st.sets(st.integers(1, len(lines) - 1), min_size=1, max_size=4),
                       label="lines")
    for index in chosen:
        lines[index] = data.draw(hostile_line(json.loads(lines[index])))
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    counted("reader: wrong types, NaN, nesting")
    recording = read_recording(path)
    assert len(recording.records) + (recording.footer is not None) >= len(lines) - 1 - len(
        chosen)
    for warning in recording.warnings:
        assert warning.startswith(f"{path}:"), warning
    every_reader_copes(path, tmp_path, capsys)


def every_reader_copes(path: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """replay (up to the app), report, compare and export: exit 0, or 2 with one line saying
    why; never an exception."""
    recording = read_recording(path)
    try:
        rehearse_replay(recording)
    except Exception:
        assert main(["replay", str(path)]) == 2
    for command in (["export", "--csv", "-o", str(folder / "csv"), str(path)],
                    ["compare", "--markdown", str(path), str(path)],
                    ["report", str(path), "-o", str(folder / "report.html")]):
        capsys.readouterr()
        code = main(command)
        err = capsys.readouterr().err
        assert code in (0, 2), command
        assert "Traceback" not in err
        if code == 2:
            assert err.count("\n") == 1 + err.count("warning:"), err
        counted(f"readers: {command[0]} exit {code}")


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_clean_recording_reads_back_whole(source, tmp_path):
    path = tmp_path / "clean.jsonl"
    path.write_bytes(SOURCES[source])
    recording = read_recording(path)
    assert recording.warnings in ([], [f"{path}: no footer: the run did not finish cleanly "
                                       "(killed or crashed); figures cover what was recorded"])
    assert len(recording.records) + (recording.footer is not None) == \
        SOURCES[source].count(b"\n") - 1
