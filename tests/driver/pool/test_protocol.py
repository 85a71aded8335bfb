"""The controller-worker protocol: every type survives its codec; a bad line says why."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.pool.protocol import (
    Done,
    EventMessage,
    Kill,
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
    decode_message,
    encode_command,
    encode_config,
    encode_message,
)
from driver.profile import LoadOptions, RenderedRequest
from driver.schedule import Control, Phase
from metrics import hdr
from metrics.records import Event, Tick

floats = st.floats(allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=2**40)
names = st.text(max_size=12)
count_maps = st.dictionaries(names, counts, max_size=4)


def histogram(values: list[int]) -> str:
    h = hdr.new_histogram()
    for v in values:
        h.record_value(v)
    return hdr.encode(h)


ticks = st.builds(
    Tick, second=st.integers(0, 10**6), t=floats, elapsed=floats,
    phase=st.none() | names, phase_index=st.integers(0, 50), target_rps=floats,
    sent=counts, completed=counts, outcomes=count_maps, status=count_maps, errors=count_maps,
    late=counts, not_sent=counts, in_flight=counts, out_of_range=counts,
    in_schedule=st.booleans(),
    latency=st.lists(st.integers(1, 10**7), max_size=5).map(histogram),
    service=st.just(""), lag=st.just(""), workers=st.integers(1, 64))
events = st.builds(Event, t=floats, elapsed=floats, source=names, name=names, message=st.text(),
                   data=st.dictionaries(names, st.integers() | st.text() | st.booleans(),
                                        max_size=3))
controls = st.builds(Control, at=floats, mode=st.sampled_from(["schedule", "absolute", "factor"]),
                     value=floats, paused=st.booleans())
workers = st.integers(0, 1000)
commands = st.one_of(
    st.builds(Start, t0=floats, epoch=floats),
    st.builds(SetControls, controls=st.lists(controls, max_size=4).map(tuple)),
    st.just(Stop()), st.just(Kill()))
messages = st.one_of(
    st.builds(Ready, worker=workers, pid=st.integers(1, 2**22)),
    st.builds(TickMessage, worker=workers, tick=ticks),
    st.builds(EventMessage, worker=workers, event=events),
    st.builds(Done, worker=workers, reason=st.sampled_from(["completed", "stopped", "killed"])),
    st.builds(WorkerLost, worker=workers, reason=names, detail=st.text()))


@given(commands)
def test_every_command_survives_encoding(command):
    line = encode_command(command)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_command(line) == command


@given(messages)
def test_every_message_survives_encoding(message):
    line = encode_message(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_message(line) == message


def test_each_type_round_trips_once_by_name():
    """One example of every type, so a failure names the type plainly."""
    tick = Tick(second=3, t=1.5, elapsed=3.0, phase="ramp", phase_index=1, target_rps=10.0,
                sent=9, completed=8, outcomes={"ok": 8}, status={"200": 8},
                latency=histogram([1200, 5000]))
    event = Event(1.0, 2.0, "target", "error", "Boom", {"code": "Boom", "first": True})
    for command in (Start(12.5, 1_700_000_000.25), SetControls((Control(1.0, "absolute", 5.0),)),
                    SetControls(()), Stop(), Kill()):
        assert decode_command(encode_command(command)) == command
    for message in (Ready(0, 4242), TickMessage(1, tick), EventMessage(2, event),
                    Done(3, "killed"), WorkerLost(4, "exited with code -9", "Traceback...")):
        assert decode_message(encode_message(message)) == message


def test_the_worker_config_round_trips_with_its_load_options():
    config = WorkerConfig(
        index=1, workers=2, phases=(Phase("warm", 5.0, 1.0, 10.0), Phase("rest", 2, 0, 0, True)),
        scenarios=((RenderedRequest("POST", "http://127.0.0.1/x", {"a": "b"}, b"\x00\xffbody"),
                    RenderedRequest("GET", "http://127.0.0.1/y", {}, None)),),
        weights=(1.0,), load=LoadOptions(workers=2, arrivals="poisson", timeout=2.5,
                                         connections=8, max_in_flight=16, late_ms=3.0),
        target={"kind": "http"}, payload_order="sequence", seed=7, gc_freeze=False)
    decoded = decode_config(encode_config(config))
    assert decoded == config
    assert decoded.timeout == 2.5 and decoded.max_in_flight == 16


@pytest.mark.parametrize(("line", "says"), [
    (b"not json\n", "worker message: not JSON"),
    (b"[1, 2]\n", "expected a JSON object"),
    (b'{"type": "hello"}\n', "unknown type 'hello'; expected one of"),
    (b'{"type": "done", "worker": 1}\n', "missing field 'reason'"),
    (b'{"type": "ready", "worker": "one", "pid": 3}\n', "field 'worker' expected int"),
    (b'{"type": "tick", "worker": 1, "tick": 5}\n', "tick: expected an object"),
    (b'{"type": "tick", "worker": 1, "tick": {"second": 1}}\n', "tick:"),
    (b'{"type": "done", "worker": true, "reason": "x"}\n', "field 'worker' expected int"),
])
def test_a_malformed_message_is_a_clear_protocol_error(line, says):
    with pytest.raises(ProtocolError) as caught:
        decode_message(line)
    assert says in str(caught.value)


def test_a_malformed_command_or_config_is_a_clear_protocol_error():
    with pytest.raises(ProtocolError, match="command: unknown type 'tick'"):
        decode_command(b'{"type": "tick"}')
    with pytest.raises(ProtocolError, match="controls: expected a list"):
        decode_command(json.dumps({"type": "controls", "controls": 3}))
    with pytest.raises(ProtocolError, match="worker config: missing field 'phases'"):
        decode_config(b'{"index": 0, "workers": 1}')
