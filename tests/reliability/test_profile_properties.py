"""Property tests of the profile loader: random and hostile YAML gives a plan or a clear error.

"Clear" is ProfileError naming the file (and a line) and nothing else: no other exception.
"Bounded" is each case within a time and a memory budget, alias bombs, nesting and size
included: the loader refuses before it expands.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver.profile import Profile, ProfileError, parse_profile, yamlsource
from tests.reliability.counts import counted

# The property tests share one worker, so that LOADWATCH_CASE_COUNTS gets all their counts
# from one process (tests/reliability/counts.py).
pytestmark = pytest.mark.xdist_group("case-counts")

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
TIME_BUDGET_S = 5.0
MEMORY_BUDGET = 64 * 1024 * 1024
VALID = """config:
  target: http://127.0.0.1:8080
  phases:
    - {duration: 10, arrivalRate: 5, name: warm}
    - {duration: 20, arrivalRate: 5, rampTo: 50}
  ensure: {p99: 200, maxErrorRate: 1}
scenarios:
  - flow:
      - post:
          url: /invocations
          headers: {content-type: application/json}
          json: {rows: [[5.1, 3.5, 1.4, 0.2]]}
"""


def loads_within_bounds(text: str) -> Profile | None:
    """The plan or None after a ProfileError; fails on anything else, or past the budgets."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        return parse_profile(text, "p.yml", environ={"KEY": "value"})
    except ProfileError as exc:
        for problem in exc.problems:
            assert problem.file in ("p.yml", "<profile>") and problem.message
        return None
    finally:
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < TIME_BUDGET_S, elapsed
        assert peak < MEMORY_BUDGET, peak


@SETTINGS
@given(text=st.text(max_size=400))
def test_any_text_gives_a_plan_or_a_clear_error(text):
    counted("profiles: random text")
    loads_within_bounds(text)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["config", "phases", "duration", "arrivalRate", "rampTo", "target",
                         "scenarios", "flow", "post", "url", "json", "headers", "load",
                         "workers", "scaling", "sagemaker", "metrics", "payload", "name"])
        | st.text(max_size=8), inner, max_size=5),
    max_leaves=20)


@SETTINGS
@given(data=json_like)
def test_random_structures_give_a_plan_or_a_clear_error(data):
    counted("profiles: random structures")
    loads_within_bounds(yaml.safe_dump(data))


@SETTINGS
@given(data=st.data())
def test_a_valid_profile_with_one_value_replaced(data):
    counted("profiles: one value replaced")
    document = yaml.safe_load(VALID)
    node = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        if isinstance(node[key], dict | list) and node[key] and data.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = data.draw(json_like)
        break
    loads_within_bounds(yaml.safe_dump(document))


@st.composite
def alias_bomb(draw: st.DrawFn) -> str:
    width = draw(st.integers(2, 12))
    depth = draw(st.integers(2, 12))
    lines = ["    a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, depth):
        lines.append(f"    a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    bomb = "\n".join("      " + line for line in lines)
    where = draw(st.sampled_from(["json", "headers", "top"]))
    if where == "top":
        return VALID + "extra:\n" + "\n".join(line[6:] for line in lines) + "\n"
    return VALID.replace("json: {rows: [[5.1, 3.5, 1.4, 0.2]]}",
                         f"{where}:\n{bomb}")


@SETTINGS
@given(text=alias_bomb())
def test_alias_bombs_are_refused_before_they_expand(text):
    counted("profiles: alias bombs")
    loads_within_bounds(text)


@settings(SETTINGS, max_examples=40)
@given(depth=st.integers(50, 200_000), flow=st.booleans())
def test_deep_nesting_is_refused_quickly(depth, flow):
    counted("profiles: deep nesting")
    text = ("a: " + "[" * depth + "]" * depth + "\n") if flow else (
        "a:\n" + "".join(" " * i + "- \n" for i in range(0, min(depth, 4000) * 2, 2)))
    if loads_within_bounds(text) is None and depth > yamlsource.MAX_DEPTH + 2:
        try:
            parse_profile(text, "p.yml")
        except ProfileError as exc:
            assert any("levels deep" in p.message or "larger than" in p.message
                       for p in exc.problems)


def test_a_profile_past_the_size_limit_is_refused_unread(tmp_path):
    counted("profiles: size")
    path = tmp_path / "big.yml"
    with open(path, "w") as handle:
        handle.write(VALID)
        for _ in range(40_000):
            handle.write("# " + "x" * 60 + "\n")
    started = time.perf_counter()
    try:
        from driver.profile import load_profile
        load_profile(path)
    except ProfileError as exc:
        assert "larger than 1024 KiB" in str(exc)
    else:
        raise AssertionError("a 2.5 MB profile was accepted")
    assert time.perf_counter() - started < TIME_BUDGET_S
