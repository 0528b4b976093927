"""Every deployment: serves every method intact, refuses what it cannot read, stops without orphans."""

import hashlib
import os
import re
import signal

import psutil
import pytest
import requests

from fixtures.data.integrity import verify_and_delete
from fixtures.processes.chains import Chain
from fixtures.uploads.methods import METHODS
from server_app.config import IDLE_TIMEOUT, WORKER_TIMEOUT
from server_app.deployments import DEPLOYMENTS, RECORDED_OPTIONS, WERKZEUG_OPTIONS, command_settings
from tests.conftest import UPLOAD_CELLS, alive, output_until_started, server_pids, start_suite, upload_args, wait_for

SIZE = 1 << 20


def deployment_params():
    return [
        pytest.param(
            name,
            id=name,
            marks=pytest.mark.skipif(
                not d.available(), reason=f"deployment {name} needs the package {d.package}, which is not installed"
            ),
        )
        for name, d in DEPLOYMENTS.items()
    ]


@pytest.mark.parametrize("deployment", deployment_params())
def test_deployment_serves_every_method_and_stops_without_orphans(server_factory, data_files, deployment):
    datafile = data_files.get(SIZE)
    server = server_factory.spawn(deployment)
    chain = Chain([server])
    pids = [p.pid for p in server.processes()]
    try:
        assert pids and alive(pids) == pids
        served = []
        for method in METHODS.values():
            if method.skip_reason((deployment,)):
                continue
            answer = method.send(method.url(server.url), datafile.path, datafile.size, 60)
            assert verify_and_delete(answer, chain, datafile) == datafile.size
            served.append(method.id)
        assert "request.files" in served and "request.stream-chunked" in served
    finally:
        server_factory.stop(server)
    assert alive(pids) == [], f"{deployment} left processes behind"


@pytest.mark.parametrize("name", [name for name, d in DEPLOYMENTS.items() if d.command])
def test_recorded_settings_are_the_flags_the_command_passes(name):
    deployment = DEPLOYMENTS[name]
    argv = deployment.command(RECORDED_OPTIONS)
    settings = deployment.settings
    flags = [token for token in argv if token.startswith("--")]
    assert [f"--{key}" for key in settings if key not in ("program", "app")] == [flag.split("=")[0] for flag in flags]
    for flag in flags:
        key, equals, value = flag[2:].partition("=")
        following = argv[argv.index(flag) + 1] if argv.index(flag) + 1 < len(argv) else None
        assert settings[key] == (
            value if equals else following if following and not following.startswith("--") else True
        )
    # gunicorn's timeout bounds a whole request (its sync workers set no socket timeout: the app does);
    # uWSGI's and waitress's bound the wait for the next bytes of a body.
    timeout, seconds = {"gunicorn": ("timeout", WORKER_TIMEOUT), "waitress": ("channel-timeout", IDLE_TIMEOUT)}.get(
        name, ("socket-timeout", IDLE_TIMEOUT)
    )
    assert settings[timeout] == str(seconds)


def test_command_settings_reads_every_form_of_flag():
    argv = ["/usr/bin/uwsgi", "--a", "1", "--b=2", "--bare", "--c", "-", "app:x"]
    assert command_settings(argv) == {"program": "uwsgi", "a": "1", "b": "2", "bare": True, "c": "-", "app": "app:x"}
    assert DEPLOYMENTS["werkzeug"].settings == {"program": "werkzeug.serving.run_simple", **WERKZEUG_OPTIONS}


def chunked_body(data, block=64 << 10):
    for start in range(0, len(data), block):
        yield data[start : start + block]


@pytest.mark.parametrize("deployment", deployment_params())
def test_chunked_body_arrives_intact_or_is_refused_never_stored_short(server_factory, deployment):
    data = os.urandom(3 << 20)
    server = server_factory.spawn(deployment)
    try:
        response = requests.post(
            f"{server.url}/upload/stream-chunked",
            data=chunked_body(data),
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        stored = sorted(server.upload_dir.iterdir())
        if response.status_code == 200:
            assert [p.name for p in stored] == [response.json()["stored_name"]]
            assert hashlib.md5(stored[0].read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
        else:
            assert 400 <= response.status_code < 600
            assert stored == [], f"{deployment} refused the body but stored {stored}"
    finally:
        server_factory.stop(server)


@pytest.mark.parametrize("deployment", deployment_params())
@pytest.mark.slow
def test_server_killed_mid_upload_fails_that_cell_and_the_run_goes_on(tmp_path, upload_options, deployment):
    basetemp = tmp_path / "basetemp"
    proc = start_suite(
        tmp_path,
        upload_options.data_dir,
        "-s",
        *UPLOAD_CELLS,
        *upload_args(
            sizes="64MB", hops=1, deployments=deployment, rounds=1, methods="request.stream-chunked,request.files"
        ),
        basetemp=basetemp,
    )
    output = output_until_started(proc, 1)
    pid = server_pids(output)[0]
    # The upload is under way once its bytes land on the server's disk (waitress buffers in TMPDIR).
    wait_for(
        lambda: any(any(d.iterdir()) for d in [*basetemp.glob("servers*/*/uploads"), *basetemp.glob("servers*/*/tmp")]),
        "the upload's bytes on the server's disk",
        timeout=120,
        every=0.005,
    )
    victims = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for victim in victims:
        victim.send_signal(signal.SIGKILL)
    output += proc.communicate(timeout=300)[0]
    assert "1 failed, 1 passed" in output, output[-4000:]
    failure = re.search(r"request\.stream \(chunked copy\) failed for 64MB: .+", output)
    assert failure, output[-4000:]
    assert "is not running any more" in failure.group(0), failure.group(0)  # the cell says why: its server died
    assert re.search(rf"server log: upload-bench-\d+-{deployment}-0 ", output)
    assert alive(server_pids(output)) == []
