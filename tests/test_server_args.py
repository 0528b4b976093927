"""The servers' own settings (--upload-server-args): given to the real server after the suite's, recorded, and a
setting the server refuses stops the run with the server's words."""

import pytest

from fixtures.processes.servers import ServerStartError
from server_app.deployments import APP, DEPLOYMENTS, RECORDED_OPTIONS
from tests.conftest import ONE_ROUND_AT_1MB, parsed, refusal, upload_args, wait_for


@pytest.mark.parametrize(
    "given, named",
    [
        pytest.param("werkzeug=--threaded", "werkzeug's development server runs in its process", id="werkzeug"),
        pytest.param("apache=-k start", "DEPLOYMENT one of gunicorn, uwsgi-seed, uwsgi, waitress", id="unknown"),
        pytest.param("gunicorn", "DEPLOYMENT=ARGS", id="no-equals"),
        pytest.param("gunicorn=", "the settings of gunicorn after the '='", id="empty"),
        pytest.param("gunicorn=--name 'unclosed", "ARGS a shell can split (No closing quotation)", id="unsplittable"),
    ],
)
def test_a_bad_server_setting_is_refused_naming_it(given, named):
    refused = refusal(f"--upload-server-args={given}")
    assert repr(given) in refused and named in refused


def test_a_deployment_given_twice_is_refused():
    refused = refusal("--upload-server-args=gunicorn=--workers 3", "--upload-server-args=gunicorn=--threads 2")
    assert "gives gunicorn twice ('--workers 3' and '--threads 2')" in refused


def test_the_settings_go_after_the_suites_and_before_the_app_and_are_recorded_as_the_server_takes_them():
    options = parsed(
        "--upload-server-args=gunicorn=--workers 3 --threads 2", "--upload-server-args=waitress=--threads=8"
    )
    assert options.server_args == {"gunicorn": ("--workers", "3", "--threads", "2"), "waitress": ("--threads=8",)}
    gunicorn = DEPLOYMENTS["gunicorn"]
    assert gunicorn.argv(RECORDED_OPTIONS, options.server_args["gunicorn"])[-5:] == [
        "--workers", "3", "--threads", "2", APP
    ]  # fmt: skip
    assert gunicorn.settings["workers"] == "2"  # the suite's own
    assert gunicorn.settings_with(options.server_args["gunicorn"])["workers"] == "3"  # a later flag wins
    assert DEPLOYMENTS["waitress"].settings_with(("--threads=8",))["threads"] == "8"


def test_a_server_runs_with_the_settings_given_and_refuses_bad_ones_in_its_own_words(server_factory):
    server_factory.server_args = {"gunicorn": ("--workers", "3")}
    try:
        server = server_factory.spawn("gunicorn")
        try:
            # the arbiter and the three workers asked for (it answers once one worker is up)
            wait_for(lambda: len(server.processes()) == 1 + 3, "gunicorn's arbiter and its three workers", timeout=30)
        finally:
            server_factory.stop(server)
        server_factory.server_args = {"gunicorn": ("--workers", "nope")}
        with pytest.raises(ServerStartError) as refused:
            server_factory.spawn("gunicorn")
        assert "invalid int value: 'nope'" in str(refused.value)
    finally:
        server_factory.server_args = {}


@pytest.mark.slow
def test_a_run_records_the_settings_and_stops_on_settings_the_server_refuses(run_matrix):
    cell = (*ONE_ROUND_AT_1MB, *upload_args(methods="request.stream-chunked", deployments="gunicorn", hops=1))
    result, run = run_matrix(*cell, "--upload-server-args=gunicorn=--workers 3")
    assert result.returncode == 0, result.stdout[-3000:]
    [info] = [b["extra_info"] for b in run["benchmarks"] if b["extra_info"].get("deployment") == "gunicorn"]
    assert info["server_args"] == {"gunicorn": ["--workers", "3"]} and info["md5_verified"] >= 1
    assert info["deployment_settings"]["gunicorn"]["workers"] == "3"
    assert "upload-bench plan: gunicorn runs with the settings '--workers 3', after the suite's" in result.stdout
    result, _ = run_matrix(*cell, "--upload-server-args=gunicorn=--workers nope")
    assert result.returncode == 4, result.stdout[-3000:]
    said = result.stdout + result.stderr
    assert "--upload-server-args=gunicorn=--workers nope: gunicorn does not start with it" in said
    assert "invalid int value: 'nope'" in said
