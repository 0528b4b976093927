"""os.splice: the socket baseline's receiver and the stream-splice endpoint, on real servers and sockets."""

import hashlib
import json
import os
import socket
import struct

import pytest
import requests

from fixtures.processes.baselines import receiver_ready, send_file
from fixtures.uploads.methods import METHODS
from server_app.deployments import DEPLOYMENTS, SOCKET_KEYS
from server_app.storage import STORED_NAME
from tests.conftest import files_in, wait_for, wait_until_empty

SIZE = 2 << 20
SPLICE = METHODS["request.stream-splice"]
OCTET = {"Content-Type": "application/octet-stream"}
WITH_SOCKET = list(SOCKET_KEYS)
WITHOUT_SOCKET = [name for name in DEPLOYMENTS if name not in SOCKET_KEYS]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def installed(names):
    return [
        pytest.param(
            name,
            id=name,
            marks=pytest.mark.skipif(
                not DEPLOYMENTS[name].available(), reason=f"{DEPLOYMENTS[name].package} not installed"
            ),
        )
        for name in names
    ]


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    """Write SIZE random bytes to a file; return (path, bytes)."""
    data = os.urandom(SIZE)
    path = tmp_path_factory.mktemp("splice") / "body.bin"
    path.write_bytes(data)
    yield path, data
    path.unlink()


@pytest.fixture(scope="module")
def receiver(server_factory):
    """Spawn the socket baseline's receiver."""
    server = server_factory.spawn(
        "socket", module="fixtures.processes.baselines", ready=lambda s: receiver_ready(s.address)
    )
    yield server
    server_factory.stop(server)


@pytest.fixture(scope="module")
def servers(server_factory):
    """Spawn deployments on first use, once per module: servers[name]."""
    spawned = {}

    class Servers(dict):
        def __missing__(self, name):
            spawned[name] = server_factory.spawn(name)
            return spawned[name]

    yield Servers()
    for server in spawned.values():
        server_factory.stop(server)


def take_stored(server, answer, data):
    """Assert the upload dir holds only this upload, with exactly these bytes; delete it."""
    assert files_in(server) == [answer["stored_name"]], "a partial or extra file was left"
    stored = server.upload_dir / answer["stored_name"]
    assert answer["bytes"] == len(data) and md5(stored.read_bytes()) == md5(data)
    stored.unlink()


def raw_post(server, head_length, sent: bytes, extra=b"") -> tuple:
    """POST declaring head_length bytes, send `sent` (and `extra` behind it), shut down writing;
    return (status, JSON body) of the first response."""
    request = (
        f"POST /upload/stream-splice HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {head_length}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request + sent + extra)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, rest = reply.partition(b"\r\n\r\n")
    status = int(head.split(None, 2)[1])
    headers = dict(line.split(": ", 1) for line in head.decode("latin1").split("\r\n")[1:])
    return status, json.loads(rest[: int(headers["Content-Length"])])


def test_receiver_stores_exactly_the_bytes_sent(receiver, body):
    path, data = body
    answer = send_file(receiver.address, path, timeout=60)
    assert STORED_NAME.fullmatch(answer["stored_name"])
    take_stored(receiver, answer, data)


def test_receiver_stores_a_transfer_shorter_than_one_pipe(receiver, tmp_path):
    path = tmp_path / "short.bin"
    data = os.urandom(1000)
    path.write_bytes(data)
    take_stored(receiver, send_file(receiver.address, path, timeout=60), data)


def test_receiver_keeps_nothing_of_a_reset_transfer_and_goes_on(receiver, body):
    path, data = body
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(data[: SIZE // 2])
        wait_for(lambda: files_in(receiver), "the receiver's partial file")  # the reset comes mid-transfer
        # SO_LINGER 0: close sends a reset, the receiver's splice fails mid-transfer
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert wait_until_empty(receiver) == {}
    assert receiver_ready(receiver.address)


@pytest.mark.parametrize("deployment", installed(WITH_SOCKET))
def test_splice_endpoint_stores_the_exact_body_twice_on_one_session(servers, body, deployment):
    server = servers[deployment]
    path, data = body
    with requests.Session() as session:
        for _ in range(2):
            with open(path, "rb") as f:
                response = session.post(SPLICE.url(server.url), data=f, headers=OCTET, timeout=60)
            assert response.status_code == 200, response.text
            assert response.json()["method"] == "stream-splice"
            take_stored(server, response.json(), data)


@pytest.mark.parametrize("deployment", installed(WITH_SOCKET))
def test_only_the_body_is_stored_when_a_request_follows_it_on_the_connection(servers, deployment):
    # A small body arrives with the headers, in the server's read buffer, with the next request behind it.
    server = servers[deployment]
    data = os.urandom(3000)
    status, answer = raw_post(server, len(data), data, extra=b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200, answer
    take_stored(server, answer, data)


@pytest.mark.parametrize("deployment", installed(WITH_SOCKET))
def test_short_body_is_400_and_leaves_nothing(servers, deployment):
    server = servers[deployment]
    declared, sent = 1 << 20, os.urandom(300_000)
    status, answer = raw_post(server, declared, sent)
    assert status == 400, answer
    assert f"received {len(sent)} bytes but Content-Length said {declared}" in answer["detail"]
    assert wait_until_empty(server) == {}


@pytest.mark.parametrize("deployment", installed(WITH_SOCKET))
def test_without_content_length_is_411(servers, deployment):
    server = servers[deployment]
    response = requests.post(SPLICE.url(server.url), data=iter([b"a" * 1000, b"b" * 1000]), headers=OCTET, timeout=30)
    assert response.status_code == 411, response.text
    assert "Content-Length" in response.json()["detail"]
    assert files_in(server) == []


@pytest.mark.parametrize("deployment", installed(WITHOUT_SOCKET))
def test_servers_without_their_socket_answer_501(servers, deployment):
    server = servers[deployment]
    response = requests.post(SPLICE.url(server.url), data=os.urandom(1 << 20), headers=OCTET, timeout=30)
    assert response.status_code == 501, response.text
    assert "does not give the app its socket" in response.json()["detail"]
    assert files_in(server) == []


def test_the_method_is_skipped_exactly_where_the_final_hop_has_no_socket():
    for final in DEPLOYMENTS:
        for chain in ((final,), ("werkzeug", final), ("gunicorn", final)):
            reason = SPLICE.skip_reason(chain)
            if final in SOCKET_KEYS:
                assert reason is None, chain
            else:
                assert reason and f"final hop {final} does not give the app its socket" in reason, chain


def test_a_relay_forwards_to_the_splice_endpoint(server_factory, body):
    final = server_factory.spawn("gunicorn")
    relay = server_factory.spawn("werkzeug", next_hop=final.url)
    path, data = body
    try:
        answer = SPLICE.send(SPLICE.url(relay.url), path, SIZE, 60)
        assert answer["method"] == "stream-splice" and len(answer["via"]) == 1
        take_stored(final, answer, data)
        assert files_in(relay) == []
    finally:
        server_factory.stop(relay)
        server_factory.stop(final)
