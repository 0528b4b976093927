"""python -m fixtures.report --compare as a user runs it, and bad input."""

import copy
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reporting.conftest import (
    PNG_SIGNATURE,
    STORED_RUN,
    assert_close_to_displayed,
    assert_one_line_error,
    compare,
    compare_rows,
    report_command,
    run_with,
    slowed,
    write_json,
)

# The compare command


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
