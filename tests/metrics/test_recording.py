"""Recordings: round trip, truncation, corruption, versions, redaction."""

from __future__ import annotations

import json

import pytest

from metrics.recording import RecordingError, RecordingWriter, read_recording
from metrics.records import FORMAT_VERSION, Datapoint, Event, Footer, Header, Tick


def header() -> Header:
    return Header(format=FORMAT_VERSION, tool_version="t", started_at="2026-01-01T00:00:00Z",
                  t=1000.0, target="http://127.0.0.1:9")


def write_session(path, secrets=()) -> None:
    with RecordingWriter(path, header(), secrets) as writer:
        writer.write(Tick(second=0, t=1000.0, elapsed=0.0, phase="a", phase_index=0,
                          target_rps=5, sent=5, completed=5, outcomes={"ok": 5}))
        writer.write(Event(t=1000.5, elapsed=0.5, source="target", name="error",
                           message="Unauthorized: bad key s3cr3t-value"))
        writer.write(Datapoint(t=960.0, period=60, namespace="AWS/SageMaker",
                               metric="ModelLatency", stat="Average", value=9.5, unit="ms"))
        writer.close(Footer(t=1001.0, elapsed=1.0, reason="completed"))


def test_round_trip(tmp_path):
    path = tmp_path / "r.jsonl"
    write_session(path)
    recording = read_recording(path)
    assert recording.complete and recording.warnings == []
    assert recording.header.target == "http://127.0.0.1:9"
    assert [type(r).__name__ for r in recording.records] == ["Tick", "Event", "Datapoint"]
    assert recording.records[0].outcomes == {"ok": 5}
    assert recording.footer.reason == "completed"


def test_secrets_never_reach_the_file(tmp_path):
    path = tmp_path / "r.jsonl"
    write_session(path, secrets={"s3cr3t-value"})
    text = path.read_text()
    assert "s3cr3t-value" not in text
    assert "Unauthorized: bad key <redacted>" in text


@pytest.mark.parametrize("secret", ["1000", "type", "tick", "5,3.", "ok\":"])
def test_a_secret_that_is_a_number_or_a_key_leaves_valid_json(tmp_path, secret):
    """Issue 12 item 1: text substitution on the line broke the JSON (and the run said ok)."""
    path = tmp_path / "r.jsonl"
    write_session(path, secrets={secret})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["header", "tick", "event", "metric", "footer"]
    assert lines[0]["t"] == 1000.0 and lines[1]["outcomes"] == {"ok": 5}
    recording = read_recording(path)
    assert recording.complete and recording.warnings == []


@pytest.mark.parametrize(("damage", "warning"), [
    (b'{"type":"tick","second":1,"x":"\xff"}', "corrupt line skipped: not UTF-8 text (byte 32)"),
    (b'{"type":"tick","second":"one","t":1,"elapsed":1,"phase":null,"phase_index":0,'
     b'"target_rps":1}', "corrupt line skipped: tick.second: expected a whole number, got text"),
    (b'{"type":"metric","t":1,"period":60,"namespace":"n","metric":"m","stat":"s",'
     b'"value":NaN}', "corrupt line skipped: not JSON (NaN is not a number JSON allows)"),
    (b'{"type":"event","t":1,"elapsed":1,"source":"s","name":"n","data":' + b"[" * 5000
     + b"]" * 5000 + b"}", "corrupt line skipped: nested too deep"),
    (b'{"type":"footer","t":1,"elapsed":1,"reason":"completed","ensure":[{"name":"p99"}]}',
     "corrupt line skipped: footer.ensure[0]: field 'limit' is missing"),
])
def test_a_bad_line_anywhere_costs_that_line_and_names_it(tmp_path, damage, warning):
    path = tmp_path / "r.jsonl"
    write_session(path)
    lines = path.read_bytes().split(b"\n")
    lines.insert(2, damage)
    path.write_bytes(b"\n".join(lines))
    recording = read_recording(path)
    assert recording.warnings == [f"{path}:3: {warning}"]
    assert [type(r).__name__ for r in recording.records] == ["Tick", "Event", "Datapoint"]
    assert recording.complete


def test_a_truncated_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "r.jsonl"
    write_session(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    recording = read_recording(path)
    assert len(recording.records) == 3
    assert not recording.complete
    assert any("last line is truncated" in w for w in recording.warnings)
    assert any("no footer" in w for w in recording.warnings)


def test_a_corrupt_middle_line_is_skipped_and_named(tmp_path):
    path = tmp_path / "r.jsonl"
    write_session(path)
    lines = path.read_text().splitlines()
    lines[2] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    recording = read_recording(path)
    assert len(recording.records) == 2
    assert recording.warnings == [f"{path}:3: corrupt line skipped: not JSON (Expecting "
                                  "property name enclosed in double quotes)"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("hello\n", "line 1 is not JSON"),
        ('{"type": "tick"}\n', "line 1 is not a loadwatch header"),
        (json.dumps({"type": "header", "format": FORMAT_VERSION + 1}) + "\n",
         f"recording format {FORMAT_VERSION + 1} is newer than this loadwatch reads"),
    ],
)
def test_files_that_are_not_readable_recordings(tmp_path, content, message):
    path = tmp_path / "r.jsonl"
    path.write_text(content)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)


def test_unknown_fields_from_a_newer_minor_writer_are_ignored(tmp_path):
    path = tmp_path / "r.jsonl"
    write_session(path)
    lines = path.read_text().splitlines()
    data = json.loads(lines[1])
    data["future_field"] = 1
    lines[1] = json.dumps(data)
    path.write_text("\n".join(lines) + "\n")
    assert read_recording(path).records[0].sent == 5
