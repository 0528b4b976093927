"""What the report's tests share: real tiny runs of the suite (once per session), a stored real run, and
helpers that read the report back."""

import copy
import itertools
import json
import os
import subprocess
import sys

import pytest

from fixtures.data.sizes import MiB
from fixtures.report.compare import (
    compare_runs,
)
from fixtures.run.stats import median_interval
from tests.conftest import ROOT, SUITE_ENV, suite_command, upload_args
from tests.data.slow_method import scaled

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 200 * 1024
TINY_RUN = [
    "tests/test_upload_benchmarks.py",
    "--benchmark-only",
    *upload_args(
        sizes="1MB,2MB", methods="request.stream-chunked,request.files", deployments="werkzeug", hops="1,2", rounds=4
    ),
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


def assert_one_line_error(result, path, problem):
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and problem in lines[0]
    assert "Traceback" not in result.stderr
