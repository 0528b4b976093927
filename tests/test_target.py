"""--upload-target: the matrix's client side against servers the test started itself, on other ports."""

import pytest

from fixtures.processes.target import RemoteChain, TargetError, probe
from tests.conftest import ONE_ROUND_AT_1MB, files_in, refusal


def test_probe_follows_a_relay_to_its_final_hop(final, relay):
    chain = probe(relay.url + "/")
    assert chain == RemoteChain((relay.url, final.url), ("werkzeug", "werkzeug"))
    assert probe(final.url).hops == 1


@pytest.mark.parametrize(
    "value, message",
    [
        ("127.0.0.1:8000", "expected http://HOST:PORT"),
        ("http://127.0.0.1:8000/upload", "no path"),
        ("http://127.0.0.1:9", "does not answer"),
    ],
)
def test_a_bad_target_is_an_error_that_names_it(value, message):
    with pytest.raises(TargetError, match=message) as excinfo:
        probe(value)
    assert repr(value) in str(excinfo.value)


def test_a_server_without_server_apps_endpoints_is_refused(not_server_app):
    with pytest.raises(TargetError, match=r"/health answered HTTP 501 without server_app's deployment"):
        probe(not_server_app)


@pytest.mark.slow
def test_matrix_runs_against_a_running_relay_chain_and_leaves_nothing_there(run_matrix, final, relay):
    result, run = run_matrix(
        *ONE_ROUND_AT_1MB,
        f"--upload-target={relay.url}",
        "--upload-methods=request.stream-chunked,request.files",
        "-rs",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed, 2 skipped" in result.stdout
    assert "with --upload-target the body goes to servers they do not measure" in result.stdout
    infos = {b["name"]: b["extra_info"] for b in run["benchmarks"]}
    assert set(infos) == {
        "test_upload[request.stream-chunked-werkzeug-2hops-1MB]",
        "test_upload[request.files-werkzeug-2hops-1MB]",
    }
    for info in infos.values():
        assert info["target"] == relay.url and info["hops"] == 2
        assert info["md5_verified"] == 1  # the timed round, read through the final hop's md5 endpoint
        assert info["server_peak_rss"] is None and info["tmp_bytes"] is None  # unavailable, not zero
    summary = run["upload_bench"]
    assert summary["md5_checked"] == 4 and summary["md5_mismatches"] == 0  # the warm-ups too
    assert files_in(final) == [] and files_in(relay) == []  # deleted through the final hop


@pytest.mark.slow
def test_an_unreachable_target_stops_the_run_with_a_usage_error(run_suite):
    result = run_suite("tests/test_upload_benchmarks.py", "--benchmark-only", "--upload-target=http://127.0.0.1:9")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "--upload-target='http://127.0.0.1:9': http://127.0.0.1:9 does not answer" in result.stderr


def test_a_remote_mismatch_is_caught_and_the_upload_still_deleted(final, data_files):
    from dataclasses import replace

    from fixtures.data.integrity import IntegrityError
    from fixtures.uploads.libraries import LIBRARIES

    datafile = data_files.get(1 << 20)
    answer = LIBRARIES["requests"].send(f"{final.url}/upload/stream-chunked", datafile.path, datafile.size, 60)
    chain = probe(final.url)
    with pytest.raises(IntegrityError, match="md5 mismatch for 1MB"):
        chain.verify_and_delete(answer, replace(datafile, md5="0" * 32))
    assert files_in(final) == []
    answer = LIBRARIES["requests"].send(f"{final.url}/upload/stream-chunked", datafile.path, datafile.size, 60)
    assert chain.verify_and_delete(answer, datafile) == datafile.size
    assert files_in(final) == []


@pytest.mark.parametrize(
    "flag, named",
    [
        ("--upload-durable", "--upload-durable"),
        ("--upload-profile", "--upload-profile"),
        ("--upload-fronts=nginx", "--upload-fronts"),
        ("--upload-link=100mbit", "--upload-link"),
    ],
)
def test_what_the_targets_owner_sets_is_refused_with_a_target(flag, named):
    assert f"{named} cannot be used with --upload-target" in refusal("--upload-target=http://127.0.0.1:9", flag)
