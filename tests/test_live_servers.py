"""Real server_app processes on 127.0.0.1: aborted uploads, relaying, binding, start-up failures."""

import hashlib
import socket
import time

import psutil
import pytest
import requests

from fixtures.processes.servers import ServerStartError, free_port
from server_app.config import ENV_VAR, to_environment
from server_app.deployments import DEPLOYMENTS
from tests.conftest import files_in, wait_until_empty

BODY = bytes(range(256)) * 8192  # 2 MiB
MD5 = hashlib.md5(BODY).hexdigest()


def abort_halfway(url_path, server, content_type="application/octet-stream", body=BODY):
    """Send headers announcing the whole body, then half of it, then close the connection."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = (
            f"POST {url_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.3)


def multipart(body):
    boundary = "b0undary"
    payload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", payload


def post_body(url) -> dict:
    """Upload BODY to the chunked copy at url; return the server's JSON answer."""
    headers = {"Content-Type": "application/octet-stream"}
    return requests.post(f"{url}/upload/stream-chunked", data=BODY, headers=headers, timeout=30).json()


@pytest.mark.parametrize("endpoint", ["stream-writelines", "stream-chunked", "files"])
@pytest.mark.parametrize("via", ["1hop", "2hops"])
def test_upload_aborted_halfway_leaves_no_file(final, relay, endpoint, via):
    entry = final if via == "1hop" else relay
    if endpoint == "files":
        content_type, body = multipart(BODY)
        abort_halfway(f"/upload/{endpoint}", entry, content_type, body)
    else:
        abort_halfway(f"/upload/{endpoint}", entry)
    assert wait_until_empty(final, relay) == {}
    assert final.is_serving()


def test_two_hops_store_the_exact_body_at_the_final_hop(final, relay):
    answer = post_body(relay.url)
    assert answer["bytes"] == len(BODY)
    assert answer["via"][0]["forwarded"] == len(BODY)
    assert answer["pid"] == final.pid != answer["via"][0]["pid"]
    stored = final.upload_dir / answer["stored_name"]
    try:
        assert hashlib.md5(stored.read_bytes()).hexdigest() == MD5
        assert files_in(relay) == []
    finally:
        stored.unlink()


def test_the_client_cannot_choose_the_next_hop(server_factory, final, relay):
    decoy = server_factory.spawn()
    try:
        answer = requests.post(
            f"{relay.url}/upload/stream-chunked",
            params={"next": decoy.url, "next_hop": decoy.url, "url": decoy.url},
            headers={
                "Content-Type": "application/octet-stream",
                "Next-Hop": decoy.url,
                "X-Forwarded-Host": f"127.0.0.1:{decoy.port}",
                "Host": f"127.0.0.1:{decoy.port}",
            },
            data=BODY,
            timeout=30,
        ).json()
        assert answer["pid"] == final.pid
        assert files_in(decoy) == []
        (final.upload_dir / answer["stored_name"]).unlink()
    finally:
        server_factory.stop(decoy)


@pytest.mark.parametrize(
    "deployment",
    [
        "werkzeug",
        pytest.param(
            "waitress",
            marks=pytest.mark.skipif(not DEPLOYMENTS["waitress"].available(), reason="waitress is not installed"),
        ),
    ],
)
def test_inherited_variables_turn_no_server_into_a_relay(server_factory, final, monkeypatch, tmp_path, deployment):
    # only --next-hop makes a relay; werkzeug is configured in-process, waitress through ENV_VAR
    monkeypatch.setenv("UPLOAD_BENCH_NEXT_HOP", final.url)
    monkeypatch.setenv(ENV_VAR, to_environment({"UPLOAD_DIR": tmp_path / "stray", "NEXT_HOP": final.url}))
    server = server_factory.spawn(deployment)
    try:
        assert requests.get(f"{server.url}/health", timeout=10).json()["role"] == "final"
        answer = post_body(server.url)
        assert answer["pid"] in {p.pid for p in server.processes()} and "via" not in answer
        assert files_in(server) == [answer["stored_name"]] and files_in(final) == []
        (server.upload_dir / answer["stored_name"]).unlink()
    finally:
        server_factory.stop(server)
    assert not (tmp_path / "stray").exists()


def test_servers_bind_loopback_only(final, relay):
    for server in (final, relay):
        listening = [
            c.laddr for c in psutil.Process(server.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN
        ]
        assert listening == [("127.0.0.1", server.port)]


def test_bad_option_fails_fast_with_the_server_log(server_factory):
    started = time.monotonic()
    with pytest.raises(ServerStartError) as excinfo:
        server_factory.spawn(extra_args=["--max-content-length", "lots"])
    assert "invalid int value: 'lots'" in str(excinfo.value)
    assert time.monotonic() - started < 20


def test_port_taken_is_a_start_error(server_factory, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr("fixtures.processes.servers.free_port", lambda host="127.0.0.1": port)
        with pytest.raises(ServerStartError) as excinfo:
            server_factory.spawn()
    assert "in use" in str(excinfo.value)


def test_free_port_can_be_listened_on_and_reached():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.create_server(("127.0.0.1", port)) as server, socket.create_connection(("127.0.0.1", port)):
        conn, _ = server.accept()
        conn.close()


def test_free_port_never_hands_out_a_port_twice():
    # the kernel's random pick repeats within a few hundred probes (a birthday draw from about 28,000 ports)
    ports = [free_port() for _ in range(400)]
    assert len(set(ports)) == len(ports)
