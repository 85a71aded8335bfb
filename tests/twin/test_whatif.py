"""what-if: candidates from ranges, the ranking, and bad input as one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metrics.recording import read_recording
from sandbox.config import SandboxConfig
from twin.model import Twin, load_twin, save_twin
from twin.model.twinfile import TwinError
from twin.virtual import VirtualRun, constant_traffic
from twin.whatif import GridError, GridSpec, Objective, candidates, rank

ROOT = Path(__file__).resolve().parents[2]
TWIN = Twin.from_sandbox(SandboxConfig(), overhead_ms=1.0)


def test_ranges_and_lists_make_every_combination() -> None:
    spec = GridSpec(target="10000:20000:5000", max_capacity="2,4", scale_out_cooldown="30s")
    policies = candidates(spec)
    assert sorted({p.target for p in policies}) == [10000, 15000, 20000]
    assert len(policies) == 6


@pytest.mark.parametrize(("spec", "named"), [
    (GridSpec(target="20000:10000:1000"), "--target"),
    (GridSpec(target="1000", min_capacity="5", max_capacity="2,3"), "--min/--max"),
    (GridSpec(target="abc"), "--target"),
    (GridSpec(metric="concurrency"), "--concurrency-target"),
])
def test_a_grid_with_no_candidate_names_its_option(spec: GridSpec, named: str) -> None:
    with pytest.raises(GridError, match=named):
        candidates(spec)


def test_a_policy_that_scales_beats_one_that_cannot() -> None:
    traffic = constant_traffic(700, 240)
    policies = candidates(GridSpec(target="15000", max_capacity="1,3", scale_out_cooldown="30",
                                   scale_in_cooldown="60"))
    # 700 req/s from the first second: errors until the scale-out a minute or so later.
    ranked = rank(TWIN, traffic, policies, Objective(500, 0.25, 0.5), jobs=2)
    best, worst = ranked
    assert best.error_share < 0.25 < worst.error_share
    assert best.meets and best.policy.max_capacity == 3 and best.max_instances >= 2
    # One instance (420 req/s) cannot serve 700 req/s: ~40 % are turned away.
    assert not worst.meets and worst.error_share > 0.3


def test_twin_file_round_trip_and_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "twin.yml"
    save_twin(TWIN, path)
    assert load_twin(path).capacity_rps == pytest.approx(TWIN.capacity_rps, rel=1e-3)
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.startswith("  workers:"))
    path.write_text(text)
    with pytest.raises(TwinError, match=r"fields\.workers: missing"):
        load_twin(path)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command in this process (the interpreter's start is not what is tested)."""
    from tui.commands.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    twin = tmp_path / "twin.yml"
    save_twin(TWIN, twin)
    profile = str(ROOT / "profiles" / "sandbox-after.yml")
    code, _, err = _cli(capsys, "what-if", profile, "--twin", str(twin),
                        "--target", "20000:10000:1000")
    assert code == 2
    assert err.strip().splitlines() == [
        "loadwatch what-if: --target: '20000:10000:1000' yields no values (a range whose stop "
        "is below its start?)"]
    twin.write_text(twin.read_text().replace("  capacity_rps:", "  capacity:"))
    code, _, err = _cli(capsys, "what-if", profile, "--twin", str(twin))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "fields.capacity_rps: missing" in err


def test_the_best_policy_is_printed_to_paste(tmp_path: Path, capsys) -> None:
    twin = tmp_path / "twin.yml"
    save_twin(TWIN, twin)
    code, out, _ = _cli(capsys, "what-if", str(ROOT / "profiles" / "sandbox-after.yml"),
                        "--twin", str(twin), "--target", "15000,30000", "--jobs", "1",
                        "--scale-out-cooldown", "30", "--record", str(tmp_path / "best.jsonl"))
    assert code == 0
    assert "cheapest policy meeting the SLO: IPI 15000/inst/min" in out
    assert "scaling:\n  enabled: true\n  metric: invocations" in out
    assert read_recording(tmp_path / "best.jsonl").header.meta["simulated"]["seed"] == 0


@pytest.mark.parametrize("spec", [
    GridSpec(metric="concurrency", concurrency_target="2", max_capacity="3",
             scale_out_cooldown="30"),
    GridSpec(step_threshold="15000", step_adjustment="2", max_capacity="3",
             scale_out_cooldown="30"),
], ids=["high-resolution concurrency", "step scaling"])
def test_every_kind_of_policy_runs_on_the_sandboxs_own_code(spec: GridSpec) -> None:
    """The policy reaches the sandbox through its API handlers: alarms and all."""
    (policy,) = candidates(spec)
    result = VirtualRun(TWIN, constant_traffic(700, 200), policy, seed=3).run(records=True)
    assert result.serving.max() >= 2  # scaled out by the sandbox's autoscaler or alarms
    header = result.records[0]
    operations = [op for op, _ in header.meta["simulated"]["policy"]["calls"]]
    assert operations[0] == "RegisterScalableTarget"
    if policy.kind == "step":
        assert operations.count("PutMetricAlarm") == 2
        assert json.loads(policy.aas_json())[-1]["input"]["ComparisonOperator"] == \
            "LessThanThreshold"
        assert policy.scaling_block() is None
