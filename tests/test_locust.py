"""The locustfile, headless, against servers the test started: uploads counted, md5 checked, failures named."""

import csv
import subprocess
import sys
from importlib.util import find_spec

import pytest

from fixtures.report.locust_stats import locust_table
from tests.conftest import ROOT, files_in

# find_spec, not importorskip: importing Locust monkeypatches this process with gevent
pytestmark = pytest.mark.skipif(
    find_spec("locust") is None,
    reason="Locust is not installed: pip install 'locust>=2.20' (the project's extra 'load')",
)


def run_locust(host, prefix, data_dir, *extra):
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "fixtures" / "locustfile.py"),
        "--headless",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "3s",
        "--stop-timeout",
        "30",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--only-summary",
        "--upload-size",
        "1MB",
        "--upload-data-dir",
        str(data_dir),
        *extra,
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def rows(path, request_type="UPLOAD"):
    with open(path, newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f) if row["Type"] == request_type}


def test_headless_users_upload_with_md5_checked_and_the_report_reads_their_stats(final, tmp_path, upload_options):
    result = run_locust(
        final.url, tmp_path / "load", upload_options.data_dir, "--upload-method", "request.stream-chunked"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    row = rows(tmp_path / "load_stats.csv")["request.stream-chunked 1MB"]
    assert int(row["Request Count"]) > 2 and row["Failure Count"] == "0"
    assert float(row["Average Content Size"]) == 1 << 20
    checks = rows(tmp_path / "load_stats.csv", "MD5")["request.stream-chunked 1MB"]
    assert checks["Request Count"] == row["Request Count"] and checks["Failure Count"] == "0"
    assert files_in(final) == []  # every upload was deleted once its md5 was checked
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "fixtures.report",
            "--locust",
            str(tmp_path / "load_stats.csv"),
            "--output-dir",
            str(tmp_path / "report"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr
    uploads = row["Request Count"]
    assert f"| request.stream-chunked 1MB | {uploads} | 0 | {uploads} | 0 |" in report.stdout
    assert (tmp_path / "report" / "locust.md").read_text() == report.stdout


def test_a_host_that_is_not_server_app_is_a_named_failure(not_server_app, tmp_path, upload_options):
    result = run_locust(not_server_app, tmp_path / "load", upload_options.data_dir)
    assert result.returncode == 1, result.stderr[-3000:]
    [failure] = list(csv.DictReader(open(tmp_path / "load_failures.csv", newline="")))
    assert failure["Name"] == "request.stream-chunked 1MB"
    assert f"--host=\\'{not_server_app}\\'" in failure["Error"]  # Locust records the repr
    assert "/health answered HTTP 501 without server" in failure["Error"]


STATS_COLUMNS = "Type,Name,Request Count,Failure Count,50%,95%,100%,Average Content Size,Requests/s"


@pytest.mark.parametrize(
    "check_row, shown",
    [
        pytest.param("MD5,m 1MB,10,1,5,6,7,1048576,1.0\n", "| m 1MB | 10 | 1 | 9 | 1 |", id="checks-counted"),
        pytest.param("", "| m 1MB | 10 | 1 | – | – |", id="stats-without-checks"),
    ],
)
def test_the_locust_table_counts_the_md5_checks_apart_from_the_uploads(tmp_path, check_row, shown):
    stats = tmp_path / "load_stats.csv"
    stats.write_text(f"{STATS_COLUMNS}\nUPLOAD,m 1MB,10,1,500,600,700,1048576,2.0\n{check_row}")
    table = locust_table(stats)
    assert shown in table and table.count("\n") == 3  # the header, its rule, one upload row
