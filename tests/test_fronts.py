"""nginx in front: its generated config, and the matrix through it with every byte checked."""

import re
from collections import Counter

import pytest
import requests

from fixtures.processes import front_template, fronts
from fixtures.processes.chains import Chains
from tests.conftest import ROOT, UPLOAD_CELLS, alive, refusal, server_pids, upload_args, wait_until_empty

needs_nginx = pytest.mark.skipif(fronts.nginx_binary() is None, reason=fronts.MISSING)


def test_config_gives_nginx_the_servers_limit_and_idle_timeout(tmp_path):
    text = fronts.config(
        fronts.STREAMING, "127.0.0.1", 8000, tmp_path, 9000, "http", body_limit=1 << 20, idle_timeout=2
    )
    assert "client_max_body_size 1048576;" in text and "client_body_timeout 1000ms;" in text
    assert fronts.settings(fronts.STREAMING, 1 << 20)["client_max_body_size"] == "1048576 (the servers' limit)"


@pytest.mark.parametrize(
    "front, protocol, expected",
    [
        ("nginx", "http", ["proxy_pass http://127.0.0.1:9000;", "proxy_request_buffering on;"]),
        (
            "nginx-streaming",
            "http",
            ["proxy_pass http://127.0.0.1:9000;", "proxy_request_buffering off;", "proxy_http_version 1.1;"],
        ),
        ("nginx-streaming", "uwsgi", ["uwsgi_pass 127.0.0.1:9000;", "uwsgi_request_buffering off;", "uwsgi_params;"]),
    ],
)
def test_config_passes_to_the_upstream_with_the_fronts_buffering(tmp_path, front, protocol, expected):
    if protocol == "uwsgi" and fronts.nginx_binary() is None:
        pytest.skip(fronts.MISSING)
    text = fronts.config(front, "127.0.0.1", 8000, tmp_path, 9000, protocol)
    for line in [*expected, "listen 127.0.0.1:8000;", "client_max_body_size 0;", f"pid {tmp_path}/nginx.pid;"]:
        assert line in text
    assert re.findall(r"_temp_path (\S+);", text) and all(
        p.startswith(str(tmp_path)) for p in re.findall(r"_temp_path (\S+);", text)
    )


@needs_nginx
@pytest.mark.slow
def test_matrix_through_both_fronts_stores_every_byte_and_records_the_front(run_matrix):
    result, run = run_matrix(
        *UPLOAD_CELLS,
        "--upload-rounds=1",
        "-s",
        *upload_args(
            sizes="1MB",
            fronts="nginx,nginx-streaming",
            hops=1,
            deployments="gunicorn,waitress,uwsgi",
            methods="request.stream-chunked,request.files,request.stream-chunked-generator",
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    infos = {b["name"]: b["extra_info"] for b in run["benchmarks"]}
    assert len(infos) == 2 * 3 * 3 - 2  # a chunked body through nginx to uWSGI is skipped (the next test)
    assert "2 skipped" in result.stdout
    assert "test_upload[request.stream-chunked-nginx-to-uwsgi-1hop-1MB]" in infos
    for name, info in infos.items():
        assert info["front"] in ("nginx", "nginx-streaming") and info["nginx_version"], name
        assert info["md5_verified"] == 1 and info["hops"] == 1, name
    buffered = infos["test_upload[request.stream-chunked-nginx-to-gunicorn-1hop-1MB]"]
    streaming = infos["test_upload[request.stream-chunked-nginx-streaming-to-gunicorn-1hop-1MB]"]
    assert buffered["front_settings"]["proxy_request_buffering"] == "on"
    assert buffered["tmp_bytes"] >= 1 << 20  # nginx wrote the body to its temp file before passing it on
    assert streaming["tmp_bytes"] < 1 << 20
    assert alive(server_pids(result.stdout)) == []  # nginx and the servers behind it are gone


@needs_nginx
def test_nginx_hands_uwsgi_a_chunked_bodys_transfer_encoding_beside_its_length_which_is_why_the_cell_is_skipped(
    server_factory, tmp_path
):
    from fixtures.data import skips
    from fixtures.uploads.clients import UploadFailed
    from fixtures.uploads.methods import METHODS, NGINX_UWSGI_CHUNKED

    method = METHODS["request.stream-chunked-generator"]
    assert method.skip_reason(("uwsgi",), behind_nginx=True) == skips.NGINX_UWSGI_CHUNKED.reason(NGINX_UWSGI_CHUNKED)
    assert method.skip_reason(("gunicorn",), behind_nginx=True) is None
    chains = Chains(server_factory)
    chain = chains.get(("uwsgi",), fronts.BUFFERED)
    try:
        # a small body, which nginx has passed on whole before the app answers (a large one may meet the
        # refusal mid-body, and nginx then answers 502 for the closed upstream)
        body = tmp_path / "small.bin"
        body.write_bytes(b"x" * 4096)
        with pytest.raises(UploadFailed, match=r"HTTP 400 .*both Transfer-Encoding: chunked and Content-Length"):
            method.send(method.url(chain.url), body, 4096, 30)
    finally:
        for server in chain.servers:
            server_factory.stop(server)


OVER_LIMIT_TRIES = 40  # each way: with a Content-Length, and chunked
FRONT_LIMIT = 1 << 20


def over_limit_answer(url, body, chunked) -> str:
    """Post an over-limit body; return the status of the whole answer, or what went wrong."""
    data = iter([body[i : i + (64 << 10)] for i in range(0, len(body), 64 << 10)]) if chunked else body
    try:
        answer = requests.post(url, data=data, headers={"Content-Type": "application/octet-stream"}, timeout=30)
    except requests.RequestException as exc:  # a reset, or an answer cut short (urllib3 checks its length)
        return f"{type(exc).__name__}: {exc}"
    return f"{answer.status_code}"


@needs_nginx
@pytest.mark.slow
@pytest.mark.parametrize("deployment", list(fronts.UPSTREAMS))
@pytest.mark.parametrize("front", [fronts.BUFFERED, fronts.STREAMING])
def test_an_over_limit_body_through_a_front_gets_a_whole_413_every_time(server_factory, front, deployment):
    chain = Chains(server_factory).get((deployment,), front, body_limit=FRONT_LIMIT)
    try:
        body = b"x" * (4 * FRONT_LIMIT)
        answers = Counter(
            over_limit_answer(f"{chain.url}/upload/stream-chunked", body, chunked)
            for chunked in (False, True)
            for _ in range(OVER_LIMIT_TRIES)
        )
        assert answers == {"413": 2 * OVER_LIMIT_TRIES}
        assert wait_until_empty(*chain.servers[1:]) == {}  # an aborted upload's partial file goes too
    finally:
        for server in chain.servers:
            server_factory.stop(server)


TEMPLATE = ROOT / "examples" / "nginx.conf.template"


@pytest.mark.parametrize(
    "text, named",
    [
        pytest.param("listen @LISTEN@;", "it has no @UPSTREAM@", id="no-upstream"),
        pytest.param(
            "listen @LISTEN@; proxy_pass http://@UPSTREAM@; @PORT@", "@PORT@ is not a placeholder", id="unknown"
        ),
    ],
)
def test_a_front_config_without_the_runs_placeholders_is_refused_naming_them(tmp_path, text, named):
    template = tmp_path / "nginx.conf"
    template.write_text(text)
    refused = refusal(f"--upload-front-config={template}")
    assert named in refused and "@LISTEN@, @UPSTREAM@" in refused  # and the placeholders there are
    assert "cannot be read" in refusal(f"--upload-front-config={tmp_path / 'none.conf'}")


def test_the_example_front_config_puts_the_runs_addresses_and_folders_in_the_placeholders(tmp_path):
    text = front_template.load(TEMPLATE).render("127.0.0.1", 8000, tmp_path, 9000, None, "/etc/uwsgi_params")
    assert "listen 127.0.0.1:8000;" in text and "proxy_pass http://127.0.0.1:9000;" in text
    assert f"pid {tmp_path}/nginx.pid;" in text and f"client_body_temp_path {tmp_path}/tmp/client_body;" in text
    assert [line for line in text.splitlines() if "@" in line and not line.startswith("#")] == []  # all filled


@needs_nginx
def test_nginx_refusing_a_front_config_is_said_in_its_own_words(tmp_path):
    assert front_template.refusal(front_template.load(TEMPLATE), fronts.nginx_binary()) is None
    bad = tmp_path / "bad.conf"
    bad.write_text(TEMPLATE.read_text().replace("worker_processes 1;", "worker_processes 1;\nno_such_directive on;"))
    refused = front_template.refusal(front_template.load(bad), fronts.nginx_binary())
    assert 'unknown directive "no_such_directive"' in refused and "DIR/nginx.conf" in refused


@needs_nginx
@pytest.mark.slow
def test_a_front_of_your_own_config_runs_recorded_and_a_config_nginx_refuses_stops_the_run(run_matrix, tmp_path):
    cell = (*UPLOAD_CELLS, "--upload-rounds=1", *upload_args(sizes="256KB", hops=1, deployments="uwsgi"))
    methods = "--upload-methods=request.stream-chunked"
    result, run = run_matrix(*cell, methods, f"--upload-front-config={TEMPLATE}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "upload-bench plan: the front nginx-config runs nginx.conf.template (sha256 " in result.stdout
    fronted = [b["extra_info"] for b in run["benchmarks"] if b["extra_info"]["front"] == front_template.FRONT]
    assert {i["deployment"] for i in fronted} == {"nginx-config>uwsgi"}
    assert all(i["md5_verified"] == 1 and i["front_settings"]["config"] == TEMPLATE.name for i in fronted)
    bad = tmp_path / "bad.conf"
    bad.write_text(TEMPLATE.read_text().replace("client_max_body_size 0;", "client_max_body_size lots;"))
    result, _ = run_matrix(*cell, methods, f"--upload-front-config={bad}")
    assert result.returncode == 4, result.stdout[-3000:]
    assert "--upload-front-config=bad.conf: nginx refuses it:\n" in result.stdout + result.stderr
