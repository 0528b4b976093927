"""A duet's budget (--upload-duet-budget): a duration, refused without a duet, planned, and what the floors
left of it spent by the second pass (tests/test_duet_second_pass.py has how it is spent)."""

import pytest

from fixtures.option_values import duration
from fixtures.run.duet import pairs_floor
from fixtures.run.rounds import RoundsRule
from tests.conftest import UPLOAD_CELLS, refusal, upload_args


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
    floor = pairs_floor(2)
    assert (
        f"upload-bench plan: the duet runs each cell's floor of {floor} pairs, then spends what is left of the duet's "
        "budget of 4 s (--upload-duet-budget) on pairs for the cells that could not see ×1.10, then on the cells "
        "still in doubt" in result.stdout
    )
    duet = run["upload_bench"]["duet"]
    assert duet["budget"]["budget_s"] == 4 and duet["budget"]["whole"] and duet["budget"]["spent_s"] > 0
    assert "of their budget of 4 s" in result.stdout
    second = duet["second_pass"]
    assert second["seconds"] <= 4 and second["in_doubt"] <= 2
    # a cell of identical code that leaned past q is confirmed on new servers: those pairs are counted apart
    # and so are the pairs assured to a cell that could not see x1.10 (fixtures.run.sight)
    assert second["pairs"] == sum(v["pairs"] for v in second["visits"] if not (v["confirm"] or v["assured"]))
    assert second["assured_pairs"] == sum(v["pairs"] for v in second["visits"] if v["assured"])
    assert second["confirmed_pairs"] == sum(v["pairs"] for v in second["visits"] if v["confirm"])
    for bench in run["benchmarks"]:  # a cell's pairs beyond its first pass are the second pass's, each checked
        info = bench["extra_info"]
        extra = sum(v["pairs"] for v in second["visits"] if v["test"] == bench["fullname"])
        assert info.get("second_pass_pairs", 0) == extra
        assert len(bench["stats"]["data"]) == len(info["against_rounds"]) == info["pairs"] == info["md5_verified"]
        if info["rounds_stopped_by"] == "floor":  # the floor of pairs, or the fewest rounds of the size if more
            assert info["pairs"] == RoundsRule(size=256 << 10, pairs=floor).minimum + extra
