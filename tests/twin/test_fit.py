"""The fit recovers the parameters the sandbox was configured with (tests/twin/make_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metrics.recording import read_recording
from twin.fit import FitError, fit
from twin.model import load_twin

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
STEPS = FIXTURES / "twin-steps.jsonl"
SCALE_OUT = FIXTURES / "twin-scaleout.jsonl"


@pytest.fixture(scope="module")
def fitted():
    return fit([read_recording(STEPS), read_recording(SCALE_OUT)])


def test_the_fit_recovers_the_known_sandbox(fitted) -> None:
    from tests.twin.make_fixtures import KNOWN

    profile, timings = KNOWN.profile, KNOWN.timings
    assert fitted.workers == profile.workers
    assert fitted.capacity_rps == pytest.approx(profile.capacity_rps, rel=0.05)
    assert fitted.model_latency_ms == pytest.approx(profile.service_time_ms, rel=0.05)
    assert abs(fitted.queue_bound - profile.queue_bound) <= 2
    assert fitted.period_s == timings.period_s
    assert abs(fitted.publication_delay_s - timings.publication_delay_s) <= 1.0
    # The endpoint is polled every 10 s: the rise is known to half of that.
    assert abs(fitted.provisioning_delay_s - timings.provisioning_delay_s) <= 5.0
    assert fitted.instance_type == profile.instance_type


def test_every_field_says_where_it_came_from(fitted) -> None:
    capacity = fitted.sources["capacity_rps"]
    assert capacity["recording"] == str(STEPS) and capacity["seconds"]
    assert fitted.sources["provisioning_delay_s"]["recording"] == str(SCALE_OUT)
    # ...and how the model reproduces each step: past saturation as well as below it.
    over = [s for s in fitted.steps if s["measured"]["error_share"] > 0.2]
    assert over and all(abs(s["modelled"]["error_share"] - s["measured"]["error_share"]) < 0.05
                        for s in over)


def test_too_little_load_says_what_run_would_fix_it(tmp_path: Path, capsys) -> None:
    low = tmp_path / "low.jsonl"
    lines = STEPS.read_text().splitlines()
    # The baseline and the first step only: far below the instance's capacity.
    kept = [line for line in lines if json.loads(line).get("type") != "tick"
            or json.loads(line)["second"] < 30]
    low.write_text("\n".join(kept) + "\n")
    with pytest.raises(FitError, match=r"too little load to fit a bend.*find-capacity"):
        fit([read_recording(low)])
    code, _, err = _cli(capsys, "twin", str(low), "-o", str(tmp_path / "t.yml"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.yml").exists()


def test_the_command_writes_a_twin_what_if_reads(tmp_path: Path, capsys) -> None:
    out = tmp_path / "twin.yml"
    code, stdout, err = _cli(capsys, "twin", str(STEPS), "-o", str(out))
    assert code == 0, err
    assert "measured vs modelled" in stdout and "provisioning_delay_s was not" in stdout
    assert load_twin(out).workers == 2
    code, _, err = _cli(capsys, "twin", str(FIXTURES / "sandbox-llm-light.jsonl"))
    assert code == 2 and "streaming LLM" in err


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from tui.commands.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_sandbox_twin_serves_like_the_twin(fitted) -> None:
    """``loadwatch sandbox --twin`` hands the sandbox the twin's instance and timings."""
    from sandbox.cli import build_parser, config_from_args
    from tui.commands.sandbox import twin_flags

    config = config_from_args(build_parser().parse_args(twin_flags(fitted)))
    assert config.profile.workers == fitted.workers
    assert config.profile.capacity_rps == pytest.approx(fitted.capacity_rps, rel=1e-3)
    assert config.profile.queue_bound == fitted.queue_bound
    assert config.timings.period_s == fitted.period_s
    assert config.timings.provisioning_delay_s == fitted.provisioning_delay_s


def test_a_queue_that_never_turns_anyone_away_is_bounded_by_the_timeout(tmp_path) -> None:
    """Past capacity nginx -> gunicorn queues instead of answering 503: steps with no errors
    but served short of the offered rate are past saturation, and the client's timeout
    bounds the queue. The recording is a virtual session of such a server (queue 10,000)."""
    from tests.twin.sessions import instance, write_session

    # 80 req/s serve all of 20 and 60, not 120
    path = write_session(instance(queue_bound=10_000),
                         [("low", 20, 12), ("mid", 60, 12), ("over", 120, 12)],
                         tmp_path / "deep.jsonl")
    fitted = fit([read_recording(path)])
    assert fitted.capacity_rps == pytest.approx(80, rel=0.05)
    assert fitted.queue_bound == round(fitted.capacity_rps * 20.0)
    assert "timeout" in fitted.sources["queue_bound"]["how"]


def test_requests_the_client_did_not_send_are_not_the_servers_queue_bound(tmp_path) -> None:
    """The same deep-queue server, run by a client that keeps at most 300 in flight: past
    capacity the excess is not sent. That is the client's cap, which the virtual run applies
    itself, not a queue bound of the server's; and the fitted twin, run at the step's rate
    with the recording's cap, reproduces the share not sent."""
    from tests.twin.sessions import instance, write_session

    path = write_session(instance(queue_bound=10_000),
                         [("low", 20, 12), ("mid", 60, 12), ("over", 120, 20)],
                         tmp_path / "capped.jsonl", max_in_flight=300)
    recording = read_recording(path)
    assert recording.header.meta["load"]["max_in_flight"] == 300
    fitted = fit([recording])
    assert fitted.capacity_rps == pytest.approx(80, rel=0.05)
    assert fitted.queue_bound == round(fitted.capacity_rps * 20.0)  # not ~300
    [over] = [s for s in fitted.steps if s["rate"] == 120]
    assert over["measured"]["error_share"] > 0.2  # not sent, once 300 were in flight
    assert over["modelled"]["error_share"] == pytest.approx(
        over["measured"]["error_share"], abs=0.05)


def test_a_clear_failure_cut_short_is_still_a_step_past_saturation(tmp_path) -> None:
    """find-capacity cuts a clear failure after about 3 s: too short for a step's 2 s of
    settling and 3 judged seconds, yet it is where the instance's capacity shows. Such a run
    is kept from its second second when it is past saturation (here: 503s)."""
    from tests.twin.sessions import instance, write_session

    path = write_session(instance(queue_bound=16),  # 80 req/s
                         [("low", 20, 12), ("mid", 40, 12), ("over", 160, 3), ("after", 20, 8)],
                         tmp_path / "cut.jsonl")
    fitted = fit([read_recording(path)])
    assert fitted.capacity_rps == pytest.approx(80, rel=0.05)
    assert fitted.sources["capacity_rps"]["seconds"] == [[25, 26]]
