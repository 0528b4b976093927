"""A duet's budget (--upload-duet-budget): shared out as the cells run, the time a settled cell left going to the
cells after it, and recorded."""

import pytest

from fixtures.option_values import duration
from fixtures.run.duet_budget import DuetBudget
from tests.conftest import UPLOAD_CELLS, refusal, upload_args


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_each_cell_gets_what_is_left_over_the_cells_left():
    clock = Clock()
    budget = DuetBudget(60.0, 4, clock)
    assert budget.share() == 15.0  # nothing spent: an equal share
    clock.now += 3.0  # the first cell settled after 3 s of its 15
    budget.done()
    assert budget.share() == pytest.approx(19.0)  # its 12 s left go to the three cells after it
    clock.now += 40.0  # the second took more than its share (its floor of pairs comes first)
    budget.done()
    assert budget.share() == pytest.approx(8.5)
    clock.now += 30.0
    budget.done()
    assert budget.share() == 0.0  # spent: the last cell runs its floor of pairs and no more
    assert budget.record() == {"budget_s": 60.0, "spent_s": pytest.approx(73.0)}


def test_a_budget_without_a_duet_is_refused_naming_it():
    assert "--upload-duet-budget=60 shares a duet's time among its cells" in refusal("--upload-duet-budget=60")
    allowed = "expected seconds or a duration such as 15m, 1h30m or 90s, above 0 and at most"
    for bad in ("0", "15x", "-5m", "m"):
        assert f"'{bad}' is invalid: {allowed}" in refusal(f"--upload-duet-budget={bad}", "--upload-against=HEAD")


@pytest.mark.parametrize(
    "value, expected",
    [("90", 90.0), ("15m", 900.0), ("1h30m", 5400.0), ("45s", 45.0), ("2.5min", 150.0), ("1h", 3600.0)],
)
def test_a_budget_is_seconds_or_a_duration(value, expected):
    assert duration(value) == expected


@pytest.mark.slow
def test_a_duet_with_a_budget_plans_it_and_records_what_its_cells_took(run_matrix):
    result, run = run_matrix(
        *UPLOAD_CELLS,
        *upload_args(sizes="256KB", deployments="werkzeug", hops=1, methods="request.stream-chunked,request.files"),
        "--upload-against=HEAD",
        "--upload-duet-budget=4",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "upload-bench plan: the duet shares 4 s among its 2 cells as they run (--upload-duet-budget)" in (
        result.stdout
    )
    budget = run["upload_bench"]["duet"]["budget"]
    assert budget["budget_s"] == 4 and budget["spent_s"] > 0
    assert "of their budget of 4 s" in result.stdout
