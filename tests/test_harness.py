"""The harness as a user runs it: pytest in a subprocess, its budget, its logs, its clean-up."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from fixtures.data.datafiles import DataFiles
from fixtures.processes.child_runs import run_child
from tests.conftest import (
    ONE_ROUND_AT_1MB,
    UPLOAD_CELLS,
    alive,
    interrupt_mid_upload,
    server_pids,
    start_writelines_run,
    upload_args,
)


@pytest.mark.slow
def test_session_leaves_no_server_and_no_upload(run_suite, tmp_path):
    result = run_suite(
        "tests/test_upload_benchmarks.py",
        "-s",
        "--benchmark-disable",
        *upload_args(sizes="1MB", deployments="werkzeug", methods="request.stream-chunked,request.files", hops="1,2"),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "6 passed" in result.stdout  # 2 baselines, 2 methods x 2 chains
    pids = server_pids(result.stdout)
    assert len(pids) == 4  # the socket receiver, one 1-hop server, a 2-hop chain of two
    assert alive(pids) == []
    leftovers = [p for p in (tmp_path / "basetemp").rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.mark.slow
def test_budget_xfails_slow_upload_with_its_rate_exits_0_then_skips_larger_size(run_matrix):
    result, run = run_matrix(
        *UPLOAD_CELLS,
        *upload_args(
            sizes="8MB,64MB",
            deployments="werkzeug",
            methods="request.stream-writelines,request.stream-chunked",
            hops=1,
            timeout=2,
        ),
        "-rxs",
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]  # the seed's method being slow is what it measures, not a failure
    assert re.search(
        r"XFAIL .*over budget, a measured outcome: request\.stream \(writelines\) (exceeded|would exceed) "
        r"2 s for 8MB \(\d+\.\d MB/s so far",
        out,
    ), out
    assert re.search(
        r"ran at \d+\.\d\d MB/s for 8MB, which predicts \d+ s for 64MB, too close to or over the 2 s budget", out
    ), out
    assert "2 passed, 1 skipped, 1 xfailed" in out  # the chunked copy at both sizes
    [entry] = run["upload_bench"]["over_budget"]
    assert entry["size"] == "8MB" and entry["deployment"] == "werkzeug" and 0 < entry["rate_MBps"] < 8 / 2


@pytest.mark.slow
def test_sigint_mid_upload_stops_servers_and_leaves_no_file(tmp_path, upload_options):
    # two chain servers and the limit's receiver (a timed cell measures the limit before each round)
    output, _ = interrupt_mid_upload(tmp_path, upload_options, signal.SIGINT, hops=2, servers=3)
    pids = server_pids(output)
    assert len(pids) == 3, output
    assert alive(pids) == []
    assert "KeyboardInterrupt" in output
    assert [p for p in (tmp_path / "basetemp").rglob("*") if p.is_file()] == []


@pytest.mark.slow
def test_server_of_an_earlier_killed_run_is_replaced_not_reused(run_suite, tmp_path, upload_options):
    proc, output = start_writelines_run(tmp_path, upload_options, tmp_path / "basetemp-killed", hops=1, servers=2)
    proc.kill()  # no clean-up at all: the server is orphaned
    proc.communicate(timeout=30)
    orphans = server_pids(output)
    assert orphans and alive(orphans) == orphans
    try:
        result = run_suite(
            "tests/test_upload_benchmarks.py::test_upload",
            "-s",
            "--benchmark-disable",
            *upload_args(sizes="1MB", deployments="werkzeug", methods="request.stream-chunked", hops=1),
        )
        assert result.returncode == 0, result.stdout[-3000:]
        assert alive(orphans) == []
        assert orphans[0] not in server_pids(result.stdout)
    finally:
        for pid in alive(orphans):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp_path / "basetemp-killed", ignore_errors=True)


@pytest.mark.slow
def test_every_method_once_stores_every_byte_intact_and_the_totals_add_up(run_matrix):
    # every method through every chain of three servers (tox -e py runs all five, in this process)
    result, run = run_matrix(
        *ONE_ROUND_AT_1MB,
        "--upload-deployments=werkzeug,gunicorn,waitress",
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    summary = run["upload_bench"]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert len(run["benchmarks"]) == passed
    assert summary["failed"] == []
    assert summary["md5_mismatches"] == 0
    assert summary["md5_checked"] == 2 * passed  # every cell and baseline: the warm-up and one timed round
    assert summary["bytes_received"] == summary["bytes_sent"] == summary["md5_checked"] * (1 << 20)
    assert all(b["extra_info"]["md5_verified"] == 1 for b in run["benchmarks"])
    uploads = [b["extra_info"] for b in run["benchmarks"] if b["name"].startswith("test_upload[")]
    assert all(info["stream_type"] and len(info["relay_stream_types"]) == info["hops"] - 1 for info in uploads)
    [werkzeug] = [
        i
        for i in uploads
        if i["method"] == "request.stream (chunked copy)" and i["deployment"] == "werkzeug" and i["hops"] == 1
    ]
    assert werkzeug["stream_type"] == "werkzeug.wsgi.LimitedStream"  # what makes the seed's writelines slow


@pytest.mark.slow
def test_failed_assertion_in_a_benchmark_leaves_nothing_behind(run_matrix, tmp_path):
    data_dir = tmp_path / "data"
    datafile = DataFiles(data_dir).get(1 << 20)
    sidecar = datafile.path.with_name(datafile.path.name + ".md5.json")
    record = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**record, "md5": "0" * 32}))  # the source's md5 is now wrong
    result, run = run_matrix(
        "tests/test_upload_benchmarks.py::test_upload",
        "-s",
        "--benchmark-disable",
        *upload_args(
            sizes="1MB", deployments="werkzeug", hops="1,2", methods="request.stream-chunked", data_dir=data_dir
        ),
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "md5 mismatch for 1MB" in result.stdout
    assert "2 failed" in result.stdout
    assert "md5 checked: 2, mismatches: 2;" in result.stdout
    assert "failed cells: 2" in result.stdout
    assert alive(server_pids(result.stdout)) == []
    assert [p for p in (tmp_path / "basetemp").rglob("*") if p.is_file()] == []


@pytest.mark.slow
def test_sigterm_mid_upload_cleans_up_like_ctrl_c(tmp_path, upload_options):
    output, _ = interrupt_mid_upload(tmp_path, upload_options, signal.SIGTERM)
    pids = server_pids(output)
    assert pids and alive(pids) == []
    assert [p for p in (tmp_path / "basetemp").rglob("*") if p.is_file()] == []


def test_a_child_run_past_its_timeout_gets_sigterm_to_clean_up_not_sigkill(tmp_path):
    marker = tmp_path / "stopped-by"
    code = (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (open({str(marker)!r}, 'w').write('SIGTERM'),"
        " sys.exit(3)))\n"
        "time.sleep(60)\n"
    )
    with pytest.raises(subprocess.TimeoutExpired):
        run_child([sys.executable, "-c", code], tmp_path, os.environ, capture=True, timeout=2)
    assert marker.read_text() == "SIGTERM"  # run_suite's runs remove their servers so (subprocess.run kills)


@pytest.mark.slow
def test_benchmark_only_deselects_the_suites_own_tests_instead_of_skipping_each(run_suite):
    result = run_suite(
        "--benchmark-only",
        *upload_args(sizes="256KB", methods="request.stream-chunked", deployments="werkzeug", hops=1),
        "-rs",
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert "Skipping non-benchmark" not in out
    assert re.search(r"collected \d+ items / \d+ deselected / 3 selected", out), out[:2000]
    assert re.search(r"\b3 passed, \d+ deselected\b", out), out[-2000:]


@pytest.mark.slow
def test_upload_plan_prints_the_estimate_and_uploads_nothing(run_suite, upload_options):
    before = sorted(p.name for p in upload_options.data_dir.iterdir())
    result = run_suite(
        "--benchmark-only",
        "--upload-plan",
        "--upload-sizes=seed",
        "-s",
        "--upload-methods=request.stream-chunked,request.files",
        "--upload-deployments=werkzeug",
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert re.search(
        r"upload-bench plan: 16 cells and 8 baseline rows at 256MB, 512MB, 1GB, 2GB, .* "
        r"about [\d,]+ MB to move; estimated \d+ min \d\d s",
        out,
    ), out[-3000:]
    assert server_pids(out) == []
    assert " passed" not in out and " failed" not in out
    assert sorted(p.name for p in upload_options.data_dir.iterdir()) == before  # no 2GB file written


@pytest.mark.slow
def test_durable_run_with_every_client_library_records_both_and_stores_every_byte(run_matrix):
    result, run = run_matrix(
        *ONE_ROUND_AT_1MB,
        "--upload-durable",
        *upload_args(
            clients="all",
            deployments="werkzeug",
            hops=1,
            methods="request.stream-chunked,request.stream-splice,request.files",
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    infos = {b["name"]: b["extra_info"] for b in run["benchmarks"]}
    assert len(infos) == 2 + 5 + 5 + 1  # the baselines; chunked copy and splice by 5 libraries; request.files
    assert all(info["durable"] is True and info["md5_verified"] == 1 for info in infos.values())
    libraries = {
        info["client_library"]: info["client_library_version"]
        for name, info in infos.items()
        if name.startswith("test_upload[")
    }
    assert set(libraries) == {"requests", "httpx", "urllib3", "pycurl", "sendfile"} and all(libraries.values())
    assert run["upload_bench"]["md5_mismatches"] == 0


def test_a_durable_server_says_so(server_factory):
    import requests

    server = server_factory.spawn(extra_args=["--durable"])
    try:
        assert requests.get(f"{server.url}/health", timeout=10).json()["durable"] is True
    finally:
        server_factory.stop(server)
