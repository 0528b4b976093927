"""python -m fixtures.upload: one upload with any registered method, timed and md5-verified."""

import io
import os
import re
import subprocess
import sys

import pytest

from fixtures import upload
from fixtures.processes.servers import free_port
from fixtures.uploads.methods import METHODS
from tests.conftest import ROOT, files_in

SIZE = 256 << 10


def run_cli(*args, timeout=120):
    """Run the CLI; its output is decoded without newline translation, so a \r stays a \r."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "fixtures.upload", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=timeout,
    )
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


@pytest.fixture
def datafile(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def clean(final):
    """Delete what the CLI stored on the final hop (the CLI itself keeps it)."""
    yield
    for name in files_in(final):
        (final.upload_dir / name).unlink()


def assert_one_line_error(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("method_id", list(METHODS))
def test_upload_with_any_method_prints_rate_answer_and_verified_md5(final, clean, datafile, method_id):
    result = run_cli(datafile, "--method", method_id, "--url", final.url)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^time: \d+\.\d{3} s, \d+\.\d MB/s \(MB = MiB\)$", out, re.M), out
    answer = re.search(r"^server answer: (\{.*\})$", out, re.M)
    assert answer and f'"bytes": {SIZE}' in answer.group(1), out
    assert re.search(r"^md5 verified: [0-9a-f]{32} ", out, re.M), out
    assert len(files_in(final)) == 1
    assert "Traceback" not in result.stderr and "\r" not in result.stderr  # no progress for short uploads


def test_unknown_method_lists_the_valid_ones(datafile):
    result = run_cli(datafile, "--method", "request.magic")
    assert_one_line_error(result, "'request.magic'", *METHODS)


def test_missing_file(tmp_path, final):
    result = run_cli(tmp_path / "nowhere.bin", "--method", "request.stream-chunked", "--url", final.url)
    assert_one_line_error(result, "nowhere.bin", "does not exist")


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}", "127.0.0.1:{port}"], ids=["refused", "no-scheme"])
def test_unreachable_url(datafile, url):
    url = url.format(port=free_port())
    result = run_cli(datafile, "--method", "request.stream-chunked", "--url", url)
    assert_one_line_error(result, url)
    assert result.stdout == ""


@pytest.mark.parametrize("timeout", ["inf", "1e300", "nan", "0", "-5", "soon"])
def test_a_timeout_no_socket_can_wait_is_a_usage_error_before_any_upload(final, datafile, timeout):
    result = run_cli(datafile, "--method", "request.stream-chunked", "--url", final.url, "--timeout", timeout)
    assert_one_line_error(result, f"--timeout {timeout!r}", "at most 1000000")
    assert files_in(final) == []


def test_server_refusal_is_a_one_line_failure_not_a_traceback(final, relay, datafile):
    result = run_cli(datafile, "--method", "request.stream-chunked-generator", "--url", relay.url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "HTTP 411" in result.stderr
    assert files_in(final) == files_in(relay) == []


def test_through_a_relay_the_md5_is_asked_of_the_final_hop(final, relay, clean, datafile):
    method = ("--method", "streaming-form-data-multipartencoder")
    without = run_cli(datafile, *method, "--url", relay.url)
    assert without.returncode == 1
    assert "--digest-url" in without.stderr and "Traceback" not in without.stderr
    result = run_cli(datafile, *method, "--url", relay.url, "--digest-url", final.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "md5 verified" in result.stdout
    assert '"via": [' in result.stdout


def test_md5_mismatch_exits_non_zero(final, clean, datafile, monkeypatch, capsys):
    monkeypatch.setattr(upload, "md5_of", lambda path: "0" * 32)
    status = upload.main([str(datafile), "--method", "request.stream-chunked", "--url", final.url])
    assert status == 1
    err = capsys.readouterr().err
    assert "md5 mismatch" in err and "0" * 32 in err


def test_profile_prints_the_cumulative_listing_to_stderr(final, clean, datafile):
    result = run_cli(datafile, "--method", "request.files-multipartencoder", "--url", final.url, "--profile")
    assert result.returncode == 0, result.stderr
    assert "Ordered by: cumulative time" in result.stderr
    assert "send_multipart_encoder" in result.stderr
    assert "md5 verified" in result.stdout


def test_progress_line_for_an_upload_over_a_second(final, clean, tmp_path):
    path = tmp_path / "lines.bin"
    # writelines stored 2 MB in about 1 s on the dev server here (Werkzeug 3.1.9): three times that is safely
    # past the progress bar's 1 s delay
    path.write_bytes(os.urandom(6 << 20))
    result = run_cli(path, "--method", "request.stream-writelines", "--url", final.url, "--progress")
    assert result.returncode == 0, result.stderr
    assert "\r" in result.stderr
    assert re.search(r"\[#+ *\] +\d+% [\d.]+/6\.0 MB +[\d.]+ ?MB/s", result.stderr), result.stderr
    assert result.stderr.endswith("\n")


def test_progress_bar_counts_megabytes_of_the_body():
    out = io.StringIO()
    with upload.Progress(out, "f.bin via m", delay=0) as progress:
        progress.update(1 << 20, 4 << 20)
        assert "f.bin via m: [" in out.getvalue()
        progress.update(4 << 20, 4 << 20)
    last = out.getvalue().rstrip("\n").split("\r")[-1].rstrip()
    assert re.fullmatch(r"f\.bin via m: \[#{30}\] 100% 4\.0/4\.0 MB +[\d.]+ ?MB/s \d\d:\d\d", last), last


def test_no_progress_bar_before_its_delay():
    out = io.StringIO()
    with upload.Progress(out, "f.bin via m", delay=60) as progress:
        progress.update(1 << 20, 4 << 20)
    assert out.getvalue() == ""
