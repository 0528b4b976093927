"""The comparison on real runs of one commit: it flags almost nothing, and it sees a real change.

tests/data/aa-1.json and aa-2.json are two back-to-back default `pytest --benchmark-only` runs of the same
commit on this project's machine; power-1.json and power-2.json two more with --upload-cell-time=1.5, which
gives the noisy cells the rounds a 30% change needs (tests/data/README.md says how they were made and trimmed).
"""

import json
import statistics
from pathlib import Path

import pytest

from fixtures.report.compare import compare_runs
from fixtures.run.verdicts import FASTER, INCONCLUSIVE, SLOWER
from tests.data.slow_method import slowed

DATA = Path(__file__).parent / "data"
POWER_METHOD = "request.stream (chunked copy)"  # the seed's recommended method: it must show a 30% change
NOT_JUDGED_BY_FRACTION = 4  # the socket rows (the limit itself) and the disk rows (the machine) of two sizes


def load(*names):
    return [json.loads((DATA / name).read_text()) for name in names]


@pytest.fixture(scope="module")
def runs():
    """Give the two default runs of one commit."""
    return load("aa-1.json", "aa-2.json")


@pytest.fixture(scope="module")
def power_runs():
    """Give the two runs of the same commit with a longer time share per cell."""
    return load("power-1.json", "power-2.json")


def flagged_between(first, second):
    rows = compare_runs(first, second)  # the default: each round over the limit measured just before it
    assert len([r for r in rows if r.verdict != INCONCLUSIVE]) == len(rows) - NOT_JUDGED_BY_FRACTION
    return rows, [f"{r.name}: {r.verdict} {r.change.ratio - 1:+.0%}" for r in rows if r.flagged]


def test_two_default_runs_of_one_commit_flag_at_most_one_percent(runs):
    rows, flagged = flagged_between(*runs)
    assert len(flagged) <= 0.01 * len(rows), flagged


def test_two_runs_with_more_rounds_flag_at_most_one_percent_too(power_runs):
    rows, flagged = flagged_between(*power_runs)
    assert len(flagged) <= 0.01 * len(rows), flagged


def test_the_default_divides_each_round_by_the_limit_measured_just_before_it(runs):
    [bench] = [b for b in runs[0]["benchmarks"] if b["name"] == "test_upload[request.files-werkzeug-1hop-8MB]"]
    [row] = [r for r in compare_runs(runs[0], runs[0]) if r.name == bench["name"]]
    paired = [t / limit for t, limit in zip(bench["stats"]["data"], bench["extra_info"]["limit_rounds"], strict=False)]
    assert len(paired) == len(bench["stats"]["data"]) >= 8
    assert row.before == pytest.approx(statistics.median(paired))


def test_by_raw_time_the_same_runs_cry_wolf(runs):
    # Why the default divides by the limit: cells drift by tens of percent between runs of one commit.
    flagged = [r for r in compare_runs(*runs, by="time") if r.flagged]
    assert len(flagged) > 0.05 * len(runs[0]["benchmarks"])


def test_a_method_made_30_percent_slower_is_flagged_in_every_cell_and_nothing_else(power_runs):
    first = power_runs[0]
    rows = compare_runs(first, slowed(first, POWER_METHOD, 1.3))
    cells = {b["name"] for b in first["benchmarks"] if b["extra_info"]["method"] == POWER_METHOD}
    assert len(cells) >= 20
    assert {r.name for r in rows if r.verdict == SLOWER} == cells
    assert not [r.name for r in rows if r.verdict == FASTER]


def test_in_a_default_run_a_30_percent_change_is_seen_where_the_rounds_allow_and_nothing_else(runs):
    first = runs[0]
    cells = {b["name"] for b in first["benchmarks"] if b["extra_info"]["method"] == POWER_METHOD}
    slower = compare_runs(first, slowed(first, POWER_METHOD, 1.3))
    faster = compare_runs(slowed(first, POWER_METHOD, 1.3), first)
    seen = {r.name for r in slower if r.verdict == SLOWER}
    assert seen <= cells and seen
    assert {r.name for r in faster if r.verdict == FASTER} == seen  # read backwards, the same cells, faster
    assert not [r for r in slower + faster if r.flagged and r.name not in cells]
