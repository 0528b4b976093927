"""Comparing runs: a real stored run against copies of it changed in known ways."""

import copy
import statistics

import pytest

from fixtures.data.sizes import MiB
from fixtures.report.compare import MIN_ROUNDS_TO_COMPARE, summary_line
from fixtures.run.stats import DEFAULT_FDR
from fixtures.run.verdicts import FASTER, INCONCLUSIVE, SLOWER
from fixtures.run.verdicts import NOT_FLAGGED as UNCHANGED
from tests.reporting.conftest import (
    STORED_RUN,
    judge,
    run_with,
    slowed,
)


def test_stored_run_is_a_real_run_with_saved_rounds(stored_run):
    benches = stored_run["benchmarks"]
    assert len(benches) == 12  # 2 sizes x (2 baselines + 2 methods x 2 deployments)
    for bench in benches:
        assert len(bench["stats"]["data"]) == bench["stats"]["rounds"] >= MIN_ROUNDS_TO_COMPARE
        assert statistics.median(bench["stats"]["data"]) == pytest.approx(bench["stats"]["median"], abs=1e-9)
    assert STORED_RUN.stat().st_size < 10_000


@pytest.mark.parametrize("by", ["time", "fraction"])
def test_identical_copies_flag_nothing(stored_run, by):
    comparisons = judge(stored_run, copy.deepcopy(stored_run), by=by)
    assert len(comparisons) == 12
    judged = [c for c in comparisons if c.verdict != INCONCLUSIVE]
    assert {c.verdict for c in judged} == {UNCHANGED}
    assert all(c.p_value == 1.0 and c.change.ratio == 1.0 and c.change.low <= 1 <= c.change.high for c in judged)
    # by fraction, the socket rows are the limits themselves and the disk rows the machine: only they are not judged
    assert len(judged) == (12 if by == "time" else 8)


def test_one_method_30_percent_slower_is_flagged_in_each_of_its_cells_and_nowhere_else(stored_run):
    method = "request.files"
    new = slowed(stored_run, 1.3, method)
    comparisons = judge(stored_run, new)
    cells = {b["name"] for b in stored_run["benchmarks"] if b["extra_info"]["method"] == method}
    assert len(cells) == 4
    assert {c.name for c in comparisons if c.flagged} == cells
    for c in comparisons:
        if c.name in cells:
            assert c.verdict == SLOWER
            assert c.change.ratio == pytest.approx(1.3)
            assert c.change.low <= 1.3 <= c.change.high
            assert c.p_value <= DEFAULT_FDR
    # the same change read backwards is faster, in the same cells
    backwards = judge(new, stored_run)
    assert {c.name for c in backwards if c.flagged} == cells
    assert {c.verdict for c in backwards if c.flagged} == {FASTER}


def test_a_significant_change_smaller_than_the_minimum_effect_is_not_called(stored_run):
    new = slowed(stored_run, 1.3, "request.files")
    assert not any(c.flagged for c in judge(stored_run, new, min_effect=0.35))
    assert any(c.flagged for c in judge(stored_run, new, min_effect=0.25))


def test_a_stricter_false_discovery_rate_calls_fewer_changes(stored_run):
    new = slowed(stored_run, 1.3, "request.files")
    loose = sum(c.flagged for c in judge(stored_run, new, q=0.05))
    strict = sum(c.flagged for c in judge(stored_run, new, q=0.0001))
    assert strict < loose == 4


def test_missing_or_too_few_rounds_are_inconclusive_with_the_reason(stored_run):
    old, new = copy.deepcopy(stored_run), copy.deepcopy(stored_run)
    unsaved, short = new["benchmarks"][4], old["benchmarks"][5]
    del unsaved["stats"]["data"]
    short["stats"]["data"] = short["stats"]["data"][: MIN_ROUNDS_TO_COMPARE - 1]
    comparisons = {c.name: c for c in judge(old, new, by="time")}
    assert comparisons[unsaved["name"]].verdict == INCONCLUSIVE
    assert comparisons[unsaved["name"]].reason == "no saved rounds in new.json (run with --benchmark-save-data)"
    assert comparisons[short["name"]].verdict == INCONCLUSIVE
    assert comparisons[short["name"]].reason == f"{MIN_ROUNDS_TO_COMPARE - 1} rounds in old.json, fewer than 5"
    assert comparisons[unsaved["name"]].p_value is None and comparisons[unsaved["name"]].change is None
    assert sum(c.verdict == UNCHANGED for c in comparisons.values()) == 10


def test_by_fraction_cancels_a_whole_run_30_percent_slower_which_by_time_flags(stored_run):
    slower_day = slowed(stored_run, 1.3)
    by_time = judge(stored_run, slower_day, by="time")
    # every flagged cell is slower; the noisiest (IQR 72% of its median) needs more than 16 rounds to show it
    assert {c.verdict for c in by_time if c.flagged} == {SLOWER}
    assert sum(c.flagged for c in by_time) >= 10
    by_fraction = judge(stored_run, slower_day, by="fraction")
    assert not any(c.flagged for c in by_fraction)
    assert summary_line(by_fraction) == "0 of 12 benchmarks flagged (slower 0, faster 0, inconclusive 4)"


def test_by_fraction_a_size_without_its_limit_row_is_inconclusive(stored_run):
    new = run_with(stored_run, [b for b in stored_run["benchmarks"] if b["name"] != "test_baseline[socket-2MB]"])
    comparisons = judge(stored_run, new, by="fraction")
    for c in comparisons:
        if c.name.startswith("test_upload") and c.name.endswith("-2MB]"):
            assert (c.verdict, c.reason) == (INCONCLUSIVE, "no limit row for 2MB in new.json")
        elif "baseline" not in c.name:
            assert c.verdict == UNCHANGED
    assert len(comparisons) == 11


def test_by_fraction_compares_times_over_the_limit_median(stored_run):
    limits = {
        b["extra_info"]["bytes"]: b["stats"]["median"]
        for b in stored_run["benchmarks"]
        if b["extra_info"]["method"] == "socket"
    }
    name = "test_upload[request.files-werkzeug-1hop-2MB]"  # a run from before limit_rounds
    [c] = [c for c in judge(stored_run, stored_run, by="fraction") if c.name == name]
    [bench] = [b for b in stored_run["benchmarks"] if b["name"] == name]
    assert "limit_rounds" not in bench["extra_info"]
    assert c.before == pytest.approx(statistics.median(bench["stats"]["data"]) / limits[2 * MiB])


def test_by_fraction_the_disk_baseline_is_left_to_the_comparison_by_time(stored_run):
    rows = {c.name: c for c in judge(stored_run, slowed(stored_run, 2.0, "disk"), by="fraction")}
    assert rows["test_baseline[disk-2MB]"].verdict == INCONCLUSIVE
    assert rows["test_baseline[disk-2MB]"].reason == (
        "the disk baseline measures the machine, not the code: compare it by time"
    )
    by_time = {c.name: c for c in judge(stored_run, slowed(stored_run, 2.0, "disk"), by="time")}
    assert by_time["test_baseline[disk-2MB]"].verdict == SLOWER


def test_comparison_is_deterministic(stored_run):
    new = slowed(stored_run, 1.1)
    assert judge(stored_run, new) == judge(stored_run, new)


def test_compare_rejects_settings_out_of_range(stored_run):
    for settings, problem in (({"by": "speed"}, "'speed'"), ({"q": 0}, "q = 0"), ({"min_effect": -0.1}, "-0.1")):
        with pytest.raises(ValueError, match=problem):
            judge(stored_run, stored_run, **settings)
