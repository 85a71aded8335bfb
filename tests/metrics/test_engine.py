"""Engine /metrics pages to datapoints: the official parser, each engine's known series, the
per-interval percentiles from bucket deltas, units converted once, and what a bad page is."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from metrics.engine import (
    E2E,
    ENGINE,
    KV_CACHE,
    PREFIX_HITS,
    RUNNING,
    TOKENS,
    TTFT,
    WAITING,
    EngineReader,
    ExpositionError,
    Selector,
    bucket_quantile,
    parse_exposition,
)

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "engine"


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def values(points, stat="Value"):  # type: ignore[no-untyped-def]
    return {p.metric: p.value for p in points if p.stat == stat}


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.55),  # rank 10 of 20, all in (0.1, 1]: 0.1 + 0.9 * 10/20
    (0.25, 0.325),
    (0.99, 0.991),
])
def test_bucket_quantile_interpolates_within_the_bucket_as_prometheus_does(
        q: float, expected: float) -> None:
    buckets = {0.01: 0.0, 0.1: 0.0, 1.0: 20.0, math.inf: 20.0}
    assert bucket_quantile(q, buckets) == pytest.approx(expected)


def test_bucket_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert bucket_quantile(0.99, {1.0: 5.0, 10.0: 50.0, math.inf: 100.0}) == 10.0
    assert bucket_quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    assert bucket_quantile(0.5, {1.0: 3.0}) is None  # no +Inf: not a whole histogram


def test_vllm_page_gauges_at_once_and_interval_figures_from_the_next_page() -> None:
    first = page("vllm-metrics.txt")
    reader = EngineReader()
    points = reader.read(parse_exposition(first), 1000.0)
    assert reader.engine == "vllm"  # told from the series names
    assert {p.metric for p in points} >= {RUNNING, WAITING, KV_CACHE}
    assert all(p.namespace == ENGINE for p in points)
    kv = next(p for p in points if p.metric == KV_CACHE)
    assert kv.unit == "percent" and 0.0 <= kv.value <= 100.0
    # No previous page: no rate, no interval percentiles yet.
    assert not [p for p in points if p.stat in ("Rate", "p50")]


def _bump_histogram(text: str, name: str, count: int, upper: str, total_s: float) -> str:
    """``count`` more observations of ``name``, all in the bucket ``le=upper`` and above."""
    out, past = [], False
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            past = past or le == upper
            if past:
                head, value = line.rsplit(" ", 1)
                line = f"{head} {float(value) + count}"
        elif line.startswith(f"{name}_count"):
            head, value = line.rsplit(" ", 1)
            line = f"{head} {float(value) + count}"
        elif line.startswith(f"{name}_sum"):
            head, value = line.rsplit(" ", 1)
            line = f"{head} {float(value) + total_s}"
        out.append(line)
    return "\n".join(out) + "\n"


def _bump_counter(text: str, name: str, by: float) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, value = line.rsplit(" ", 1)
            line = f"{head} {float(value) + by}"
        out.append(line)
    return "\n".join(out) + "\n"


def test_vllm_interval_percentiles_come_from_the_bucket_deltas_only() -> None:
    first = page("vllm-metrics.txt")
    second = _bump_histogram(first, "vllm:time_to_first_token_seconds", 10, "0.1", 0.8)
    second = _bump_counter(second, "vllm:generation_tokens_total", 500)
    reader = EngineReader("vllm")
    reader.read(parse_exposition(first), 1000.0)
    points = reader.read(parse_exposition(second), 1005.0)
    ttft = {p.stat: p for p in points if p.metric == TTFT}
    # 10 observations in one bucket whatever came before: their p50 lies inside it, in ms.
    bounds = parse_exposition(first).buckets(Selector("vllm:time_to_first_token_seconds"))
    lower = max((b for b in bounds if b < 0.1), default=0.0)
    assert lower * 1000 <= ttft["p50"].value <= 100.0
    assert ttft["Average"].value == pytest.approx(80.0)  # 0.8 s over 10, in ms
    assert ttft["SampleCount"].value == 10
    assert ttft["p50"].unit == "ms" and ttft["p50"].t == 1000.0 and ttft["p50"].period == 5
    assert values(points, "Rate")[TOKENS] == pytest.approx(100.0)  # 500 tokens in 5 s


def test_an_interval_with_no_observations_has_no_percentiles() -> None:
    text = page("vllm-metrics.txt")
    reader = EngineReader("vllm")
    reader.read(parse_exposition(text), 1000.0)
    points = reader.read(parse_exposition(text), 1005.0)
    assert not [p for p in points if p.metric == TTFT]
    assert values(points, "Rate").get(TOKENS) == 0.0


def test_a_counter_reset_skips_the_interval_instead_of_a_negative_rate() -> None:
    text = page("vllm-metrics.txt")
    reader = EngineReader("vllm")
    reader.read(parse_exposition(_bump_counter(text, "vllm:generation_tokens_total", 1000)),
                1000.0)
    points = reader.read(parse_exposition(text), 1005.0)  # the engine restarted
    assert TOKENS not in values(points, "Rate")


def test_sglang_page() -> None:
    text = page("sglang-metrics.txt")
    reader = EngineReader()
    first = reader.read(parse_exposition(text), 0.0)
    assert reader.engine == "sglang"
    assert values(first) == {RUNNING: 162.0, WAITING: 2826.0, KV_CACHE: pytest.approx(28.0),
                             PREFIX_HITS: pytest.approx(0.7507552643049313)}
    second = _bump_histogram(text, "sglang:e2e_request_latency_seconds", 4, "10.0", 20.0)
    points = reader.read(parse_exposition(second), 10.0)
    e2e = {p.stat: p.value for p in points if p.metric == E2E}
    assert 1000.0 <= e2e["p50"] <= 10000.0 and e2e["Average"] == pytest.approx(5000.0)


def test_tgi_page_tokens_from_the_generated_tokens_histogram_sum() -> None:
    text = page("tgi-metrics.txt")
    reader = EngineReader()
    first = reader.read(parse_exposition(text), 0.0)
    assert reader.engine == "tgi"
    assert values(first) == {RUNNING: 4.0, WAITING: 7.0}
    second = text.replace("tgi_request_generated_tokens_sum 4000",
                          "tgi_request_generated_tokens_sum 4400")
    assert values(reader.read(parse_exposition(second), 2.0), "Rate")[TOKENS] == 200.0


def test_triton_trtllm_page_label_selectors_and_counter_mean() -> None:
    text = page("triton-trtllm-metrics.txt")
    reader = EngineReader()
    first = reader.read(parse_exposition(text), 0.0)
    assert reader.engine == "triton"
    assert values(first) == {RUNNING: 6.0, WAITING: 3.0,
                             KV_CACHE: pytest.approx(1560 / 6239 * 100)}
    second = _bump_counter(text, "nv_inference_request_success", 10)
    second = _bump_counter(second, "nv_inference_request_duration_us", 2_000_000)
    e2e = [p for p in reader.read(parse_exposition(second), 5.0) if p.metric == E2E]
    assert [(p.stat, p.value, p.unit) for p in e2e] == [("Average", 200.0, "ms")]


def test_user_series_keep_their_name_and_take_their_kind_from_the_page() -> None:
    text = page("triton-trtllm-metrics.txt")
    series = [Selector.parse('nv_trt_llm_request_metrics{request_type="context"}'),
              Selector.parse("nv_inference_request_success"),
              Selector.parse("no_such_series")]
    reader = EngineReader(series=series)
    reader.read(parse_exposition(text), 0.0)
    assert reader.unknown == [series[2]]
    points = reader.read(parse_exposition(_bump_counter(text, "nv_inference_request_success",
                                                        10)), 5.0)
    got = {(p.metric, p.stat): (p.value, p.unit) for p in points}
    assert got['nv_trt_llm_request_metrics{request_type="context"}', "Value"] == (1.0, "")
    assert got["nv_inference_request_success", "Rate"] == (2.0, "per second")


@pytest.mark.parametrize("text", [
    "<html><body>Not Found</body></html>",
    '{"status": "ok"}',
    "hello world",
    "",
])
def test_a_page_that_is_not_prometheus_text_says_so(text: str) -> None:
    with pytest.raises(ExpositionError) as raised:
        parse_exposition(text)
    message = str(raised.value)
    assert message.startswith(("not Prometheus text:", "no series"))
    assert "\n" not in message


@pytest.mark.parametrize(("text", "error"), [
    ("vllm:x{a=1}", "bad labels"),
    ("9lives", "not a series name"),
])
def test_a_bad_selector_says_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Selector.parse(text)
    assert str(Selector.parse(' a:b{x="1", y="2"} ')) == 'a:b{x="1",y="2"}'
