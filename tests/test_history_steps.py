"""Step detection of fixtures.history: on synthetic series with this machine's measured noise, and on saved runs."""

import pytest

from fixtures.history.model import build
from fixtures.history.order import by_commit, by_version
from fixtures.history.points import find_runs
from fixtures.history.steps import find_steps, robust_sd
from tests.history_runs import DATA, SERIES, measured_noise, synthetic

SEEDS = range(20)


@pytest.fixture(scope="module")
def noise():
    """This machine's noise between runs of --upload-cell-time=3 (tests/data/README.md), as the history sees it."""
    return measured_noise("power-1.json", "power-2.json")


def test_a_step_of_13_is_found_at_its_run(noise):
    floor = robust_sd(noise)  # the noise of one run, as the history pools it
    found = [[s.index for s in find_steps(synthetic(noise, seed, 1.3), floor=floor)] for seed in SEEDS]
    assert sum(steps == [SERIES // 2] for steps in found) >= 19, found


def test_a_flat_series_has_no_step(noise):
    floor = robust_sd(noise)
    found = [find_steps(synthetic(noise, seed), floor=floor) for seed in SEEDS]
    assert sum(not steps for steps in found) >= 19, found


def test_the_size_of_a_step_is_in_its_interval(noise):
    floor = robust_sd(noise)
    [step] = find_steps(synthetic(noise, 0, 2.0), floor=floor)
    assert step.low < 1 / 2.0 < step.high < 1
    assert (step.runs_before, step.runs_after) == (SERIES // 2, SERIES // 2)


def test_four_runs_of_one_commit_show_no_step():
    runs = find_runs([DATA / name for name in ("aa-1.json", "aa-2.json", "power-1.json", "power-2.json")])
    history = build(by_commit(runs, say=lambda _: None))
    assert len(history.series) == 238
    assert history.changes == []


def test_the_writelines_collapse_of_werkzeug_23_is_found_among_releases():
    runs = find_runs([DATA / "history-werkzeug"], say=lambda _: None)
    history = build(by_version(runs, "werkzeug"))
    collapse = [c for c in history.changes if any("writelines" in s.name for s, _ in c.members)]
    assert [(c.before.label, c.after.label, c.slower) for c in collapse] == [("2.2.3", "2.3.0", True)]


def test_ten_runs_of_real_commits_in_git_order_show_no_step():
    runs = find_runs([DATA / "history-commits"])
    history = build(by_commit(runs, say=lambda _: None))
    [positions] = history.positions.values()
    labels = [p.label for p in positions]
    assert labels[0] == "a7f2720" and labels[-3:] == ["5470c78", "5470c78 #2", "5470c78 #3"]
    assert len(history.series) == 22
    assert history.changes == []
