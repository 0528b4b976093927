"""The statistics that compare two runs: what this project adds to scipy.stats (edge cases, the bootstrap)."""

import math

import pytest

from fixtures.run.stats import benjamini_hochberg, mann_whitney_p, median_ratio_interval

# Mann-Whitney U


def test_mann_whitney_of_fully_separated_samples_is_the_exact_smallest_p():
    # why a small cell runs 8 rounds (fixtures.run.rounds): 5 against 5, even with no overlap, cannot go below
    # 2 of the C(10, 5) = 252 orderings (two-sided), too large to survive a correction across a matrix
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert mann_whitney_p([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]) == pytest.approx(2 / 252)


def test_mann_whitney_of_constant_equal_samples_is_1_not_nan():
    assert mann_whitney_p([2.0] * 6, [2.0] * 6) == 1.0


def test_mann_whitney_needs_rounds_on_both_sides():
    with pytest.raises(ValueError, match="at least one round"):
        mann_whitney_p([], [1.0])


# Benjamini-Hochberg


def test_benjamini_hochberg_of_one_p_is_that_p_and_of_none_is_empty():
    assert benjamini_hochberg([0.03]) == pytest.approx([0.03])
    assert benjamini_hochberg([]) == []


# The bootstrap interval of the ratio of medians


def test_ratio_of_constant_rounds_is_exact():
    interval = median_ratio_interval([2.0] * 7, [2.6] * 7)
    assert (interval.ratio, interval.low, interval.high) == pytest.approx((1.3, 1.3, 1.3))
    assert interval.change == pytest.approx(0.3)
    assert interval.confidence == 0.95


def test_ratio_interval_spans_the_resampled_medians():
    # The median of 5 draws from {1..5} is 1 with probability P(at least 3 draws are 1) = 0.058, and 5 with the
    # same: both ends carry more than 2.5%, so the 95% percentile interval is exactly [1, 5].
    interval = median_ratio_interval([1.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert interval.ratio == 3.0
    assert (interval.low, interval.high) == (1.0, 5.0)


def test_ratio_interval_of_a_scaled_copy_contains_the_scale():
    old = [0.0101, 0.0098, 0.0120, 0.0105, 0.0131, 0.0099, 0.0110, 0.0102]
    interval = median_ratio_interval(old, [t * 1.3 for t in old])
    assert interval.ratio == pytest.approx(1.3)
    assert interval.low < 1.3 < interval.high


def test_ratio_interval_is_deterministic_and_the_seed_is_what_varies_it():
    old = [1.0, 1.4, 0.9, 1.2, 1.1, 1.6, 1.05]
    new = [1.3, 1.1, 1.5, 1.2, 1.9, 1.25, 1.4]
    assert median_ratio_interval(old, new) == median_ratio_interval(old, new)
    others = {(i.low, i.high) for i in (median_ratio_interval(old, new, seed=s) for s in range(5))}
    assert len(others) > 1


def test_ratio_interval_rejects_non_positive_old_rounds():
    with pytest.raises(ValueError, match="positive"):
        median_ratio_interval([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="at least one round"):
        median_ratio_interval([1.0], [])


def test_ratio_interval_confidence_narrows_the_interval():
    old = [1.0, 1.4, 0.9, 1.2, 1.1, 1.6, 1.05, 0.95, 1.3]
    new = [1.3, 1.1, 1.5, 1.2, 1.9, 1.25, 1.4, 1.7, 1.15]
    wide, narrow = median_ratio_interval(old, new, 0.95), median_ratio_interval(old, new, 0.5)
    assert wide.low <= narrow.low <= narrow.high <= wide.high
    assert not math.isclose(wide.high - wide.low, narrow.high - narrow.low)
