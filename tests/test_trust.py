"""The comparison on two real default runs of one commit: it flags almost nothing, and it sees a real change.

tests/data/aa-1.json and aa-2.json are two back-to-back `pytest --benchmark-only` runs of the same commit
on this project's machine (tests/data/README.md says how they were made and trimmed).
"""

import copy
import json
import statistics
from pathlib import Path

import pytest

from fixtures.report import FASTER, INCONCLUSIVE, SLOWER, compare_runs

DATA = Path(__file__).parent / "data"
POWER_METHOD = "request.stream (chunked copy)"  # the seed's recommended method: it must show a 30% change


@pytest.fixture(scope="module")
def runs():
    """Give the two runs of one commit."""
    return [json.loads((DATA / name).read_text()) for name in ("aa-1.json", "aa-2.json")]


def slowed(run, method, factor):
    """Return a copy of a run in which every round of one method took ``factor`` times as long."""
    changed = copy.deepcopy(run)
    for bench in changed["benchmarks"]:
        if bench["extra_info"]["method"] == method:
            stats = bench["stats"]
            stats["data"] = [t * factor for t in stats["data"]]
            for key in ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev"):
                if key in stats:
                    stats[key] *= factor
    return changed


def test_two_runs_of_one_commit_flag_at_most_one_percent(runs):
    rows = compare_runs(*runs)  # the default: each round over the limit measured just before it
    judged = [r for r in rows if r.verdict != INCONCLUSIVE]
    flagged = [f"{r.name}: {r.verdict} {r.change.change:+.0%}" for r in rows if r.flagged]
    assert len(judged) == len(rows) - 2  # the socket rows are the limit itself
    assert len(flagged) <= 0.01 * len(rows), flagged


def test_the_default_divides_each_round_by_the_limit_measured_just_before_it(runs):
    [bench] = [b for b in runs[0]["benchmarks"] if b["name"] == "test_upload[request.files-werkzeug-1hop-16MB]"]
    [row] = [r for r in compare_runs(runs[0], runs[0]) if r.name == bench["name"]]
    paired = [t / limit for t, limit in zip(bench["stats"]["data"], bench["extra_info"]["limit_rounds"])]
    assert len(paired) == len(bench["stats"]["data"]) >= 8
    assert row.before == pytest.approx(statistics.median(paired))


def test_by_raw_time_the_same_runs_cry_wolf(runs):
    # Why the default divides by the limit: cells drift by tens of percent between runs of one commit.
    flagged = [r for r in compare_runs(*runs, by="time") if r.flagged]
    assert len(flagged) > 0.05 * len(runs[0]["benchmarks"])


@pytest.mark.xfail(reason="issue 10, open: with 8 rounds a cell at 16MB, a 30% change is not significant after "
                          "the correction in about half of that method's cells (README, 'Numbers you can trust')")
def test_a_method_made_30_percent_slower_is_flagged_in_every_cell_and_nothing_else(runs):
    first = runs[0]
    rows = compare_runs(first, slowed(first, POWER_METHOD, 1.3))
    cells = {b["name"] for b in first["benchmarks"] if b["extra_info"]["method"] == POWER_METHOD}
    assert len(cells) >= 20
    assert {r.name for r in rows if r.verdict == SLOWER} == cells
    assert not [r.name for r in rows if r.verdict == FASTER]


def test_a_30_percent_change_is_seen_where_the_rounds_allow_and_nothing_else_is_flagged(runs):
    first = runs[0]
    cells = {b["name"] for b in first["benchmarks"] if b["extra_info"]["method"] == POWER_METHOD}
    slower = compare_runs(first, slowed(first, POWER_METHOD, 1.3))
    faster = compare_runs(slowed(first, POWER_METHOD, 1.3), first)
    seen = {r.name for r in slower if r.verdict == SLOWER}
    assert seen <= cells and len(seen) >= len(cells) / 3
    assert {r.name for r in faster if r.verdict == FASTER} == seen  # read backwards, the same cells, faster
    assert not [r for r in slower + faster if r.flagged and r.name not in cells]
