"""Pairs assured where a duet cell could not see ×1.10: planned from the spread of its pairs alone, cheapest first
within the second pass's time, run before the cells in doubt get theirs, and counted in what the cell could see."""

import math
import random
import statistics

import pytest

from fixtures.run import duet, sight
from fixtures.run.detectable import cell_detectable
from fixtures.run.second_pass import SecondPass
from fixtures.run.stats import paired_ratio
from fixtures.run.verdicts import DUET_MIN_EFFECT, past_effect
from tests import test_duet_second_pass as second_pass
from tests.test_duet_second_pass import Clock

CELLS = 292  # the default matrix's duet: its floor and level
FLOOR = duet.pairs_floor(CELLS)
LEVEL = duet.pass_level(CELLS)
WIDE = 0.25  # a spread of log B/A whose 14 pairs' rule cannot see ×1.10, and whose 84 pairs' can (normal noise)


UPLOAD = 0.004  # A's upload, in seconds


class Cell(second_pass.Cell):
    """A second pass's duet cell: pairs spread around a ratio, FLOOR of them run; a pair takes its two uploads and
    ``overhead`` (the checks) on the clock, so a slower B makes it dearer."""

    upload = UPLOAD

    def __init__(self, name, spread, clock=None, ratio=1.0, overhead=0.012, seed=None):
        super().__init__(name, ratio, spread, clock or Clock(), pairs=FLOOR, seed=seed)
        self.duet.floor, self.duet.horizon = FLOOR, 8 * FLOOR
        self.pair_seconds = overhead + statistics.fmean(self.duet.a) + statistics.fmean(self.duet.b)


def test_a_cell_that_cannot_see_the_sight_is_planned_the_fewest_floors_that_let_it():
    wide = Cell("wide", WIDE)
    assert cell_detectable(wide.duet, LEVEL) > sight.SIGHT
    [assurance] = sight.plan([wide, Cell("steady", 0.02)], LEVEL, 60.0)  # the steady one sees it already
    assert assurance.cell is wide and assurance.pairs % FLOOR == 0 and FLOOR < assurance.pairs <= 8 * FLOOR
    assert assurance.seconds == pytest.approx((assurance.pairs - FLOOR) * wide.pair_seconds, rel=0.2)
    assert cell_detectable(wide.duet, LEVEL, assurance.pairs) <= sight.SIGHT * 1.02  # the plan's own resamples
    fewer = max((f * FLOOR for f in sight.ASSURED_FLOORS if f * FLOOR < assurance.pairs), default=FLOOR)
    assert cell_detectable(wide.duet, LEVEL, fewer) > sight.SIGHT * 0.98
    hopeless = Cell("hopeless", 0.6)
    assert cell_detectable(hopeless.duet, LEVEL, sight.ASSURED_FLOORS[-1] * FLOOR) > sight.SIGHT
    assert sight.plan([hopeless], LEVEL, 600.0) == []  # not even the most floors would let it see


def test_the_plan_reads_the_spread_alone_so_a_change_would_have_been_given_the_same_pairs():
    same, changed = Cell("same", WIDE, seed="wide"), Cell("changed", WIDE, ratio=1.5, seed="wide")
    assert changed.pair_seconds > same.pair_seconds  # B's slower uploads make its pairs dearer
    [planned], [planned_changed] = sight.plan([same], LEVEL, 60.0), sight.plan([changed], LEVEL, 60.0)
    assert planned.pairs == planned_changed.pairs
    assert planned.seconds == pytest.approx(planned_changed.seconds)  # costed as if B were as fast as A


def test_the_plan_takes_the_cheapest_cells_first_as_far_as_its_time_goes():
    cheap, dear = Cell("cheap", WIDE, overhead=0.01, seed="wide"), Cell("dear", WIDE, overhead=1.0, seed="wide")
    [alone] = sight.plan([dear, cheap], LEVEL, 5.0)
    assert alone.cell is cheap
    assert [a.cell for a in sight.plan([dear, cheap], LEVEL, 1000.0)] == [cheap, dear]
    # the plan's own time comes out of the pass's first: one second of it, and the cheap cell no longer fits
    ticking = Clock()

    def tick():
        ticking.now += 1.0
        return ticking.now

    assert sight.plan([cheap], LEVEL, alone.seconds + 0.5, tick) == []
    looked = []
    assert sight.plan([cheap], LEVEL, 0.0, lambda: looked.append(1) or 0.0) == [] and not looked  # no time: no plan


def test_the_second_pass_runs_the_assured_pairs_first_and_an_answered_cell_keeps_its_plan_unvisited():
    clock = Clock()
    wide = Cell("wide", WIDE, clock, ratio=1.12, seed="wide")
    answered = Cell("answered", WIDE, clock, ratio=2.0, seed="wide")  # every pair twice as slow: past the level
    passing = SecondPass(600.0, LEVEL, clock)
    visits = passing.run([wide, answered])
    assert {a.cell.duet.test for a in passing.assured} == {"wide", "answered"}
    assert visits[0].assured and visits[0].test == "wide" and not answered.visited
    assert len(wide.duet.b) >= wide.duet.assured > FLOOR and answered.duet.assured > FLOOR
    record = passing.record()
    assert record["assured_cells"] == 2 and record["assured_pairs"] == wide.duet.assured - FLOOR
    assert record["assured_planned_s"] > record["assured_spent_s"]  # the answered cell's time kept, not spent
    assert "assured 2 cell(s) the pairs to see ×1.10" in passing.describe()
    duet.judge([wide.duet, answered.duet])
    assert wide.duet.record()["pairs_assured"] == wide.duet.assured
    assert wide.duet.detectable == max(cell_detectable(wide.duet, duet.pass_level(2)), 1 + DUET_MIN_EFFECT)


def test_the_detectable_ratio_with_assured_pairs_is_flagged_with_its_power_by_a_cell_that_runs_them():
    rng = random.Random(5)
    spread, assured = 0.12, 4 * FLOOR

    def noise(count):
        return [math.exp(rng.gauss(0, spread)) for _ in range(count)]

    def detectable(assured_pairs):  # a cell that ran two floors, its horizon its floor: its assured pairs see most
        cell = duet.DuetCell("t", 1, a=[1.0] * 2 * FLOOR, b=noise(2 * FLOOR), floor=FLOOR, horizon=FLOOR)
        return cell_detectable(cell, LEVEL, assured_pairs)

    def flagged(shift):  # its floor and its assured pairs, judged as the duet judges all of them
        paired = paired_ratio([1.0] * assured, [shift * x for x in noise(assured)])
        return paired.p <= LEVEL and past_effect(paired.ratio, DUET_MIN_EFFECT)

    ratio = sorted(detectable(assured) for _ in range(9))[4]  # a typical cell's
    assert ratio < sorted(detectable(0) for _ in range(9))[4]  # its floor alone sees less
    share = sum(flagged(ratio) for _ in range(200)) / 200
    assert 0.65 < share < 0.99  # 80% asked: the resampled noise of a few pairs errs on the safe side


class Failing(Cell):
    """A cell whose visits stop after two pairs, unsettled: a failure, or a side over its budget."""

    def visit(self, pairs, enough):
        return super().visit(min(pairs, 2), enough)


def test_a_cell_that_could_not_run_its_assured_pairs_counts_only_those_it_ran():
    failing = Failing("failing", WIDE, seed="wide")
    passing = SecondPass(600.0, LEVEL, failing.clock)
    passing.run([failing])
    assert passing.assured and failing.duet.assured == FLOOR + 2  # not the 84 or so planned
