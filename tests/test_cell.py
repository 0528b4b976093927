"""A cell's run without pytest-benchmark: its rounds rule, its steps, its checks and its figures."""

import contextlib
import gc
import re
import statistics

import pytest

from fixtures.option_values import Rounds
from fixtures.options import UploadOptions
from fixtures.run.cell import CellRun
from fixtures.run.estimate import Calibration, Plan, clock
from fixtures.run.limits import BEATEN, WITHIN_NOISE, apply_limits
from fixtures.run.matrix import cells
from fixtures.run.rounds import (
    MAX_ROUNDS,
    MIN_ROUNDS,
    MIN_ROUNDS_LARGE,
    MIN_ROUNDS_SMALL,
    MIN_ROUNDS_TO_CONVERGE,
    SMALL,
    RoundsRule,
)
from fixtures.run.transfers import DiskTransfer

GB = 1 << 30


class Benchmark:
    """What a cell uses of pytest-benchmark's fixture, with pedantic's loop (setup, timed target, teardown)."""

    def __init__(self):
        self.extra_info = {}
        self.disabled = False
        self.has_error = False
        self.stats = None

    def pedantic(self, target, setup, teardown, rounds):
        try:
            for _ in range(rounds):
                setup()
                target()
                teardown()
        except Exception:
            self.has_error = True
            raise


class Session:
    """What the session does with a cell's outcome: keeps it (a cell hands back one, however it ended)."""

    def __init__(self):
        self.outcomes = []

    def collect(self, outcome):
        self.outcomes.append(outcome)

    @property
    def totals(self):
        (outcome,) = self.outcomes
        return outcome.tally


@pytest.fixture
def datafile(data_files):
    """Give the 1MB data file."""
    return data_files.get(1 << 20)


def run_cell(datafile, target_dir, rule, transfer=None):
    benchmark, session = Benchmark(), Session()
    transfer = transfer or DiskTransfer(datafile, target_dir)
    with CellRun(session.collect, None, benchmark, "disk", transfer, datafile, rule) as run:
        benchmark.pedantic(run.round, setup=run.setup, teardown=run.teardown, rounds=run.rounds)
    return run, benchmark, session


def test_auto_rule_asks_for_the_minimum_then_stops_on_a_tight_interval():
    rule = RoundsRule(cell_time=60, size=1 << 20)
    assert all(rule.more([1.0] * n, 0.1) for n in range(MIN_ROUNDS_TO_CONVERGE))
    assert not rule.more([1.0] * MIN_ROUNDS_TO_CONVERGE, 0.1)  # identical rounds: the interval has no width
    assert rule.why_stopped([1.0] * MIN_ROUNDS_TO_CONVERGE, 0.1) == "converged"
    assert not rule.more([1.0] * MIN_ROUNDS_SMALL, 60.0)  # a spent time share ends a cell from the minimum on
    assert rule.more([1.0] * (MIN_ROUNDS_SMALL - 1), 60.0)


def test_auto_rule_adds_rounds_while_noisy_until_its_time_share_is_spent():
    rule = RoundsRule(cell_time=2.0, size=1 << 20)
    noisy = [1.0, 2.0, 1.5, 0.8, 1.9, 1.2, 0.9, 1.7]
    assert rule.more(noisy, 1.0)
    assert not rule.more(noisy, 2.0)
    assert rule.why_stopped(noisy, 2.0) == "cell_time"
    assert not rule.more(noisy * 30, 0.0)  # MAX_ROUNDS caps a cell of tiny uploads
    assert len(noisy * 30) >= MAX_ROUNDS


def test_auto_rule_also_waits_for_the_times_over_the_limit_to_converge():
    rule = RoundsRule(cell_time=60, size=1 << 20)
    steady = [1.0] * MIN_ROUNDS_TO_CONVERGE
    noisy_limit = [0.5, 1.0, 0.7, 0.4, 0.9, 0.6, 1.0, 0.5][:MIN_ROUNDS_TO_CONVERGE]
    assert rule.more(steady, 0.1, noisy_limit)  # the times agree, their fractions of the limit do not
    assert rule.why_stopped(steady, 60.0, noisy_limit) == "cell_time"
    assert not rule.more(steady, 0.1, [0.5] * MIN_ROUNDS_TO_CONVERGE)
    assert rule.why_stopped(steady, 0.1, [0.5] * MIN_ROUNDS_TO_CONVERGE) == "converged"


def test_large_sizes_need_fewer_rounds_and_a_fixed_count_is_exact():
    assert RoundsRule(size=GB).minimum == MIN_ROUNDS_LARGE < RoundsRule(size=GB - 1).minimum == MIN_ROUNDS
    assert RoundsRule(size=SMALL - 1).minimum == MIN_ROUNDS_SMALL > MIN_ROUNDS == RoundsRule(size=SMALL).minimum
    fixed = RoundsRule(fixed=7, cell_time=0.0, size=GB)
    assert [fixed.more([1.0, 3.0] * 3 + [1.0] * k, 99.0) for k in (0, 1)] == [True, False]
    assert fixed.most == 7


def test_a_cell_runs_each_step_once_per_round_and_verifies_every_round(datafile, tmp_path):
    run, benchmark, session = run_cell(datafile, tmp_path, RoundsRule(fixed=4))
    assert len(run.durations) == 4
    assert run.verified == 4 == benchmark.extra_info["md5_verified"]
    # the warm-up is verified too, and counted in the totals, but not as a timed round
    assert session.totals.md5_checked == 5 and session.totals.bytes_received == 5 * datafile.size
    assert list(tmp_path.iterdir()) == []
    info = benchmark.extra_info
    assert info["median_ci_low"] <= statistics.median(run.durations) <= info["median_ci_high"]
    assert benchmark.extra_info["rounds_mode"] == "fixed"


def test_auto_rounds_end_the_loop_from_setup_without_an_error(datafile, tmp_path):
    run, benchmark, _ = run_cell(datafile, tmp_path, RoundsRule(cell_time=0.0, size=datafile.size))
    assert len(run.durations) == MIN_ROUNDS_SMALL  # no time share: the minimum, then EnoughRounds ended the loop
    assert benchmark.has_error is False
    assert benchmark.extra_info["rounds_stopped_by"] in ("cell_time", "converged")


class CollectorWatchingDisk(DiskTransfer):
    """A disk copy that notes, in each timed round, whether Python's garbage collector could run."""

    def __init__(self, *args):
        super().__init__(*args)
        self.collecting = []

    def send(self):
        self.collecting.append(gc.isenabled())
        return super().send()


@pytest.mark.parametrize("failing", [pytest.param(False, id="passing"), pytest.param(True, id="failing")])
def test_the_collector_is_off_during_a_cells_rounds_and_back_after_it(datafile, tmp_path, failing):
    assert gc.isenabled()
    transfer = CollectorWatchingDisk(datafile, tmp_path)
    if failing:
        transfer.datafile = None  # the warm-up fails: the cell ends from inside its __enter__
    benchmark = Benchmark()
    ends = pytest.raises(pytest.fail.Exception, match="disk failed") if failing else contextlib.nullcontext()
    with ends, CellRun(Session().collect, None, benchmark, "disk", transfer, datafile, RoundsRule(fixed=3)) as run:
        benchmark.pedantic(run.round, setup=run.setup, teardown=run.teardown, rounds=run.rounds)
    assert transfer.collecting and not any(transfer.collecting)  # warm-up and rounds alike
    assert gc.isenabled()


class CorruptingDisk(DiskTransfer):
    """A disk copy whose third round stores one byte flipped."""

    count = 0

    def send(self):
        stored = super().send()
        self.count += 1
        if self.count == 3:
            with open(stored, "r+b") as f:
                first = f.read(1)
                f.seek(0)
                f.write(bytes([first[0] ^ 1]))
        return stored


def test_an_md5_mismatch_fails_the_cell_and_is_counted(datafile, tmp_path):
    benchmark, session = Benchmark(), Session()
    with pytest.raises(pytest.fail.Exception, match="md5 mismatch for 1MB"):
        with CellRun(
            session.collect, None, benchmark, "disk", CorruptingDisk(datafile, tmp_path), datafile, RoundsRule(fixed=4)
        ) as run:
            benchmark.pedantic(run.round, setup=run.setup, teardown=run.teardown, rounds=run.rounds)
    assert session.totals.md5_mismatches == 1
    assert list(tmp_path.iterdir()) == []


class Stats:
    def __init__(self, data):
        self.stats = type("S", (), {"data": data})()


class Ran:
    def __init__(self, data):
        self.stats, self.has_error = Stats(data), False


def test_the_limit_check_separates_noise_from_a_real_beat():
    limit = ({"method": "socket", "bytes": 100, "hops": 0}, [1.0, 1.01, 0.99, 1.0, 1.02, 0.98])
    close = ({"method": "m", "bytes": 100, "hops": 1}, [0.99, 1.0, 0.98, 1.01, 0.97, 1.0])
    beyond = ({"method": "n", "bytes": 100, "hops": 1}, [0.5, 0.51, 0.49, 0.5, 0.52, 0.5])
    slower = ({"method": "o", "bytes": 100, "hops": 1}, [2.0] * 6)
    runs = [(Ran(data), info) for info, data in (limit, close, beyond, slower)]
    limits = apply_limits(runs)
    assert limit[0]["fraction_of_socket_limit"] == 1.0  # the limit row is its own yardstick
    assert close[0]["limit_check"] == WITHIN_NOISE
    assert beyond[0]["limit_check"] == BEATEN and beyond[0]["fraction_of_socket_limit"] == pytest.approx(2.0)
    assert "limit_check" not in slower[0] and slower[0]["fraction_of_socket_limit"] == pytest.approx(0.5)
    assert limits[(100, "loopback")]["beaten_by"] == ["n on None, 1 hop(s), None"]


def test_the_estimate_grows_with_sizes_rounds_and_cells(tmp_path):
    calibration = Calibration(md5_rate=500 * (1 << 20), process_start_s=0.2)

    def plan(sizes, rounds, methods=("request.stream-chunked",), to_generate=0):
        options = UploadOptions(
            sizes=sizes,
            methods=list(methods),
            deployments=["werkzeug"],
            hops=[1],
            rounds=rounds,
            cell_time=1.0,
            timeout=None,
            data_dir=tmp_path,
        )
        return Plan.of(cells(options), options, calibration=calibration, to_generate=to_generate).seconds

    small, large = plan([1 << 20], Rounds()), plan([GB], Rounds())
    assert large > small > 0.3  # at least the time share
    assert plan([GB], Rounds(10)) > large
    assert plan([1 << 20], Rounds(), methods=("request.stream-chunked", "request.files")) > small
    assert plan([GB], Rounds(), to_generate=GB) > large  # the data file must be written first


def test_progress_scales_what_is_left_by_each_cells_own_share(tmp_path):
    calibration = Calibration(md5_rate=500 * (1 << 20), process_start_s=0.2)
    options = UploadOptions(
        sizes=[1 << 20, GB],
        methods=["request.stream-chunked"],
        deployments=["werkzeug"],
        hops=[1],
        rounds=Rounds(),
        cell_time=1.0,
        timeout=None,
        data_dir=tmp_path,
        contents=("random",),
    )
    small, large = cells(options)
    plan = Plan.of([small, large], options, calibration=calibration)
    assert plan.shares[large] > 5 * plan.shares[small] > 0
    assert sum(plan.shares.values()) == pytest.approx(plan.seconds)
    # half the cells done, but only the small one: most of the time is still ahead, at the pace so far
    line = plan.progress(1, 2, elapsed=2 * plan.shares[small], planned_done=plan.shares[small])
    left = re.search(r"about (.+) left", line).group(1)
    assert left == clock(2 * plan.shares[large])
