"""A duet's second pass: after the floors of pairs, the time left goes to the cells in doubt, the cheapest answer
first, and nowhere else."""

import math
import random

import pytest

from fixtures.run import duet
from fixtures.run.cell import CellRun
from fixtures.run.duet_budget import DuetBudget
from fixtures.run.rounds import RoundsRule
from fixtures.run.second_pass import MIN_VISIT, SecondPass, decided, pairs_needed
from fixtures.run.stats import paired_ratio
from fixtures.run.transfers import DiskTransfer
from tests.test_cell import Benchmark, Session

LEVEL = duet.pass_level(236)
FLOOR = duet.pairs_floor(236)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Cell:
    """A duet cell whose pairs come from a seeded spread around a ratio; a pair takes pair_seconds on the clock."""

    upload = 1.0  # A's upload time; B's is that times the ratio and the spread

    def __init__(self, name, ratio, spread, clock, pair_seconds=0.1, pairs=FLOOR, seed=None):
        self.duet = duet.DuetCell(name, 1 << 20)
        self.pair_seconds = pair_seconds
        self.clock = clock
        self.random = random.Random(name if seed is None else seed)
        self.ratio, self.spread = ratio, spread
        self.visited = []
        for _ in range(pairs):
            self._pair()

    @property
    def durations(self):
        return self.duet.a

    def _pair(self):
        self.duet.a.append(self.upload)
        self.duet.b.append(self.upload * self.ratio * math.exp(self.random.gauss(0, self.spread)))

    def visit(self, pairs, done):
        self.visited.append(pairs)
        for ran in range(1, pairs + 1):
            self._pair()
            self.clock.now += self.pair_seconds
            if done(paired_ratio(self.duet.a, self.duet.b)):
                return ran
        return pairs


def test_the_pairs_a_cell_needs_grow_with_its_spread_and_its_closeness_to_the_minimum_effect():
    a = [1.0] * 14
    steady = [math.exp(random.Random(n).gauss(0, 0.03)) for n in range(14)]
    wide = [math.exp(random.Random(n).gauss(0, 0.10)) for n in range(14)]
    assert 14 < pairs_needed(a, steady, LEVEL) < pairs_needed(a, wide, LEVEL) < math.inf
    near = [1.04 * t for t in wide]  # inside the minimum effect but close to it: settling takes longer
    assert pairs_needed(a, near, LEVEL) > pairs_needed(a, wide, LEVEL)
    changed = [1.3 * t for t in wide]  # beyond it: the pairs to flag it, fewer the larger the change
    assert pairs_needed(a, changed, LEVEL) < pairs_needed(a, [1.1 * t for t in wide], LEVEL) < math.inf
    assert pairs_needed(a[:1], wide[:1], LEVEL) == math.inf  # one pair has no spread to go by


def test_the_second_pass_answers_the_cheapest_doubt_first_and_leaves_answered_cells_alone():
    clock = Clock()
    answered = Cell("settled", 1.0, 0.002, clock)
    assert decided(paired_ratio(answered.duet.a, answered.duet.b), LEVEL)
    cheap = Cell("cheap", 1.0, 0.1, clock, pair_seconds=0.01)
    dear = Cell("dear", 1.0, 0.1, clock, pair_seconds=1.0)
    hopeless = Cell("on the edge", 1.05, 0.4, clock)  # B/A at the minimum effect, widely spread: no answer in reach
    passing = SecondPass(10.0, LEVEL, clock)
    visits = passing.run([answered, dear, hopeless, cheap])
    assert passing.in_doubt == 3
    assert visits[0].test == "cheap" and visits[0].decided
    assert not answered.visited and not hopeless.visited
    assert clock.now <= 10.0 + dear.pair_seconds  # the time given, give or take the pair in flight
    assert sum(v.pairs for v in visits) == len(cheap.duet.b) + len(dear.duet.b) - 2 * FLOOR
    assert all(v.pairs >= 1 for v in visits) and {v.test for v in visits} <= {"cheap", "dear"}


def test_the_second_pass_spends_no_more_than_it_is_given():
    clock = Clock()
    cells = [Cell(f"cell {n}", 1.0, 0.15, clock, pair_seconds=0.5) for n in range(5)]
    passing = SecondPass(6.0, LEVEL, clock)
    passing.run(cells)
    assert clock.now <= 6.0
    assert passing.record()["pairs"] == sum(len(c.duet.b) - FLOOR for c in cells) <= 12
    nothing = SecondPass(MIN_VISIT * 0.5 - 0.01, LEVEL, Clock())  # less than a visit's worth: no visit at all
    assert nothing.run([Cell("x", 1.0, 0.15, Clock(), pair_seconds=0.5)]) == []


def test_a_change_in_doubt_gets_the_pairs_that_carry_it_past_the_correction():
    clock = Clock()
    change = Cell("change", 1.12, 0.12, clock)
    assert not decided(paired_ratio(change.duet.a, change.duet.b), LEVEL)
    SecondPass(60.0, LEVEL, clock).run([change])
    judged = duet.judge([change.duet] + [duet.DuetCell(f"other {n}", 1, a=[1.0] * 14, b=[1.0] * 14) for n in range(3)])
    assert change.duet.verdict == duet.SLOWER, change.duet.why
    assert judged[0].pairs > FLOOR


def test_the_budget_pools_the_cells_time_shares_or_leaves_what_the_whole_duet_did_not_spend():
    options = type("Options", (), {"duet_budget": None, "cell_time": 0.2})
    pooled = DuetBudget.of(options)
    assert pooled.left(236) == pytest.approx(47.2) and not pooled.whole  # the cells that ran, skipped ones not
    clock = Clock()
    whole = DuetBudget(60.0, clock=clock)
    whole.start()
    clock.now += 45.0
    assert whole.left(236) == 15.0
    clock.now += 30.0
    assert whole.left(236) == 0.0  # overrun by the floors: no second pass
    whole.end()
    clock.now += 5.0
    assert whole.record() == {"budget_s": 60.0, "whole": True, "spent_s": 75.0}


class Stats:
    """pytest-benchmark's Metadata as a visit uses it: A's extra rounds are added to the benchmark's own."""

    def __init__(self):
        self.data = []

    def update(self, duration):
        self.data.append(duration)


class FlippingDisk(DiskTransfer):
    """A disk copy that stores one byte flipped from its ``flip_at``-th copy on (0: never)."""

    flip_at = 0
    count = 0

    def send(self):
        stored = super().send()
        self.count += 1
        if self.count == self.flip_at:
            with open(stored, "r+b") as f:
                first = f.read(1)
                f.seek(0)
                f.write(bytes([first[0] ^ 1]))
        return stored


@pytest.fixture
def datafile(data_files):
    """Give the 1MB data file."""
    return data_files.get(1 << 20)


class WatchingDisk(FlippingDisk):
    """A disk copy that counts, at each of its copies, the files side A has stored and not yet had checked."""

    def __init__(self, *args, a_dir):
        super().__init__(*args)
        self.a_dir = a_dir
        self.a_files = []

    def send(self):
        self.a_files.append(len(list(self.a_dir.iterdir())))
        return super().send()


def _ended_duet_cell(datafile, tmp_path, session):
    """Return a duet cell of two disk copies that has run its floor of 8 pairs, and side B's transfer."""
    benchmark = Benchmark()
    benchmark.stats = Stats()
    b = WatchingDisk(datafile, tmp_path / "b", a_dir=tmp_path / "a")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cell = duet.DuetCell("t[disk]", datafile.size)
    run = CellRun(
        session.collect,
        "t[disk]",
        benchmark,
        "disk",
        DiskTransfer(datafile, tmp_path / "a"),
        datafile,
        RoundsRule(size=datafile.size, pairs=8, level=LEVEL, cell_time=0.0),
        against=b,
        order=random.Random(1),
        duet=cell,
    )
    with run:
        benchmark.pedantic(run.round, setup=run.setup, teardown=run.teardown, rounds=run.rounds)
    benchmark.stats.data = list(run.durations)  # what pedantic kept
    return run, b


def test_a_visit_runs_more_checked_pairs_of_an_ended_cell_as_its_own(datafile, tmp_path):
    session = Session()
    run, _ = _ended_duet_cell(datafile, tmp_path, session)
    first = len(run.duet.b)
    # two copies of one file: its pairs may also lean by chance, and the first pass then pursues them
    assert run.revisitable and run.benchmark.extra_info["rounds_stopped_by"] in ("floor", "settled", "pursued")
    assert run.visit(5, lambda paired: False) == 5
    assert len(run.duet.a) == len(run.duet.b) == len(run.benchmark.stats.data) == first + 5
    info = run.benchmark.extra_info
    assert info["second_pass_pairs"] == 5 and info["md5_verified"] == info["against_md5_verified"] == first + 5
    assert len(run.duet.orders) == 2 * (first + 5) and run.pair_seconds > 0
    assert sum(o.tally.md5_checked for o in session.outcomes) == 2 * (first + 5) + 4  # and four warm-ups
    assert run.visit(50, lambda paired: paired.pairs >= first + 7) == 2  # stops once the pairs answer it
    assert [p for side in "ab" for p in (tmp_path / side).iterdir()] == []


def test_both_sides_warm_up_as_a_pair_at_a_cells_opening_and_at_each_visit(datafile, tmp_path):
    run, b = _ended_duet_cell(datafile, tmp_path, Session())
    assert b.a_files[0] == 1  # A's warm-up copy still there, unchecked, while B's is made: checked together
    opened = len(b.a_files)
    run.visit(4, lambda paired: False)
    assert b.a_files[opened] == 1  # the visit's warm-ups are a pair too
    assert [p for side in "ab" for p in (tmp_path / side).iterdir()] == []


def test_a_wrong_md5_in_a_visit_fails_it_naming_the_side_and_leaves_nothing(datafile, tmp_path):
    session = Session()
    run, b = _ended_duet_cell(datafile, tmp_path, session)
    b.flip_at = b.count + 3  # B's third upload of the visit, after its warm-up
    with pytest.raises(pytest.fail.Exception, match=r"disk \(side B\): md5 mismatch for 1MB"):
        run.visit(10, lambda paired: False)
    assert session.outcomes[-1].tally.md5_mismatches == 1
    assert not run.revisitable
    assert [p for side in "ab" for p in (tmp_path / side).iterdir()] == []


def test_the_plan_says_where_the_second_pass_time_comes_from():
    options = type("Options", (), {"duet_budget": None, "cell_time": 0.2})
    assert DuetBudget.of(options).describe() == "--upload-cell-time (0.2 s) for each cell that runs, pooled"
    options.duet_budget = 900.0
    assert DuetBudget.of(options).describe() == (
        "what is left of the duet's budget of 15 min 00 s (--upload-duet-budget)"
    )
