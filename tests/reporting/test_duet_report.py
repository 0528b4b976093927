"""A duet run's section of the report, its forest plot, and --compare of its two sides."""

import statistics

import pytest

from fixtures.data.sizes import MiB
from fixtures.report.compare import compared_sources
from fixtures.report.document import write_report
from fixtures.report.duet import (
    FOREST_ROWS,
    could_see,
    duet_forest_figure,
    forest_note,
    forest_rows,
    ratio_ticks,
    side_text,
)
from fixtures.report.formatting import DASH
from fixtures.report.output import MAX_PNG_BYTES as REPORT_MAX_PNG_BYTES
from fixtures.run.verdicts import FASTER, INCONCLUSIVE, SLOWER
from fixtures.run.verdicts import UNCHANGED as DUET_UNCHANGED
from tests.reporting.conftest import (
    STORED_RUN,
    assert_close_to_displayed,
    assert_one_line_error,
    assert_valid_png,
    compare,
    compare_rows,
    legend_styles,
    report_command,
    table_rows,
    write_json,
)

# A duet run (pytest --upload-against=REF), made up: a cell per verdict and one over budget on both sides

DUET_A_ROUNDS = [0.100 + 0.001 * i for i in range(10)]
DUET_CELLS = [  # cell, its verdict, B's rounds over A's (None: over budget), B/A with its interval
    ("request.files-werkzeug-1hop-8MB", SLOWER, 1.5, (1.5, 1.45, 1.55)),
    ("request.form-werkzeug-1hop-8MB", DUET_UNCHANGED, 1.0, (1.0, 0.98, 1.02)),
    ("request.get_data()-werkzeug-1hop-8MB", FASTER, 0.7, (0.7, 0.68, 0.72)),
    ("request.files-gunicorn-1hop-8MB", INCONCLUSIVE, 1.08, (1.08, 0.95, 1.3)),
    ("request.form-gunicorn-1hop-8MB", INCONCLUSIVE, None, (None, None, None)),
]
DUET_BY_RATIO = [DUET_CELLS[i][0] for i in (2, 1, 3, 0, 4)]  # the one without a ratio last
DUET_SIDES = {
    "A": {
        "ref": None,
        "commit": "a" * 40,
        "root": ".",
        "python": "python3",
        "python_version": "3.11.7",
        "packages": {"flask": "3.1.0", "werkzeug": "3.1.3", "gunicorn": "23.0.0"},
    },
    "B": {
        "ref": "HEAD~1",
        "commit": "b" * 40,
        "root": ".upload-against/b",
        "python": "python3",
        "python_version": "3.11.7",
        "packages": {"flask": "3.1.0", "werkzeug": "3.0.6", "gunicorn": "23.0.0"},
    },
}


def duet_figures(cell, verdict, factor, ends):
    """Return what a duet records of a cell in extra_info and in upload_bench.duet.cells."""
    over = factor is None
    b_rounds = [] if over else [t * factor for t in DUET_A_ROUNDS]
    why = (
        "both sides went over their budget (A at 0.50 MB/s, B at 0.40 MB/s)"
        if over
        else f"B/A {ends[0]:.3f} ({ends[1]:.3f}-{ends[2]:.3f}), p adjusted 0.002"
    )
    return {
        "pairs": 0 if over else len(DUET_A_ROUNDS),
        "paired_ratio": ends[0],
        "paired_ratio_ci_low": ends[1],
        "paired_ratio_ci_high": ends[2],
        "paired_p": None if over else 0.0001,
        "paired_p_adjusted": None if over else 0.002,
        "verdict": verdict,
        "verdict_why": why,
        "duet_orders": "AB" * 5,
        "against_rounds": b_rounds,
        "a_MBps": 0.5 if over else 8 / statistics.median(DUET_A_ROUNDS),
        "b_MBps": 0.4 if over else 8 / statistics.median(b_rounds),
        "a_over_budget": over,
        "b_over_budget": over,
    }


def duet_benchmark(cell, figures):
    method, deployment, _, size = cell.split("-")
    a_rounds = [16.0] if figures["a_over_budget"] else DUET_A_ROUNDS
    return {
        "name": f"test_upload[{cell}]",
        "fullname": f"tests/test_upload_benchmarks.py::test_upload[{cell}]",
        "extra_info": {
            "bytes": 8 * MiB,
            "size": size,
            "method": method,
            "deployment": deployment,
            "hops": 1,
            "flask_version": "3.1.0",
            "werkzeug_version": "3.1.3",
            "deployment_versions": {deployment: "23.0.0"},
            "limit_rounds": [0.01] * len(a_rounds),
            "against": DUET_SIDES["B"],
            "duet_seed": 12345,
            **figures,
        },
        "stats": {"median": statistics.median(a_rounds), "rounds": len(a_rounds), "data": list(a_rounds)},
    }


def duet_run():
    """Return a run of a duet: side A's rounds in stats.data, side B's in extra_info against_rounds."""
    figures = {row[0]: duet_figures(*row) for row in DUET_CELLS}
    cells = [
        {
            "test": f"tests/test_upload_benchmarks.py::test_upload[{cell}]",
            "cell": cell,
            "bytes": 8 * MiB,
            **figures[cell],
            "a_rounds": [] if figures[cell]["a_over_budget"] else DUET_A_ROUNDS,
        }
        for cell, *_ in DUET_CELLS
    ]
    duet = {
        "sides": DUET_SIDES,
        "seed": 12345,
        "q": 0.05,
        "min_effect": 0.05,
        "pairs_floor": 14,
        "counts": {"slower": 1, "faster": 1, "unchanged": 1, "inconclusive": 2},
        "cells": cells,
    }
    return {
        "machine_info": {"node": "vm", "python_version": "3.11.7", "cpu": {"brand_raw": "AMD EPYC", "count": 2}},
        "commit_info": {"id": "a" * 40, "dirty": True},
        "datetime": "2026-01-02T03:04:05+00:00",
        "version": "5.1.0",
        "benchmarks": [duet_benchmark(cell, figures[cell]) for cell, *_ in DUET_CELLS],
        "upload_bench": {"skipped": [], "failed": [], "duet": duet},
    }


@pytest.fixture
def duet_report(tmp_path):
    """The report of the duet run: (its Markdown, its output dir)."""
    out = tmp_path / "out"
    report = write_report([write_json(tmp_path / "duet.json", duet_run())], out)
    return report.read_text(), out


def test_duet_section_names_the_sides_what_differs_and_the_rule(duet_report):
    section = duet_report[0].split("## Duet: B against A", 1)[1].split("\n## ", 1)[0]
    assert (
        "Side A: this checkout, commit aaaaaaaaaaaa, Python 3.11.7. Side B: `HEAD~1`, commit bbbbbbbbbbbb, "
        "Python 3.11.7. Packages that differ: werkzeug 3.1.3 → 3.0.6."
    ) in section
    for rule in (
        "(seed 12345)",
        "at most q = 0.05",
        "minimum effect of 5% (×1.05 either way)",
        "below the pairs floor of 14 pairs",
    ):
        assert rule in section
    assert "Verdicts: slower 1, faster 1, unchanged 1, inconclusive 2." in section
    assert duet_report[0].index("## Duet: B against A") < duet_report[0].index("## Conclusions")


def test_duet_table_is_sorted_by_ratio_and_carries_the_verdicts(duet_report):
    rows = table_rows(duet_report[0], "## Duet: B against A")
    assert list(rows[0]) == [
        "Cell", "A MB/s", "B MB/s", "Pairs", "B/A time (95% interval)", "p adjusted", "Could see", "Verdict"
    ]  # fmt: skip
    assert [row["Cell"] for row in rows] == DUET_BY_RATIO
    by_cell = {row["Cell"]: row for row in rows}
    verdicts = {cell: verdict for cell, verdict, _, _ in DUET_CELLS}
    assert by_cell["request.files-werkzeug-1hop-8MB"]["Verdict"] == "**slower**"
    assert by_cell["request.get_data()-werkzeug-1hop-8MB"]["Verdict"] == "**faster**"
    assert by_cell["request.form-werkzeug-1hop-8MB"]["Verdict"] == (
        "unchanged (B/A 1.000 (0.980-1.020), p adjusted 0.002)"
    )
    for cell in ("request.files-gunicorn-1hop-8MB", "request.form-gunicorn-1hop-8MB"):
        assert by_cell[cell]["Verdict"].startswith(f"{verdicts[cell]} (")
    slower = by_cell["request.files-werkzeug-1hop-8MB"]
    assert slower["B/A time (95% interval)"] == "1.500× (1.450 … 1.550)"
    assert (slower["Pairs"], slower["p adjusted"]) == ("10", "0.002")
    assert slower["Could see"] == DASH  # a run from before paired_mde
    assert float(slower["A MB/s"]) == pytest.approx(1.5 * float(slower["B MB/s"]), rel=0.01)
    over = by_cell["request.form-gunicorn-1hop-8MB"]
    assert (over["A MB/s"], over["B MB/s"], over["B/A time (95% interval)"], over["p adjusted"]) == (
        "0.5 (over budget)",
        "0.4 (over budget)",
        "–",
        "–",
    )


def test_duet_forest_plot_is_a_small_png_of_the_cells_with_a_ratio(duet_report):
    markdown, out = duet_report
    assert "![B/A per cell of the duet](duet-forest.png)" in markdown
    assert "The forest plot draws 4 of the 5 cells" in markdown
    assert "1 without a ratio (over budget on both sides, failed, no pair) is left out." in markdown
    assert_valid_png(out / "duet-forest.png")
    assert (out / "duet-forest.png").stat().st_size <= REPORT_MAX_PNG_BYTES


def test_forest_plot_has_a_row_per_cell_by_ratio_a_style_per_verdict_and_the_effect_lines():
    cells = forest_rows(duet_run()["upload_bench"]["duet"]["cells"])
    cells = sorted(cells, key=lambda c: c["paired_ratio"])
    cells[0] = dict(cells[0], paired_mde=1.08)  # the made-up run is from before paired_mde but for this one
    fig = duet_forest_figure(cells, 0.05, "vm; 2026-01-02")
    axes, right = fig.axes
    assert [label.get_text() for label in axes.get_yticklabels()] == DUET_BY_RATIO[:4]
    # the smallest change each row could have seen, beside it on the right
    assert [label.get_text() for label in right.get_yticklabels()] == [could_see(cell) for cell in cells]
    assert [label.get_text() for label in right.get_yticklabels()][:2] == ["×1.08", DASH]
    assert right.get_ylim() == axes.get_ylim()
    assert axes.get_ylim()[0] > axes.get_ylim()[1]  # the first row on top, as in the table
    assert axes.get_xscale() == "log"
    lines = sorted(line.get_xdata()[0] for line in axes.lines if list(line.get_ydata()) == [0, 1])  # axvline
    assert lines == pytest.approx([1 / 1.05, 1, 1.05])
    styles = legend_styles(fig)
    assert set(styles) == {
        "slower (1)",
        "faster (1)",
        "unchanged (1)",
        "inconclusive (1)",
        "minimum effect, ×1.05 either way",
    }
    verdict_styles = [style for label, style in styles.items() if "(1)" in label]
    assert len({colour for colour, _, _ in verdict_styles}) == len({marker for _, marker, _ in verdict_styles}) == 4
    fig.clf()


def test_a_forest_plot_of_many_cells_keeps_the_changed_then_the_farthest_from_1_and_says_so():
    unchanged = [
        {"cell": f"same{i}", "paired_ratio": 1 + i / 1000, "verdict": DUET_UNCHANGED} for i in range(FOREST_ROWS)
    ]
    changed = [
        {"cell": "slow", "paired_ratio": 1.06, "verdict": SLOWER},
        {"cell": "gone", "verdict": INCONCLUSIVE},
        {"cell": "unsure", "paired_ratio": 1.01, "verdict": INCONCLUSIVE},
    ]
    cells = [changed[0], *unchanged, *changed[1:]]
    assert forest_rows(unchanged) == unchanged  # up to FOREST_ROWS: every cell with a ratio, in the order given
    shown = forest_rows(cells)
    assert len(shown) == FOREST_ROWS
    # slower first, then inconclusive, then the unchanged farthest from 1: the two nearest 1 are left out
    assert [cell["cell"] for cell in shown] == ["slow", *(f"same{i}" for i in range(2, FOREST_ROWS)), "unsure"]
    note = forest_note(cells, shown)
    assert f"draws {FOREST_ROWS} of the {FOREST_ROWS + 3} cells" in note
    assert "1 without a ratio (over budget on both sides, failed, no pair) is left out." in note
    assert (
        f"Of the {FOREST_ROWS + 2} with a ratio, more than {FOREST_ROWS}, it draws the slower and faster first, "
        "then the inconclusive, then the unchanged, each farthest from 1× first: 2 are left out"
    ) in note


def test_ratio_ticks_keep_1_and_stay_apart_on_any_span():
    assert ratio_ticks(0.9, 1.2) == pytest.approx([1 / 1.1, 1 / 1.05, 1, 1.05, 1.1])
    wide = ratio_ticks(0.01, 100)
    assert 1 in wide and 100 in wide and 1.05 not in wide
    assert all(b / a >= (100 / 0.01) ** (1 / 8) for a, b in zip(wide, wide[1:], strict=False))


def test_a_run_without_a_duet_has_no_duet_section(tmp_path):
    report = write_report([STORED_RUN], tmp_path / "out").read_text()
    assert "## Duet" not in report and "duet-forest.png" not in report
    assert not (tmp_path / "out" / "duet-forest.png").exists()
    assert "## Conclusions" in report


def test_compare_of_one_duet_run_compares_side_b_with_side_a(tmp_path):
    markdown = compare(tmp_path, duet_run())
    assert "## `B` against `A`" in markdown
    assert "Side B (after) against side A (before) of the duet in `run0.json`." in markdown
    assert "Compared by time: each round's time in seconds." in markdown
    assert "werkzeug (3.1.3 → 3.0.6)" in markdown  # the sides' own versions
    assert "Left out, over budget on a side: `test_upload[request.form-gunicorn-1hop-8MB]`." in markdown
    rows = compare_rows(markdown, "benchmarks flagged")
    assert set(rows) == {f"test_upload[{cell}]" for cell in DUET_BY_RATIO[:4]}
    slower = rows["test_upload[request.files-werkzeug-1hop-8MB]"]
    assert slower["Changed"] == "**slower**" and slower["Change (95% interval)"].startswith("+50.0% (")
    assert_close_to_displayed(slower["Median before"], statistics.median(DUET_A_ROUNDS))
    assert_close_to_displayed(slower["Median after"], 1.5 * statistics.median(DUET_A_ROUNDS))
    assert rows["test_upload[request.form-werkzeug-1hop-8MB]"]["Changed"] == "no"
    assert rows["test_upload[request.get_data()-werkzeug-1hop-8MB]"]["Changed"] == "**faster**"
    assert rows["test_upload[request.files-gunicorn-1hop-8MB]"]["Changed"] == "no"  # 8% is below the 25% effect
    summary = compare(tmp_path, tmp_path / "run0.json", options=["--summary"])
    assert summary == "2 of 4 benchmarks flagged (slower 1, faster 1, inconclusive 0): B against A, by time\n"


def test_the_sides_of_a_duet_take_side_a_from_the_duet_without_saved_rounds(tmp_path):
    run = duet_run()
    for bench in run["benchmarks"]:
        del bench["stats"]["data"]  # --benchmark-autosave without --benchmark-save-data
    sources, by, _ = compared_sources([write_json(tmp_path / "duet.json", run)])
    (a_label, side_a), (b_label, side_b) = sources
    assert (str(a_label), str(b_label), by) == ("A", "B", "time")
    [a, b] = [
        next(x for x in side["benchmarks"] if x["name"] == "test_upload[request.files-werkzeug-1hop-8MB]")
        for side in (side_a, side_b)
    ]
    assert a["stats"]["data"] == DUET_A_ROUNDS and b["stats"]["data"] == [t * 1.5 for t in DUET_A_ROUNDS]
    assert b["stats"]["median"] == pytest.approx(1.5 * statistics.median(DUET_A_ROUNDS))
    assert (a["extra_info"]["werkzeug_version"], b["extra_info"]["werkzeug_version"]) == ("3.1.3", "3.0.6")
    assert "limit_rounds" not in b["extra_info"] and "deployment_versions" not in b["extra_info"]
    assert side_b["commit_info"] == {"id": "b" * 40} and side_a["commit_info"]["id"] == "a" * 40


def test_compare_of_one_duet_run_by_fraction_is_refused_with_why(tmp_path):
    path = write_json(tmp_path / "duet.json", duet_run())
    result = report_command("--compare", path, "--compare-by", "fraction", "--output-dir", tmp_path / "out")
    assert_one_line_error(result, path, "the sides of a duet are compared by time, not by fraction")
    assert not (tmp_path / "out").exists()


def test_a_side_whose_final_hop_ran_in_a_container_says_so():
    side = {"ref": None, "commit": "0" * 40, "python_version": "3.11.7"}
    assert "container" not in side_text(side)
    container = {"engine": "podman", "network": "bridge", "storage": "overlay"}
    assert side_text({**side, "container": container}).endswith(
        "its final hop in a podman container (bridge network, overlay storage)"
    )
