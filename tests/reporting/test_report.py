"""The report of real tiny runs of the suite: its tables, plots and environment, and which run it reads."""

import copy
import json
import os
import shutil
import time

import pytest

from fixtures.data.sizes import MiB
from fixtures.processes.host_memory import KEY as HOST_MEMORY_KEY
from fixtures.processes.host_memory import free_page_reporting
from fixtures.report.document import write_report
from fixtures.report.figures import SeriesStyle, memory_figure, spread_by_size, throughput_figure
from fixtures.report.heatmaps import not_run, short_reason
from fixtures.report.model import Benchmark, benchmarks_of
from fixtures.report.plotting import figure_caption
from fixtures.report.tables import CONCLUSIONS_HEADER
from fixtures.uploads.methods import FAMILIES, METHODS
from tests.conftest import ROOT
from tests.reporting.conftest import (
    STORED_RUN,
    assert_close_to_displayed,
    assert_valid_png,
    conclusions_row,
    expected_median_ci,
    is_baseline,
    legend_styles,
    report_command,
    run_with,
    table_rows,
    with_memory_and_baselines,
    write_json,
)

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
    reporting = free_page_reporting()  # this machine's, recorded by the run and said only when there
    assert machine.get(HOST_MEMORY_KEY) == reporting
    assert ("- Memory: " in environment) == (reporting is not None)


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
    assert len({style["color"] for style in every.values()}) == len(every)  # every method its own colour


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


# The marks of cells that did not run


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
