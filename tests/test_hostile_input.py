"""Bad and hostile requests against real servers: a clear 4xx with a JSON error, and no file left."""

import hashlib
import os
import socket

import pytest
import requests

from fixtures.live import files_in, final, relay, wait_until_empty  # noqa: F401 (fixtures)
from server_app.deployments import DEPLOYMENTS
from server_app.storage import STORED_NAME

LIMIT = 1 << 20
OCTET = {"Content-Type": "application/octet-stream"}


def post(server, endpoint, **kwargs):
    return requests.post(f"{server.url}/upload/{endpoint}", timeout=30, **kwargs)


def assert_json_error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and body["detail"]


@pytest.mark.parametrize("deployment", [
    pytest.param(name, id=name, marks=pytest.mark.skipif(not d.available(), reason=f"{d.package} not installed"))
    for name, d in DEPLOYMENTS.items()
])
def test_body_over_the_limit_is_413_and_the_limit_keeps_the_servers_stream(server_factory, deployment):
    plain = server_factory.spawn(deployment)
    limited = server_factory.spawn(deployment, extra_args=["--max-content-length", str(LIMIT)])
    try:
        over = post(limited, "stream-chunked", data=os.urandom(2 * LIMIT), headers=OCTET)
        assert_json_error(over, 413)
        assert str(LIMIT) in over.json()["detail"]
        small = os.urandom(LIMIT // 2)
        types = {}
        for role, server in (("plain", plain), ("limited", limited)):
            answer = post(server, "stream-chunked", data=small, headers=OCTET).json()
            stored = server.upload_dir / answer["stored_name"]
            assert hashlib.md5(stored.read_bytes()).hexdigest() == hashlib.md5(small).hexdigest()
            stored.unlink()
            types[role] = answer["stream_type"]
        # The limit must not put request.stream back behind Werkzeug's LimitedStream.
        assert types["limited"] == types["plain"]
        assert wait_until_empty(plain, limited) == {}
    finally:
        server_factory.stop(plain)
        server_factory.stop(limited)


@pytest.mark.parametrize("endpoint", ["stream-writelines", "stream-chunked", "get-data"])
def test_empty_body_is_400(final, endpoint):
    assert_json_error(post(final, endpoint, data=b"", headers=OCTET), 400)
    assert files_in(final) == []


@pytest.mark.parametrize("endpoint, content_type", [
    ("stream-chunked", "text/plain"),
    ("files", "application/octet-stream"),
    ("streaming-form-data", "application/json"),
])
def test_wrong_content_type_is_415(final, endpoint, content_type):
    assert_json_error(post(final, endpoint, data=b"abc", headers={"Content-Type": content_type}), 415)
    assert files_in(final) == []


@pytest.mark.parametrize("endpoint", ["files", "streaming-form-data"])
def test_multipart_without_the_file_field_is_400(final, endpoint):
    response = post(final, endpoint, files={"other": ("x.bin", b"data")})
    assert_json_error(response, 400)
    assert "file" in response.json()["detail"]
    assert files_in(final) == []


@pytest.mark.parametrize("endpoint", ["files", "streaming-form-data"])
def test_malformed_multipart_is_400(final, endpoint):
    body = b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nnever closed"
    response = post(final, endpoint, data=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert_json_error(response, 400)
    assert wait_until_empty(final) == {}


HOSTILE = ["../../escape", "/etc/passwd", "a\x00b", "..", "upload-" + "0" * 32, "%2e%2e%2f"]


@pytest.mark.parametrize("value", HOSTILE, ids=["dotdot", "absolute", "nul", "parent", "stored-name", "encoded"])
def test_no_client_field_reaches_the_filesystem(final, relay, value, tmp_path):
    before = set(os.listdir(final.upload_dir.parent.parent))
    safe_header = value.replace("\x00", "%00")
    responses = [
        post(final, "stream-chunked", data=b"payload", params={"name": value, "path": value},
             headers={**OCTET, "X-Filename": safe_header, "Content-Disposition": f'attachment; filename="{safe_header}"'}),
        post(final, "files", files={"file": (value, b"payload")}),
        post(final, "streaming-form-data", files={"file": (value, b"payload")}),
        post(relay, "files", files={"file": (value, b"payload")}, params={"next": value}),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert STORED_NAME.fullmatch(response.json()["stored_name"])
    stored = files_in(final)
    assert len(stored) == len(responses) and all(STORED_NAME.fullmatch(name) for name in stored)
    for name in stored:
        (final.upload_dir / name).unlink()
    assert set(os.listdir(final.upload_dir.parent.parent)) == before
    assert files_in(relay) == []


@pytest.mark.parametrize("path", ["/upload/..%2f..%2fhealth", "/upload/%00", "/uploads/..%2f..%2fetc%2fpasswd/md5",
                                  "/uploads/upload-%00/md5", "/upload/../health"])
def test_hostile_paths_are_refused(final, path):
    with socket.create_connection(("127.0.0.1", final.port)) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply[:200]
    assert files_in(final) == []
