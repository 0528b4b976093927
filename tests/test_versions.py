"""Dependency versions as a dimension: finding a cell, refusing bad arguments, the versions table of a report."""

import subprocess
import sys

import pytest

from fixtures.report.compare import write_comparison
from fixtures.versions.bodies import table_rows
from fixtures.versions.environments import VersionsError
from fixtures.versions.runs import cell_options, find_cell
from tests.conftest import ROOT

CELL = "request.stream-writelines-werkzeug-1hop-16MB"


def versions_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "fixtures.versions", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_a_cell_id_names_its_method_chain_and_size():
    cell = find_cell("request.files-werkzeug-to-gunicorn-2hops-256MB")
    assert (cell.method.id, cell.deployments, cell.size) == ("request.files", ("werkzeug", "gunicorn"), 256 << 20)
    assert find_cell(CELL).id == CELL
    worst = find_cell("streaming-form-data-leading-cr-gunicorn-1hop-4MB")  # run with its endpoint's method and shape
    assert worst.method.body == "leading-cr" and "--upload-bodies=leading-cr" in cell_options(worst)
    assert "--upload-methods=streaming-form-data-multipartencoder" in cell_options(worst)


def test_a_releases_bodies_table_shows_cpu_per_mb_beside_plain_and_a_cell_over_its_budget():
    def bench(size, body, cpu, median):
        info = {"bytes": size << 20, "size": f"{size}MB", "body": body, "server_cpu_s": cpu}
        return {"extra_info": info, "stats": {"median": median}}

    run = {
        "benchmarks": [
            bench(4, "plain", 0.01, 0.02),
            bench(4, "leading-cr", 0.12, 0.1),
            bench(16, "plain", 0.03, 0.07),
        ],
        "upload_bench": {
            "over_budget": [{"bytes": 16 << 20, "size": "16MB", "body": "leading-cr", "rate_MBps": 3.875}]
        },
    }
    assert table_rows("2.3.7", run, "leading-cr") == [
        ["2.3.7", "4MB", "0.0025", "0.0300", "12.00×", "40.0"],
        ["2.3.7", "16MB", "0.0019", "–", "–", "over budget (3.88)"],
    ]


@pytest.mark.parametrize(
    "cell_id, words",
    [
        ("request.magic-werkzeug-1hop-16MB", "no cell 'request.magic-werkzeug-1hop-16MB' in the matrix"),
        ("writelines", "is not a cell id like request.stream-writelines-werkzeug-1hop-16MB"),
        ("request.files-werkzeug-1hop-16XB", "is not a cell id like"),
    ],
)
def test_an_unknown_cell_is_an_error_naming_it(cell_id, words):
    with pytest.raises(VersionsError, match=words):
        find_cell(cell_id)


@pytest.mark.parametrize(
    "args, words",
    [
        (["bisect", "werkzeug", "3.1.8", "2.2.3", "--cell", CELL], "3.1.8 is not older than 2.2.3"),
        (["bisect", "werkzeug", "2.2.3", "three", "--cell", CELL], "'three' is not a release number"),
        (["bisect", "werkzeug", "2.2.3", "3.1.8", "--cell", CELL, "--threshold", "1"], "--threshold 1 is not above 1"),
        (["run", "werkzeug", "2.2.3", "--cell", "nothing"], "'nothing' is not a cell id"),
        (
            ["lines", "werkzeug", "2.2", "3.x"],
            "'3.x' is neither a release (like 2.3.0) nor a release line (MAJOR.MINOR",
        ),
        (["lines", "werkzeug", "2.2"], "1 release line given: a comparison needs two or more"),
        (["lines", "werkzeug", "2.2", "3.1", "--size", "16XB"], "--size: invalid upload size '16XB'"),
        (["bodies", "werkzeug", "3.1", "--shape", "nested"], "--shape 'nested': expected one of junk-around"),
        (["bodies", "werkzeug", "3.1", "--method", "request.stream-chunked"], "expected a multipart method"),
    ],
)
def test_bad_arguments_are_one_line_errors_before_anything_is_installed(args, words):
    result = versions_cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "option, words",
    [
        pytest.param(["--deployments", "nginx"], "argument --deployments: unknown deployment 'nginx'", id="deployment"),
        pytest.param(["--hops", "0"], "argument --hops: '0' is invalid", id="hops"),
    ],
)
def test_bad_cells_of_lines_are_usage_errors(option, words):
    result = versions_cli("lines", "werkzeug", "2.2", "3.1", *option)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_runs_on_two_werkzeug_releases_get_a_versions_table_and_chart(tmp_path):
    # Real runs of the seed's writelines cell by `python -m fixtures.versions run` on Werkzeug 2.2.3 and 3.1.8
    # (tests/data/README.md).
    old, new = (ROOT / "tests" / "data" / f"writelines-werkzeug-{v}.json" for v in ("2.2.3", "3.1.8"))
    text, _ = write_comparison([old, new], tmp_path)
    assert "## Versions" in text
    assert "werkzeug (2.2.3 → 3.1.8)" in text and "flask (2.2.5 → 3.1.3)" in text
    section = text.split("## Versions", 1)[1].split("\n## ", 1)[0]
    [row] = [line for line in section.splitlines() if line.startswith("| test_upload[request.stream-writelines")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    old_rate, new_rate, change = float(cells[1]), float(cells[2]), float(cells[3].lstrip("×"))
    assert new_rate < old_rate / 50 and change < 1 / 50  # the release line that made it two orders slower
    assert "![MB/s of each benchmark across versions](versions.png)" in text
    assert (tmp_path / "versions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_of_the_same_versions_get_no_versions_table(tmp_path):
    run = ROOT / "tests" / "data" / "writelines-werkzeug-2.2.3.json"
    text, _ = write_comparison([run, run], tmp_path)
    assert "## Versions" not in text and not (tmp_path / "versions.png").exists()


def test_each_environment_gets_its_own_uwsgi_script_pinned_to_the_version_here():
    # from the parent environment, `uwsgi` would run the parent's Python and the app on the parent's Werkzeug
    from importlib import metadata

    from fixtures.versions.environments import own_scripts

    assert own_scripts("werkzeug") == [f"pyuwsgi=={metadata.version('pyuwsgi')}"]
    assert own_scripts("pyuwsgi") == []


def test_bisect_names_the_first_release_a_duet_calls_slower_and_counts_over_budget_as_slower(monkeypatch):
    from fixtures.versions import runs as versions

    releases = ["2.2.3", "2.3.0", "2.3.1", "3.0.0", "3.1.8"]
    monkeypatch.setattr(versions, "releases", lambda package, low, high: releases)
    asked = []

    def duet_cell(package, good, candidate, cell, timeout=None):  # from 2.3.0 on, B goes over its budget
        asked.append((good, candidate))
        over = candidate >= "2.3.0"
        return {
            "verdict": "slower" if over else "unchanged",
            "paired_ratio": 90.0 if over else 1.01,
            "verdict_why": "",
            "a_MBps": 93.0,
            "b_MBps": 1.0 if over else 92.0,
            "b_over_budget": over,
        }

    monkeypatch.setattr(versions, "duet_cell", duet_cell)
    good, bad, records = versions.bisect("werkzeug", "2.2.3", "3.1.8", find_cell(CELL), say=lambda line: None)
    assert (good, bad) == ("2.2.3", "2.3.0")
    assert {g for g, _ in asked} == {"2.2.3"}  # every step against the known-good release, in one run each
    assert "(over its budget: the rate it reached)" in versions.describe("werkzeug", good, bad, records[bad])


def test_a_small_slowdown_is_no_regression_for_the_bisect():
    from fixtures.versions.runs import regressed

    assert regressed({"verdict": "slower", "paired_ratio": 2.5}, 2.0)
    assert not regressed({"verdict": "slower", "paired_ratio": 1.3}, 2.0)
    assert not regressed({"verdict": "unchanged", "paired_ratio": 2.5}, 2.0)
