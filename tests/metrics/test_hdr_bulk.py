"""Histograms recorded in bulk (``hdr.record_many``, the worker's per-tick path) are exactly
the histograms hdrh records one value at a time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import hdr

# Around every edge: negative, 0, the sub-bucket boundaries, the 5-minute top, far beyond it.
values = st.one_of(
    st.integers(-5, 5_000),
    st.integers(0, hdr.HIGHEST_US * 2),
    st.sampled_from([2047, 2048, 4095, 4096, hdr.HIGHEST_US, hdr.HIGHEST_US + 1, 2**40, 2**53,
                     2**62]),
)


def one_by_one(items: list[int]) -> tuple[hdr.Histogram, int]:
    histogram = hdr.new_histogram()
    rejected = sum(not histogram.record_value(v) for v in items)
    return histogram, rejected


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=300), st.lists(values, max_size=50))
def test_bulk_equals_one_by_one(first: list[int], second: list[int]) -> None:
    expected, expected_rejected = one_by_one(first + second)
    bulk = hdr.new_histogram()
    # Twice into the same histogram: folding adds to what is there.
    rejected = hdr.record_many(bulk, first) + hdr.record_many(bulk, second)
    assert rejected == expected_rejected
    assert (hdr._counts(bulk) == hdr._counts(expected)).all()
    assert bulk.get_total_count() == expected.get_total_count()
    assert bulk.min_value == expected.min_value
    assert bulk.max_value == expected.max_value
    assert hdr.encode(bulk) == hdr.encode(expected)


def test_every_bucket_edge_up_to_the_top() -> None:
    """Both ends of every one of the 20,480 buckets land where hdrh puts them."""
    histogram = hdr.new_histogram()
    edges = []
    for index in range(histogram.counts_len):
        value = histogram.get_value_from_index(index)
        edges += [histogram.get_lowest_equivalent_value(value),
                  histogram.get_highest_equivalent_value(value)]
    expected, expected_rejected = one_by_one(edges)
    assert hdr.record_many(histogram, edges) == expected_rejected
    assert (hdr._counts(histogram) == hdr._counts(expected)).all()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(values, max_size=100), max_size=4))
def test_encode_values_equals_encoding_one_by_one(seconds: list[list[int]]) -> None:
    """The worker's tick path: a scratch histogram reused second after second."""
    for items in seconds:
        expected, expected_rejected = one_by_one(items)
        text, rejected = hdr.encode_values(items)
        assert rejected == expected_rejected
        assert text == hdr.encode(expected)
        decoded = hdr.decode(text)
        assert decoded.get_total_count() == expected.get_total_count()
