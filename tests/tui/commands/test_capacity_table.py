"""The find-capacity step table's "why": what each run left its rate at.

The steps are those a search records (``driver/capacity/run.py``): a rate's ``rate_passes``
is what the rate stood at after that run. Driven here by the search itself on an endpoint
whose capacity is known, so the table is read as a user reads it after a real search.
"""

from __future__ import annotations

from driver.capacity.search import CapacitySearch, StepResult
from tui.commands.capacity import _row


def table(verdicts: dict[float, list[bool]]) -> list[tuple[float, int, str]]:
    """Each run's rate, run number and "why", for rates whose runs go as ``verdicts`` say
    (a rate not listed passes below 400 req/s and fails above)."""
    search = CapacitySearch(start_rps=100)
    search.set_baseline(10)
    left = {rate: iter(runs) for rate, runs in verdicts.items()}
    runs: dict[float, int] = {}
    first: dict[float, bool] = {}
    rows = []
    while (rate := search.next_rate()) is not None:
        passes = next(left.get(rate, iter(())), rate < 400)
        result = (StepResult(rate, rate, 0.0, 12.0, 10.0, int(rate * 20)) if passes else
                  StepResult(rate, rate, 0.3, 900.0, 400.0, int(rate * 20), overloaded_s=5))
        verdict = search.record(result)
        runs[rate] = runs.get(rate, 0) + 1
        step = {"rate": rate, "run": runs[rate], "passed": verdict.passed,
                "clear": verdict.clear, "reasons": list(verdict.reasons),
                "rate_passes": search.outcome(rate), "achieved_rps": rate,
                "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
                "error_rate": result.error_rate}
        rows.append((rate, runs[rate], _row(step, first.setdefault(rate, verdict.passed))
                     .split("  ")[-1].strip()))
    return rows


def test_a_pass_that_fails_its_confirmation_waits_for_a_third_run():
    rows = table({387: [True, False, False]})
    at = [why for rate, _, why in rows if rate == 387]
    assert len(at) == 3
    assert at[0] == ""  # a first pass stands until the edge is confirmed
    assert at[1].endswith("— a third run decides"), at
    assert "confirmed" not in at[1]
    assert at[2].endswith("— overturned: fails"), at


def test_a_failure_twice_is_confirmed_and_one_overturned_by_two_passes_says_so():
    rows = table({200: [False, True, True]})
    at = [why for rate, _, why in rows if rate == 200]
    assert at[0].endswith("— re-run to confirm"), at
    assert at[1] == "a third run decides", at  # a pass has no reasons before it
    assert at[2] == "overturned: passes", at
    fails = [why for rate, run, why in rows if rate >= 400 and run == 2]
    assert fails and all(why.endswith("— confirmed: fails") for why in fails), rows
