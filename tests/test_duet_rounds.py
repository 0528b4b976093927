"""How many pairs a duet cell runs: stopped early once unchanged, pursued while a change is in sight."""

import math
import random

from fixtures.run import duet
from fixtures.run.rounds import PURSUIT_FLOORS, SIGHT_P, SIGHT_SIGN_P, RoundsRule
from fixtures.run.stats import paired_ratio
from tests.conftest import noisy

SIZE = 8 << 20


def test_a_duet_cell_stops_before_its_floor_only_once_its_pairs_call_it_unchanged():
    rule = RoundsRule(cell_time=60, size=SIZE, pairs=14)
    a = noisy(14, 3, spread=0.5)  # the machine drifts, each pair's ratio stays within 1%
    same = [t * math.exp(random.Random(n).uniform(-0.01, 0.01)) for n, t in enumerate(a)]
    assert rule.more(a[:5], 0.1, against=same[:5])  # under 6 pairs no interval of the median reaches 95%
    assert not rule.more(a[:6], 0.1, against=same[:6])
    assert rule.why_stopped(a[:6], 0.1, against=same[:6]) == "settled"
    slower = [t * 1.2 for t in a]  # a change: it must reach the floor, where the test can pass the correction
    assert all(rule.more(a[:n], 0.1, against=slower[:n]) for n in range(1, 14))
    assert not rule.more(a, 0.1, against=slower) and rule.why_stopped(a, 0.1, against=slower) == "converged"
    assert rule.more(a[:13], 0.1, against=noisy(13, 4, spread=0.5))  # noisy pairs: not settled either
    assert rule.more(a[:6], 0.1)  # a bare cell never settles: it has no side B


def test_a_duet_cell_whose_change_its_p_cannot_yet_carry_goes_on_for_three_shares_or_its_pursuit_floors():
    level = duet.pass_level(236)
    rule = RoundsRule(cell_time=1.0, size=SIZE, pairs=duet.pairs_floor(236), level=level)
    floor = rule.minimum
    a = noisy(PURSUIT_FLOORS * floor, 5, spread=0.2)
    # one pair in seven points the other way, far: an upload of A slowed by the machine; after the floor one in five,
    # so that p stays above the level until the pursuit's last pair
    slower = [t * (0.5 if (n % 7 == 3 if n < floor else n % 5 == 0) else 1.3) for n, t in enumerate(a)]
    paired = paired_ratio(a[:floor], slower[:floor])
    # a change in sight that the correction would not let through: the ranks point one way (p below SIGHT_P) while
    # the 95% interval, which excludes 1 only below p = 0.05, still reaches it
    assert paired.low < 1 < paired.high and level < paired.p < SIGHT_P
    assert rule.more(a[:floor], 2.9, against=slower[:floor])  # within three shares of time
    most = PURSUIT_FLOORS * floor
    assert rule.more(a[: most - 1], 9.0, against=slower[: most - 1])  # or PURSUIT_FLOORS floors of pairs
    assert rule.more(a[:floor], 3.0, against=slower[:floor])  # three shares spent, the floors not yet
    assert not rule.more(a[:most], 3.0, against=slower[:most])  # both spent
    assert rule.why_stopped(a[: floor + 2], 3.0, against=slower[: floor + 2]) == "pursued"
    # every pair the same way: p reaches the level, and the share ends the cell
    clean = [t * 1.3 * math.exp(random.Random(n).uniform(-0.02, 0.02)) for n, t in enumerate(a)]
    assert not rule.more(a[:floor], 1.0, against=clean[:floor])
    same = [t * math.exp(random.Random(n).uniform(-0.2, 0.2)) for n, t in enumerate(a)]
    assert not rule.more(a[:floor], 1.0, against=same[:floor])  # no change in sight: no extra pairs
    bare = RoundsRule(cell_time=1.0, size=SIZE, pairs=floor)
    assert not bare.more(a[:floor], 1.0, against=slower[:floor])  # no level (no correction): nothing pursued


def test_a_duet_cell_whose_pairs_point_both_ways_is_not_pursued():
    level = duet.pass_level(236)
    rule = RoundsRule(cell_time=1.0, size=SIZE, pairs=duet.pairs_floor(236), level=level)
    a = noisy(rule.minimum + 2, 6, spread=0.2)
    fewer = [t * r for t, r in zip(a, [1.3] * 9 + [1 / 1.3] * 7, strict=True)]  # seven of sixteen as far the other way
    assert paired_ratio(a, fewer).p > SIGHT_P and not rule.more(a, 1.0, against=fewer)
    assert rule.why_stopped(a, 1.0, against=fewer) != "pursued"


def test_a_duet_cell_whose_pairs_mostly_point_one_way_is_pursued_though_three_far_ones_weigh_on_its_ranks():
    level = duet.pass_level(236)
    rule = RoundsRule(cell_time=1.0, size=SIZE, pairs=duet.pairs_floor(236), level=level)
    floor = rule.minimum
    a = noisy(floor, 7, spread=0.2)
    # 11 of 14 pairs 1.3x slower, three far the other way: uploads of A slowed by the machine
    ratios = [0.3 if n in (2, 6, 9) else 1.3 * math.exp(random.Random(n).uniform(-0.02, 0.02)) for n in range(floor)]
    slower = [t * r for t, r in zip(a, ratios, strict=True)]
    paired = paired_ratio(a, slower)
    assert paired.p > SIGHT_P and paired.sign_p <= SIGHT_SIGN_P  # the ranks alone would not pursue it
    assert rule.more(a, 2.9, against=slower)  # at its floor, its share spent: only a change in sight goes on


def test_a_budgeted_first_pass_cell_whose_change_went_out_of_sight_says_it_was_pursued_not_stopped_at_its_floor():
    level = duet.pass_level(236)
    rule = RoundsRule(cell_time=0.0, size=SIZE, pairs=duet.pairs_floor(236), level=level)  # a budget's first pass
    floor = rule.minimum
    a = noisy(floor + 6, 8, spread=0.2)
    # 12 pairs of the floor 1.1x slower, two a little faster (in sight, short of the level), then six far the other way
    near = [0.95 if n in (3, 9) else 1.1 * math.exp(random.Random(n).uniform(-0.01, 0.01)) for n in range(floor)]
    ratios = near + [0.7] * 6
    b = [t * r for t, r in zip(a, ratios, strict=True)]
    assert rule.more(a[:floor], 5.0, against=b[:floor])  # pursued past the floor
    assert not rule.more(a, 5.0, against=b)  # out of sight again: it stops
    assert rule.why_stopped(a, 5.0, against=b) == "pursued"
