"""The report command on JSON from real tiny runs of the suite: tables, plots, compare, bad input."""

import copy
import itertools
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, SUITE_ENV, suite_command

MiB = 1 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 200 * 1024
TINY_RUN = [
    "tests/test_upload_benchmarks.py", "--benchmark-only",
    "--upload-sizes=1MB,2MB", "--upload-methods=request.stream-chunked,request.files",
    "--upload-deployments=werkzeug", "--upload-hops=1,2", "--upload-rounds=4",
]
TIME_KEYS = ("min", "max", "mean", "median", "q1", "q3", "ld15iqr", "hd15iqr")


# Real runs of the suite, once per session


def run_tiny_suite(tmp, data_dir, *args):
    """Run the benchmark matrix at 1MB and 2MB in a subprocess, as a user would."""
    result = subprocess.run(suite_command(tmp, data_dir, *TINY_RUN, *args), cwd=ROOT, env=SUITE_ENV,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory, upload_options):
    """Two real runs: one written with --benchmark-json, one with --benchmark-autosave into a project dir."""
    tmp = tmp_path_factory.mktemp("report-runs")
    first = tmp / "first.json"
    run_tiny_suite(tmp / "first", upload_options.data_dir, f"--benchmark-json={first}")
    project = tmp / "project"
    run_tiny_suite(tmp / "second", upload_options.data_dir, "--benchmark-autosave",
                   f"--benchmark-storage={project / '.benchmarks'}")
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
    return [dict(zip(header, cells(line))) for line in table[2:]]


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
    [row] = [r for r in rows if (r["Size"], r["Method"], r["Deployment"], r["Hops"])
             == (extra["size"], extra["method"], deployment, hops)]
    return row


def is_baseline(bench):
    return bench["extra_info"]["method"] in ("disk", "socket")


def shifted(bench, by):
    """Return a copy of a benchmark whose every time is `by` seconds longer (same spread)."""
    bench = copy.deepcopy(bench)
    stats = bench["stats"]
    for key in TIME_KEYS:
        stats[key] += by
    stats["data"] = [t + by for t in stats["data"]]
    return bench


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
            baseline["extra_info"] = {"bytes": size * MiB, "size": f"{size}MB", "method": method,
                                      "deployment": "-", "hops": 0}
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
    assert list(rows[0]) == [
        "Size", "Method", "Deployment", "Hops", "Median time", "IQR", "MB/s", "Fraction of socket limit",
        "Server peak RSS", "Client peak RSS", "md5 verified",
    ]
    for bench in first_json["benchmarks"]:
        extra, stats = bench["extra_info"], bench["stats"]
        row = conclusions_row(rows, extra)
        assert_close_to_displayed(row["Median time"], stats["median"])
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
    medians = {(b["extra_info"]["size"], b["extra_info"]["method"], b["extra_info"]["hops"]): b["stats"]["median"]
               for b in first_json["benchmarks"] if not is_baseline(b)}
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
        first_json["datetime"], machine["python_version"], machine["node"],
        f"pytest-benchmark {first_json['version']}",
        f"flask {extra['flask_version']}", f"werkzeug {extra['werkzeug_version']}",
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
    assert "_No peak-memory plot: the runs recorded no server_peak_rss or client_peak_rss._" in (
        out / "report.md").read_text()
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
    assert f"### `{first}`" in markdown and f"### `{second}`" in markdown


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


# Comparing two runs


def compare(tmp_path, old, new):
    """Run --compare on two runs (paths or JSON data) and return the table rows and the Markdown."""
    paths = [run if not isinstance(run, dict) else write_json(tmp_path / f"{name}.json", run)
             for name, run in (("old", old), ("new", new))]
    result = report_command("--compare", *paths, "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "compare.md").read_text() == result.stdout
    return {row["Benchmark"]: row for row in table_rows(result.stdout, "# Benchmark comparison")}, result.stdout


def expected_mark(old, new):
    """The documented rule: the change of medians must exceed the larger IQR (min–max under 4 rounds)."""
    if min(old["rounds"], new["rounds"]) >= 4:
        noise = max(old["iqr"], new["iqr"])
    else:
        noise = max(old["max"] - old["min"], new["max"] - new["min"])
    change = new["median"] - old["median"]
    if abs(change) <= noise:
        return "no"
    return "**slower**" if change > 0 else "**faster**"


@pytest.mark.slow
def test_compare_of_two_real_runs_lists_every_benchmark_with_its_medians(real_runs, tmp_path):
    first, second = real_runs
    rows, _ = compare(tmp_path, first, second)
    old = {b["name"]: b["stats"] for b in json.loads(first.read_text())["benchmarks"]}
    new = {b["name"]: b["stats"] for b in json.loads(second.read_text())["benchmarks"]}
    assert set(rows) == set(old) == set(new)
    for name, row in rows.items():
        assert_close_to_displayed(row["Median before"], old[name]["median"])
        assert_close_to_displayed(row["Median after"], new[name]["median"])
        change = (new[name]["median"] - old[name]["median"]) / old[name]["median"] * 100
        assert row["Change"] == f"{change:+.1f}%"
        assert row["Noise"].endswith("(IQR)" if min(old[name]["rounds"], new[name]["rounds"]) >= 4 else "(min–max)")
        assert row["Significant"] == expected_mark(old[name], new[name])


@pytest.mark.slow
def test_compare_marks_a_change_larger_than_the_noise(first_json, tmp_path):
    benches = first_json["benchmarks"]
    slow = benches[0]
    shift = 2 * (slow["stats"]["max"] - slow["stats"]["min"]) + 0.001  # beyond any spread of the run
    tiny = benches[1]
    nudge = tiny["stats"]["iqr"] / 10  # well inside the noise
    new = run_with(first_json, [shifted(slow, shift), shifted(tiny, nudge), *benches[2:]])
    rows, _ = compare(tmp_path / "slower", first_json, new)
    assert rows[slow["name"]]["Significant"] == "**slower**"
    assert rows[tiny["name"]]["Significant"] == "no"
    assert all(rows[b["name"]]["Significant"] == "no" and rows[b["name"]]["Change"] == "+0.0%" for b in benches[2:])
    rows, _ = compare(tmp_path / "faster", new, first_json)
    assert rows[slow["name"]]["Significant"] == "**faster**"


@pytest.mark.slow
def test_compare_under_4_rounds_uses_the_min_max_spread(first_json, tmp_path):
    bench = copy.deepcopy(first_json["benchmarks"][0])
    # times 1.0, 1.2, 1.5 s: IQR 0.25, spread 0.5
    bench["stats"].update(data=[1.0, 1.2, 1.5], rounds=3, min=1.0, max=1.5, median=1.2, q1=1.1, q3=1.35, iqr=0.25)
    old = run_with(first_json, [bench])
    within_spread = run_with(first_json, [shifted(bench, 0.3)])  # more than the IQR, less than the spread
    beyond_spread = run_with(first_json, [shifted(bench, 0.6)])
    rows, _ = compare(tmp_path / "within", old, within_spread)
    assert rows[bench["name"]]["Significant"] == "no"
    assert rows[bench["name"]]["Noise"] == "500.00 ms (min–max)"
    rows, _ = compare(tmp_path / "beyond", old, beyond_spread)
    assert rows[bench["name"]]["Significant"] == "**slower**"
    assert rows[bench["name"]]["Change"] == "+50.0%"


@pytest.mark.slow
def test_compare_does_not_judge_a_single_round(first_json, tmp_path):
    bench = copy.deepcopy(first_json["benchmarks"][0])
    bench["stats"].update(data=[1.0], rounds=1, min=1.0, max=1.0, median=1.0, q1=1.0, q3=1.0, iqr=0.0)
    rows, _ = compare(tmp_path, run_with(first_json, [bench]), run_with(first_json, [shifted(bench, 5)]))
    assert rows[bench["name"]]["Significant"] == "– (1 round)"


@pytest.mark.slow
def test_compare_lists_benchmarks_present_in_only_one_run(first_json, tmp_path):
    benches = first_json["benchmarks"]
    renamed = copy.deepcopy(benches[0])
    renamed["name"] = "test_upload[renamed]"
    renamed["fullname"] = "tests/test_upload_benchmarks.py::test_upload[renamed]"
    rows, markdown = compare(tmp_path, run_with(first_json, benches), run_with(first_json, [*benches[1:], renamed]))
    assert set(rows) == {b["name"] for b in benches[1:]}
    only_before = markdown.split("Only in before", 1)[1].split("Only in after", 1)[0]
    only_after = markdown.split("Only in after", 1)[1]
    assert f"- `{benches[0]['name']}`" in only_before and "renamed" not in only_before
    assert "- `test_upload[renamed]`" in only_after and benches[0]["name"] not in only_after


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


BAD_INPUTS = [missing_file, not_json, binary_file, other_json, json_list, benchmark_without_stats, no_benchmarks,
              a_directory]


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


def test_no_saved_run_is_one_line_naming_the_storage(tmp_path):
    storage = tmp_path / ".benchmarks"
    (storage / "Linux-CPython-3.11-64bit").mkdir(parents=True)
    result = report_command("--output-dir", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(result, ".benchmarks", "no saved run")
