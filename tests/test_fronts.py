"""nginx in front: its generated config, and the matrix through it with every byte checked."""

import re
from collections import Counter

import pytest
import requests

from fixtures.processes import fronts
from fixtures.processes.chains import Chains
from tests.conftest import UPLOAD_CELLS, alive, server_pids, upload_args, wait_until_empty

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
