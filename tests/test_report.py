"""The report command on JSON from real tiny runs of the suite: tables, plots, compare, bad input."""

import copy
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.data.sizes import MiB
from fixtures.report.compare import (
    FASTER,
    INCONCLUSIVE,
    MIN_ROUNDS_TO_COMPARE,
    SLOWER,
    UNCHANGED,
    compare_runs,
    compared_sources,
    summary_line,
)
from fixtures.report.document import write_report
from fixtures.report.duet import FOREST_ROWS, duet_forest_figure, forest_note, forest_rows, ratio_ticks
from fixtures.report.figures import SeriesStyle, memory_figure, spread_by_size, throughput_figure
from fixtures.report.heatmaps import not_run, short_reason
from fixtures.report.model import Benchmark, benchmarks_of
from fixtures.report.output import MAX_PNG_BYTES as REPORT_MAX_PNG_BYTES
from fixtures.report.plotting import figure_caption
from fixtures.report.tables import CONCLUSIONS_HEADER
from fixtures.run.duet import UNCHANGED as DUET_UNCHANGED
from fixtures.run.stats import DEFAULT_FDR, median_interval
from fixtures.uploads.methods import FAMILIES, METHODS
from tests.conftest import ROOT, SUITE_ENV, suite_command
from tests.data.slow_method import scaled

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 200 * 1024
TINY_RUN = [
    "tests/test_upload_benchmarks.py",
    "--benchmark-only",
    "--upload-sizes=1MB,2MB",
    "--upload-methods=request.stream-chunked,request.files",
    "--upload-deployments=werkzeug",
    "--upload-hops=1,2",
    "--upload-rounds=4",
]
TIME_KEYS = ("min", "max", "mean", "median", "q1", "q3", "ld15iqr", "hd15iqr")
STORED_RUN = ROOT / "tests" / "data" / "run-1MB-2MB-16rounds.json"


# Real runs of the suite, once per session


def run_tiny_suite(tmp, data_dir, *args):
    """Run the benchmark matrix at 1MB and 2MB in a subprocess, as a user would."""
    result = subprocess.run(
        suite_command(tmp, data_dir, *TINY_RUN, *args),
        cwd=ROOT,
        env=SUITE_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory, upload_options):
    """Two real runs: one written with --benchmark-json, one with --benchmark-autosave into a project dir."""
    tmp = tmp_path_factory.mktemp("report-runs")
    first = tmp / "first.json"
    run_tiny_suite(tmp / "first", upload_options.data_dir, f"--benchmark-json={first}")
    project = tmp / "project"
    run_tiny_suite(
        tmp / "second",
        upload_options.data_dir,
        "--benchmark-autosave",
        f"--benchmark-storage={project / '.benchmarks'}",
    )
    [second] = (project / ".benchmarks").glob("*/0001_*.json")
    return first, second


@pytest.fixture(scope="session")
def first_run(real_runs):
    return real_runs[0]


@pytest.fixture(scope="session")
def first_json(first_run):
    return json.loads(first_run.read_text())


@pytest.fixture(scope="session")
def first_report(first_run, tmp_path_factory):
    """The report of the first real run: (its Markdown, its output dir)."""
    out = tmp_path_factory.mktemp("report-out")
    result = report_command(first_run, "--output-dir", out)
    assert result.returncode == 0, result.stderr
    return (out / "report.md").read_text(), out


# Helpers


def report_command(*args, cwd=ROOT):
    """Run `python -m fixtures.report` as a user would."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "fixtures.report", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def table_rows(markdown, heading):
    """Return the rows, as {column: cell}, of the first table after a heading."""
    lines = markdown.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    header = cells(table[0])
    return [dict(zip(header, cells(line), strict=False)) for line in table[2:]]


def cells(line):
    return [cell.strip() for cell in line.strip()[1:-1].split("|")]


def seconds(cell):
    """Parse '21.79 ms' or '5.196 s' back into seconds."""
    number, unit = cell.split()
    return float(number) / 1000 if unit == "ms" else float(number)


def assert_close_to_displayed(cell, value):
    """The cell shows the value to its last printed digit."""
    shown = seconds(cell)
    digits = cell.split()[0].split(".")[1]
    scale = 1000 if cell.endswith("ms") else 1
    assert abs(shown - value) <= 0.5 * 10 ** -len(digits) / scale + 1e-12, (cell, value)


def conclusions_row(rows, extra):
    """Return the table row of a benchmark: baselines show no deployment ('-') and no hops (0) as '–'."""
    deployment = extra.get("deployment") if extra.get("deployment") not in (None, "", "-") else "–"
    hops = str(extra["hops"]) if extra.get("hops") else "–"
    [row] = [
        r
        for r in rows
        if (r["Size"], r["Method"], r["Deployment"], r["Hops"]) == (extra["size"], extra["method"], deployment, hops)
    ]
    return row


def expected_median_ci(bench):
    """The interval of the median as the suite recorded it, else from the rounds; 4 rounds reach only 87.5%."""
    extra, stats = bench["extra_info"], bench["stats"]
    if "median_ci_low" in extra:
        low, high, level = extra["median_ci_low"], extra["median_ci_high"], extra["median_ci_confidence"]
    else:
        interval = median_interval(stats["data"])
        low, high, level = interval.low, interval.high, interval.confidence
    assert level == pytest.approx(0.875)  # 1 - 2/16: the whole range of 4 rounds
    text = f"{(low / stats['median'] - 1) * 100:+.0f}% … {(high / stats['median'] - 1) * 100:+.0f}%"
    return f"{text} (at 88%)"


def is_baseline(bench):
    return bench["extra_info"]["method"] in ("disk", "socket")


def run_with(run, benchmarks):
    return {**copy.deepcopy(run), "benchmarks": benchmarks}


def assert_valid_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert 5_000 < len(data) <= MAX_PNG_BYTES
    import matplotlib.image

    height, width = matplotlib.image.imread(path).shape[:2]
    assert height >= 200 and width >= 300


def with_memory_and_baselines(run):
    """Return the run's uploads with peak RSS on each, plus a disk and a socket baseline per size."""
    run = copy.deepcopy(run)
    run["benchmarks"] = [b for b in run["benchmarks"] if not is_baseline(b)]
    for number, bench in enumerate(run["benchmarks"]):
        bench["extra_info"].update(server_peak_rss=(50 + number) * MiB, client_peak_rss=(30 + number) * MiB)
        bench["extra_info"].pop("fraction_of_socket_limit", None)
    template = run["benchmarks"][0]
    for method, factor in (("disk", 0.5), ("socket", 0.25)):
        for size in (1, 2):
            baseline = copy.deepcopy(template)
            baseline["name"] = baseline["fullname"] = f"test_report_baseline[{method}-{size}MB]"
            baseline["extra_info"] = {
                "bytes": size * MiB,
                "size": f"{size}MB",
                "method": method,
                "deployment": "-",
                "hops": 0,
            }
            for key in TIME_KEYS:
                baseline["stats"][key] *= factor
            run["benchmarks"].append(baseline)
    return run


# The report of a real run


@pytest.mark.slow
def test_conclusions_table_has_a_row_per_benchmark_with_its_numbers(first_report, first_json):
    markdown, _ = first_report
    rows = table_rows(markdown, "## Conclusions")
    assert len(rows) == len(first_json["benchmarks"])
    assert len([b for b in first_json["benchmarks"] if not is_baseline(b)]) == 8  # 2 sizes x 2 methods x 2 hops
    assert list(rows[0]) == CONCLUSIONS_HEADER
    for bench in first_json["benchmarks"]:
        extra, stats = bench["extra_info"], bench["stats"]
        row = conclusions_row(rows, extra)
        assert_close_to_displayed(row["Median time"], stats["median"])
        assert row["Median 95% CI"] == expected_median_ci(bench)
        assert_close_to_displayed(row["IQR"], stats["iqr"])
        assert abs(float(row["MB/s"]) - extra["bytes"] / stats["median"] / MiB) <= 0.05
        if not is_baseline(bench):
            assert row["md5 verified"] == f"yes ({extra['md5_verified']}/{stats['rounds']})" == "yes (4/4)"
        for column, key in (("Server peak RSS", "server_peak_rss"), ("Client peak RSS", "client_peak_rss")):
            expected = f"{extra[key] / MiB:.1f} MB" if extra.get(key) is not None else "–"
            assert row[column] == expected


@pytest.mark.slow
def test_conclusions_table_is_sorted_by_size(first_report):
    sizes = [row["Size"] for row in table_rows(first_report[0], "## Conclusions")]
    assert sizes == sorted(sizes, key=lambda size: int(size.removesuffix("MB")))


@pytest.mark.slow
def test_hops_table_gives_1_and_2_hop_times_and_their_ratio(first_report, first_json):
    rows = table_rows(first_report[0], "## Hops")
    assert list(rows[0]) == ["Size", "Method", "Deployment", "1 hop", "2 hops", "2 hops / 1 hop"]
    assert len(rows) == 4  # 2 sizes x 2 methods
    medians = {
        (b["extra_info"]["size"], b["extra_info"]["method"], b["extra_info"]["hops"]): b["stats"]["median"]
        for b in first_json["benchmarks"]
        if not is_baseline(b)
    }
    for row in rows:
        one, two = medians[row["Size"], row["Method"], 1], medians[row["Size"], row["Method"], 2]
        assert_close_to_displayed(row["1 hop"], one)
        assert_close_to_displayed(row["2 hops"], two)
        assert row["2 hops / 1 hop"] == f"{two / one:.2f}×"


@pytest.mark.slow
def test_environment_names_machine_python_versions_and_date(first_report, first_json):
    environment = first_report[0].split("## Environment", 1)[1]
    extra = first_json["benchmarks"][0]["extra_info"]
    machine = first_json["machine_info"]
    for expected in (
        first_json["datetime"],
        machine["python_version"],
        machine["node"],
        f"pytest-benchmark {first_json['version']}",
        f"flask {extra['flask_version']}",
        f"werkzeug {extra['werkzeug_version']}",
        f"requests {extra['requests_version']}",
    ):
        assert expected in environment
    if first_json["commit_info"].get("id"):
        assert first_json["commit_info"]["id"][:12] in environment


@pytest.mark.slow
def test_throughput_plot_is_a_small_valid_png_shown_in_the_report(first_report):
    markdown, out = first_report
    assert "![Median throughput against file size](throughput.png)" in markdown
    assert_valid_png(out / "throughput.png")


@pytest.mark.slow
def test_without_rss_data_the_memory_plot_is_skipped_with_a_note(first_json, tmp_path):
    run = copy.deepcopy(first_json)
    for bench in run["benchmarks"]:
        bench["extra_info"].pop("server_peak_rss", None)
        bench["extra_info"].pop("client_peak_rss", None)
    out = tmp_path / "out"
    assert report_command(write_json(tmp_path / "run.json", run), "--output-dir", out).returncode == 0
    assert (
        "_No peak-memory plot: the runs recorded no server_peak_rss or client_peak_rss._"
        in (out / "report.md").read_text()
    )
    assert not (out / "memory.png").exists()


@pytest.mark.slow
def test_memory_plot_and_baselines_when_the_run_has_them(first_json, tmp_path):
    out = tmp_path / "out"
    path = write_json(tmp_path / "run.json", with_memory_and_baselines(first_json))
    assert report_command(path, "--output-dir", out).returncode == 0
    markdown = (out / "report.md").read_text()
    assert "![Client and server peak RSS against file size](memory.png)" in markdown
    assert_valid_png(out / "memory.png")
    assert_valid_png(out / "throughput.png")
    rows = table_rows(markdown, "## Conclusions")
    baselines = [(r["Method"], r["Deployment"], r["Hops"]) for r in rows[:2]]
    assert baselines == [("disk", "–", "–"), ("socket", "–", "–")]
    assert rows[1]["Fraction of socket limit"] == "100%"
    first_upload = json.loads(path.read_text())["benchmarks"][0]
    row = conclusions_row(rows, first_upload["extra_info"])
    assert row["Fraction of socket limit"] == "25%"  # its socket baseline took 1/4 of its time
    assert row["Server peak RSS"] == "50.0 MB" and row["Client peak RSS"] == "30.0 MB"


def legend_styles(fig):
    """Return {label: (colour, marker)} of every series drawn in a figure's panels, once per label."""
    import matplotlib.colors

    styles = {}
    for axes in fig.axes:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=False):
            line = handle[0] if isinstance(handle, tuple) else handle  # an errorbar's data line
            style = (matplotlib.colors.to_hex(line.get_color()), line.get_marker(), line.get_linestyle())
            assert styles.setdefault(label, style) == style, f"{label} drawn two ways"
    return styles


def assert_signed(fig, run):
    """The figure names the machine and the date of the run."""
    text = fig.get_suptitle()
    assert run["machine_info"]["cpu"]["brand_raw"] in text and run["datetime"][:10] in text


def test_throughput_plot_has_a_panel_per_method_family_and_one_style_per_method():
    run = json.loads((ROOT / "tests" / "data" / "aa-1.json").read_text())
    benchmarks = benchmarks_of([run])
    fig = throughput_figure(benchmarks, figure_caption([run]))
    assert [axes.get_title() for axes in fig.axes if axes.get_visible()] == list(FAMILIES)
    styles = legend_styles(fig)
    methods = {b["extra_info"]["method"] for b in run["benchmarks"]} - {"disk", "socket"}
    assert set(styles) == methods | {"socket (baseline)"}  # the limit only: the disk copy is no bound
    assert len({colour for colour, _, _ in styles.values()}) == len(styles)
    assert len({marker for _, marker, _ in styles.values()}) == len(styles)
    assert fig.axes[0].get_yscale() == "log"  # writelines at 1 MB/s beside the limit at 1,600
    assert_signed(fig, run)


def test_a_method_keeps_its_colour_and_marker_from_figure_to_figure():
    every = SeriesStyle.for_methods([m.name for m in METHODS.values()]).styles
    some = SeriesStyle.for_methods(["request.files", "request.get_data()"]).styles
    assert some == {name: every[name] for name in some}
    assert len({(style["color"], style["marker"]) for style in every.values()}) == len(every)
    assert len({style["color"] for style in every.values()}) == len(every)  # ten methods, ten colours


def test_a_run_of_one_size_gets_no_throughput_against_size_plot(tmp_path):
    run = json.loads((ROOT / "tests" / "data" / "aa-1.json").read_text())
    run["benchmarks"] = [b for b in run["benchmarks"] if b["extra_info"]["size"] == "8MB"]
    report = write_report([write_json(tmp_path / "run.json", run)], tmp_path / "out").read_text()
    assert "_No throughput-against-size plot: the runs have one size (the heatmaps show it)._" in report
    assert not (tmp_path / "out" / "throughput.png").exists()


def test_a_line_across_sizes_takes_only_the_chains_measured_at_every_size():
    run = json.loads(STORED_RUN.read_text())  # request.files and the chunked copy, 2 chains, at 1MB and 2MB
    kept = [
        b
        for b in run["benchmarks"]
        if not (b["extra_info"]["size"] == "2MB" and b["extra_info"].get("deployment") == "gunicorn")
    ]
    benchmarks = benchmarks_of([run_with(run, kept)])
    line = spread_by_size(benchmarks, "request.files", Benchmark.rate)
    werkzeug = [b for b in benchmarks if b.method == "request.files" and b.deployment == "werkzeug"]
    assert line == {b.bytes: [b.rate()] for b in werkzeug}  # gunicorn's 1MB cell has no 2MB to compare with
    alone = spread_by_size([b for b in benchmarks if b.size == "1MB"], "request.files", Benchmark.rate)
    assert len(alone[MiB]) == 2  # one size: every chain counts


@pytest.mark.slow
def test_memory_plot_signs_itself_and_gives_each_method_one_style(first_json):
    run = with_memory_and_baselines(first_json)
    fig = memory_figure(benchmarks_of([run]), figure_caption([run]))
    styles = legend_styles(fig)
    assert set(styles) == {"request.stream (chunked copy)", "request.files"}  # the baselines have no RSS here
    assert len({colour for colour, _, _ in styles.values()}) == len(styles)
    assert [axes.get_title() for axes in fig.axes] == ["client peak RSS", "server peak RSS"]
    assert_signed(fig, run)


@pytest.mark.slow
def test_recorded_fraction_of_socket_limit_is_shown_as_recorded(first_json, tmp_path):
    run = copy.deepcopy(first_json)
    run["benchmarks"][0]["extra_info"]["fraction_of_socket_limit"] = 0.4242  # as the suite records it
    out = tmp_path / "out"
    assert report_command(write_json(tmp_path / "run.json", run), "--output-dir", out).returncode == 0
    rows = table_rows((out / "report.md").read_text(), "## Conclusions")
    assert conclusions_row(rows, run["benchmarks"][0]["extra_info"])["Fraction of socket limit"] == "42%"


@pytest.mark.slow
def test_deployment_versions_are_listed(first_json, tmp_path):
    run = copy.deepcopy(first_json)
    run["benchmarks"][0]["extra_info"]["deployment_versions"] = {"gunicorn": "23.0.0", "waitress": "3.0.2"}
    out = tmp_path / "out"
    assert report_command(write_json(tmp_path / "run.json", run), "--output-dir", out).returncode == 0
    environment = (out / "report.md").read_text().split("## Environment", 1)[1]
    assert "gunicorn 23.0.0" in environment and "waitress 3.0.2" in environment


@pytest.mark.slow
def test_several_files_are_merged_later_benchmarks_replacing_earlier(real_runs, tmp_path):
    first, second = real_runs
    out = tmp_path / "out"
    assert report_command(first, second, "--output-dir", out).returncode == 0
    markdown = (out / "report.md").read_text()
    second_json = json.loads(second.read_text())
    rows = table_rows(markdown, "## Conclusions")
    assert len(rows) == len(second_json["benchmarks"])
    for bench in second_json["benchmarks"]:
        assert_close_to_displayed(conclusions_row(rows, bench["extra_info"])["Median time"], bench["stats"]["median"])
    # files outside the working directory are named by their file name: no path of the machine in a report
    assert f"### `{first.name}`" in markdown and f"### `{second.name}`" in markdown
    assert str(first.parent) not in markdown


def test_median_interval_is_shown_from_the_saved_rounds_or_as_recorded(tmp_path):
    run = json.loads(STORED_RUN.read_text())
    recorded, unsaved = run["benchmarks"][4], run["benchmarks"][5]
    recorded["extra_info"].update(
        median_ci_low=recorded["stats"]["median"] * 0.9,
        median_ci_high=recorded["stats"]["median"] * 1.2,
        median_ci_confidence=0.96,
    )
    del unsaved["stats"]["data"]
    out = tmp_path / "out"
    assert report_command(write_json(tmp_path / "run.json", run), "--output-dir", out).returncode == 0
    rows = table_rows((out / "report.md").read_text(), "## Conclusions")
    for bench in run["benchmarks"]:
        cell = conclusions_row(rows, bench["extra_info"])["Median 95% CI"]
        if bench is recorded:
            assert cell == "-10% … +20%"
        elif bench is unsaved:
            assert cell == "–"
        else:  # 16 rounds: the 4th and 13th of them cover the median with at least 95%
            data = sorted(bench["stats"]["data"])
            median = bench["stats"]["median"]
            assert cell == f"{(data[3] / median - 1) * 100:+.0f}% … {(data[12] / median - 1) * 100:+.0f}%"


# The newest saved run is the default


@pytest.mark.slow
def test_without_file_the_newest_autosaved_run_is_reported(real_runs, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(real_runs[1].parent.parent.parent, project)
    result = report_command(cwd=project)
    assert result.returncode == 0, result.stderr
    assert real_runs[1].name in result.stdout
    assert (project / "report" / "report.md").is_file()
    assert_valid_png(project / "report" / "throughput.png")


@pytest.mark.slow
def test_a_later_saved_run_wins(real_runs, tmp_path):
    storage = tmp_path / "project" / ".benchmarks"
    shutil.copytree(real_runs[1].parent.parent, storage)
    [saved] = storage.glob("*/0001_*.json")
    later = saved.with_name("0002_later.json")
    write_json(later, {**json.loads(saved.read_text()), "datetime": "2099-01-01T00:00:00+00:00"})
    os.utime(later, ns=(time.time_ns(), saved.stat().st_mtime_ns + 10**9))
    out = tmp_path / "out"
    result = report_command("--storage", storage, "--output-dir", out)
    assert result.returncode == 0, result.stderr
    assert "0002_later.json" in result.stdout
    assert "2099-01-01T00:00:00+00:00" in (out / "report.md").read_text()


# Comparing runs: a real run of the suite saved with --benchmark-save-data, trimmed to the keys read
# (tests/data/README.md says how it was made), and copies of it changed in known ways


@pytest.fixture(scope="session")
def stored_run():
    return json.loads(STORED_RUN.read_text())


def slowed(run, factor, method=None):
    """Return a copy of the run with one method's rounds (every benchmark's, without a method) times `factor`."""
    return run_with(
        run,
        [
            scaled(b, factor) if method in (None, b["extra_info"]["method"]) else copy.deepcopy(b)
            for b in run["benchmarks"]
        ],
    )


def verdicts(comparisons):
    return {c.name: c.verdict for c in comparisons}


def judge(old, new, **settings):
    return compare_runs(old, new, old_label="old.json", new_label="new.json", **settings)


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


# The compare command


def compare(tmp_path, *runs, options=()):
    """Run --compare on runs (paths or JSON data) and return the stdout; compare.md must hold the same."""
    paths = [
        run if not isinstance(run, dict) else write_json(tmp_path / f"run{number}.json", run)
        for number, run in enumerate(runs)
    ]
    result = report_command("--compare", *paths, *options, "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    if "--summary" not in options:
        assert (tmp_path / "out" / "compare.md").read_text() == result.stdout
    return result.stdout


def compare_rows(markdown, heading="## "):
    return {row["Benchmark"]: row for row in table_rows(markdown, heading)}


def test_compare_prints_the_rule_then_a_row_per_benchmark(stored_run, tmp_path):
    new = slowed(stored_run, 1.3, "request.files")
    markdown = compare(tmp_path, stored_run, new, options=["--compare-by", "time"])
    rule = (
        "A benchmark is **slower** or **faster** when the Mann–Whitney U test on its rounds gives a p-value of "
        "at most q = 0.05 after the Benjamini–Hochberg adjustment"
    )
    assert markdown.index(rule) < markdown.index("| Benchmark |")
    assert "Compared by time: each round's time in seconds." in markdown
    assert "4 of 12 benchmarks flagged (slower 4, faster 0, inconclusive 0)." in markdown
    rows = compare_rows(markdown)
    assert list(next(iter(rows.values()))) == [
        "Benchmark",
        "Median before",
        "Median after",
        "Change (95% interval)",
        "p (BH)",
        "Changed",
    ]
    for bench in stored_run["benchmarks"]:
        row = rows[bench["name"]]
        assert_close_to_displayed(row["Median before"], statistics.median(bench["stats"]["data"]))
        if bench["extra_info"]["method"] == "request.files":
            assert row["Changed"] == "**slower**" and row["Change (95% interval)"].startswith("+30.0% (")
        else:
            assert row["Changed"] == "no" and row["Change (95% interval)"].startswith("+0.0% (")
            assert row["p (BH)"] == "1.000"


def test_compare_by_fraction_says_so_and_shows_times_the_limit(stored_run, tmp_path):
    markdown = compare(tmp_path, stored_run, slowed(stored_run, 1.3))  # fraction is the default
    assert "Compared by fraction: each round's time divided by the time of the socket limit's transfer" in markdown
    rows = compare_rows(markdown)
    assert rows["test_baseline[socket-1MB]"]["Changed"] == "*inconclusive (the socket limit itself)*"
    assert rows["test_upload[request.files-werkzeug-1hop-1MB]"]["Median before"].endswith("× limit")
    assert "0 of 12 benchmarks flagged (slower 0, faster 0, inconclusive 4)." in markdown


def test_compare_options_change_the_rule_and_the_verdicts(stored_run, tmp_path):
    new = slowed(stored_run, 1.3, "request.files")
    markdown = compare(tmp_path, stored_run, new, options=["--fdr", "0.01", "--min-effect", "0.5"])
    assert "at most q = 0.01 after" in markdown and "changed by at least ×1.5 either way" in markdown
    assert "0 of 12 benchmarks flagged" in markdown


def test_compare_summary_prints_one_line_per_later_run(stored_run, tmp_path):
    old = write_json(tmp_path / "old.json", stored_run)
    same = write_json(tmp_path / "same.json", stored_run)
    slower = write_json(tmp_path / "slower.json", slowed(stored_run, 1.3, "request.files"))
    out = compare(tmp_path, old, same, slower, options=["--summary", "--compare-by", "time"])
    assert out.splitlines() == [
        f"0 of 12 benchmarks flagged (slower 0, faster 0, inconclusive 0): {same} against {old}, by time",
        f"4 of 12 benchmarks flagged (slower 4, faster 0, inconclusive 0): {slower} against {old}, by time",
    ]
    assert "## " in (tmp_path / "out" / "compare.md").read_text()


def test_compare_of_several_runs_gives_a_table_per_later_run(stored_run, tmp_path):
    markdown = compare(
        tmp_path, stored_run, slowed(stored_run, 1.3, "request.files"), stored_run, options=["--compare-by", "time"]
    )
    first, second = markdown.split("## `")[1:]
    # runs outside the working directory are named by their file name: no path of the machine in a report
    assert first.startswith("run1.json` against `run0.json`")
    assert second.startswith("run2.json` against `run0.json`")
    assert str(tmp_path) not in markdown
    assert sum(row["Changed"] == "**slower**" for row in compare_rows(first, "benchmarks flagged").values()) == 4
    assert all(row["Changed"] == "no" for row in compare_rows(second, "benchmarks flagged").values())


def test_compare_lists_benchmarks_present_in_only_one_run(stored_run, tmp_path):
    benches = stored_run["benchmarks"]
    renamed = copy.deepcopy(benches[0])
    renamed["name"] = "test_upload[renamed]"
    renamed["fullname"] = "tests/test_upload_benchmarks.py::test_upload[renamed]"
    markdown = compare(tmp_path, stored_run, run_with(stored_run, [*benches[1:], renamed]))
    assert set(compare_rows(markdown)) == {b["name"] for b in benches[1:]}
    only_before = markdown.split("Only in before", 1)[1].split("Only in after", 1)[0]
    only_after = markdown.split("Only in after", 1)[1]
    assert f"- `{benches[0]['name']}`" in only_before and "renamed" not in only_before
    assert "- `test_upload[renamed]`" in only_after and benches[0]["name"] not in only_after


def test_pytest_benchmark_still_reads_the_runs(stored_run, tmp_path):
    old = write_json(tmp_path / "old.json", stored_run)
    new = write_json(tmp_path / "new.json", slowed(stored_run, 1.3, "request.files"))
    command = Path(sys.executable).with_name("pytest-benchmark")  # the console script of this Python
    result = subprocess.run([command, "compare", old, new], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for bench in stored_run["benchmarks"]:
        assert result.stdout.count(f"{bench['name']} (") == 2  # a line from each run


@pytest.mark.slow
def test_compare_of_real_runs_names_what_is_missing(real_runs, tmp_path):
    first, autosaved = real_runs  # --benchmark-json keeps every round; --benchmark-autosave keeps none by default
    names = {b["name"] for b in json.loads(first.read_text())["benchmarks"]}
    for old, reason in (
        (autosaved, f"no saved rounds in {autosaved.name} (run with --benchmark-save-data)"),
        (first, "4 rounds in first.json, fewer than 5"),
    ):
        markdown = compare(tmp_path / old.stem, old, first)
        rows = compare_rows(markdown)
        assert set(rows) == names
        assert {row["Changed"] for row in rows.values()} == {f"*inconclusive ({reason})*"}
        assert f"0 of {len(names)} benchmarks flagged (slower 0, faster 0, inconclusive {len(names)})." in markdown


# Bad input: one line on stderr naming the file, exit status 2


def missing_file(tmp_path):
    return tmp_path / "nowhere.json", "no such file"


def not_json(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("median: 3 s\n")
    return path, "not JSON"


def binary_file(tmp_path):
    path = tmp_path / "image.json"
    path.write_bytes(PNG_SIGNATURE + bytes(range(256)))
    return path, "not JSON"


def other_json(tmp_path):
    return write_json(tmp_path / "package.json", {"name": "upload-bench", "tests": []}), "not pytest-benchmark JSON"


def json_list(tmp_path):
    return write_json(tmp_path / "list.json", [1, 2, 3]), "not pytest-benchmark JSON"


def benchmark_without_stats(tmp_path):
    data = {"machine_info": {}, "benchmarks": [{"name": "test_x"}]}
    return write_json(tmp_path / "nostats.json", data), "benchmark 1 has no name or stats"


def no_benchmarks(tmp_path):
    data = {"machine_info": {"node": "vm"}, "commit_info": {}, "benchmarks": [], "datetime": "", "version": "5.2.3"}
    return write_json(tmp_path / "empty.json", data), "the run has no benchmarks"


def a_directory(tmp_path):
    path = tmp_path / "runs.json"
    path.mkdir()
    return path, "is a directory"


BAD_INPUTS = [
    missing_file,
    not_json,
    binary_file,
    other_json,
    json_list,
    benchmark_without_stats,
    no_benchmarks,
    a_directory,
]


def assert_one_line_error(result, path, problem):
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and problem in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("bad_input", BAD_INPUTS, ids=lambda f: f.__name__)
def test_bad_report_input_is_one_line_naming_the_file(bad_input, tmp_path):
    path, problem = bad_input(tmp_path)
    result = report_command(path, "--output-dir", tmp_path / "out")
    assert_one_line_error(result, path, problem)
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.parametrize("bad_input", [missing_file, not_json, other_json, no_benchmarks], ids=lambda f: f.__name__)
def test_bad_compare_input_is_one_line_naming_the_file(bad_input, tmp_path):
    path, problem = bad_input(tmp_path)
    good = tmp_path / "good.json"
    write_json(good, {"machine_info": {}, "benchmarks": [{"name": "t", "stats": {"median": 1.0}}]})
    assert_one_line_error(report_command("--compare", good, path, "--output-dir", tmp_path / "out"), path, problem)
    assert_one_line_error(report_command("--compare", path, good, "--output-dir", tmp_path / "out"), path, problem)


@pytest.mark.parametrize(
    "options, problem",
    [
        (["--fdr", "1.5"], "argument --fdr: '1.5': expected a number between 0 and 1"),
        (["--fdr", "often"], "argument --fdr: 'often': not a number"),
        (["--min-effect", "-0.1"], "argument --min-effect: '-0.1': expected a fraction of at least 0"),
        (["--compare-by", "speed"], "argument --compare-by: invalid choice: 'speed'"),
        (["--summary"], "--summary goes with --compare"),
    ],
)
def test_bad_compare_option_names_the_value_and_what_is_allowed(options, problem, tmp_path):
    compared = ["--compare", STORED_RUN, STORED_RUN] if "--summary" not in options else []
    result = report_command(*compared, *options, "--output-dir", tmp_path / "out")
    assert result.returncode == 2
    assert problem in result.stderr.splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_compare_of_one_run_without_a_duet_says_two_are_needed_or_a_duet(tmp_path):
    result = report_command("--compare", STORED_RUN, "--output-dir", tmp_path / "out")
    assert_one_line_error(
        result,
        STORED_RUN,
        "--compare needs at least 2 runs (OLD.json NEW.json [NEWER.json ...]), "
        "got 1 that holds no duet; one run goes alone only when it holds a duet",
    )
    assert not (tmp_path / "out").exists()


def test_no_saved_run_is_one_line_naming_the_storage(tmp_path):
    storage = tmp_path / ".benchmarks"
    (storage / "Linux-CPython-3.11-64bit").mkdir(parents=True)
    result = report_command("--output-dir", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(result, ".benchmarks", "no saved run")


@pytest.mark.parametrize(
    "chain, short",
    [
        (("uwsgi",), "no socket"),  # the splice method behind a server that keeps its socket
        (("uwsgi",), "no chunked"),  # the chunked generator into uWSGI
        (("gunicorn", "gunicorn"), "relay 411"),  # the chunked generator into a gunicorn relay
    ],
)
def test_every_skip_reason_of_the_registry_has_its_short_form(chain, short):
    reasons = [m.skip_reason(chain) for m in METHODS.values() if m.skip_reason(chain)]
    assert short in {short_reason({"reason": reason}) for reason in reasons}


def test_the_report_draws_a_heatmap_per_size_and_hop_count_with_skipped_cells_marked(tmp_path):
    run = json.loads(STORED_RUN.read_text())
    skipped = {
        "method": "request.stream (os.splice from the server's socket)",
        "deployment": "uwsgi",
        "hops": 1,
        "size": "1MB",
        "reason": "[no-socket] the final hop uwsgi does not give the app its socket",
        "code": "no-socket",
    }
    run["upload_bench"] = {"skipped": [skipped], "failed": []}
    source = tmp_path / "run.json"
    source.write_text(json.dumps(run))
    report = write_report([source], tmp_path / "out").read_text()
    for name in ("heatmap-1MB-1hop.png", "heatmap-2MB-1hop.png"):
        assert f"]({name})" in report
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not_run([run]) == {("request.stream (os.splice from the server's socket)", "uwsgi", 1, "1MB"): "no socket"}
    skipped.pop("code")
    skipped["reason"] = "the final hop uwsgi does not give the app its socket"  # saved before the codes
    assert not_run([run]) == {("request.stream (os.splice from the server's socket)", "uwsgi", 1, "1MB"): "skipped"}


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
    assert list(rows[0]) == ["Cell", "A MB/s", "B MB/s", "Pairs", "B/A time (95% interval)", "p adjusted", "Verdict"]
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
    fig = duet_forest_figure(sorted(cells, key=lambda c: c["paired_ratio"]), 0.05, "vm; 2026-01-02")
    [axes] = fig.axes
    assert [label.get_text() for label in axes.get_yticklabels()] == DUET_BY_RATIO[:4]
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
