"""server_app through Flask's test client: storage, names, errors."""

import hashlib
import io

import pytest

from server_app import create_app
from server_app.storage import STORED_NAME
from tests.conftest import stored_files

BODY = b"line one\nline two\n" + bytes(range(256)) * 4096 + b"no newline at the end"
MD5 = hashlib.md5(BODY).hexdigest()


def post(client, endpoint, body=BODY, filename="data.bin"):
    if endpoint == "files":
        return client.post("/upload/files", data={"file": (io.BytesIO(body), filename)},
                           content_type="multipart/form-data")
    return client.post(f"/upload/{endpoint}", data=body, content_type="application/octet-stream")


@pytest.mark.parametrize("endpoint", ["stream-writelines", "stream-chunked", "files"])
def test_every_method_stores_the_exact_body(client, upload_dir, endpoint):
    response = post(client, endpoint)
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["bytes"] == len(BODY)
    assert STORED_NAME.fullmatch(answer["stored_name"])
    assert stored_files(upload_dir) == [answer["stored_name"]]
    assert hashlib.md5((upload_dir / answer["stored_name"]).read_bytes()).hexdigest() == MD5


@pytest.mark.parametrize("filename", ["../../escape.bin", "/etc/passwd", "a\0b.bin", ".hidden"])
def test_client_file_names_never_reach_the_filesystem(client, upload_dir, filename):
    response = post(client, "files", filename=filename)
    assert response.status_code == 200
    assert stored_files(upload_dir) == [response.json["stored_name"]]
    assert not (upload_dir.parent / "escape.bin").exists()


def test_multipart_without_file_field_is_400(client, upload_dir):
    response = client.post("/upload/files", data={"other": (io.BytesIO(b"x"), "x.bin")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "'file'" in response.json["detail"]
    assert stored_files(upload_dir) == []


def test_digest_endpoint_gives_md5_of_a_stored_upload(client):
    name = post(client, "stream-chunked").json["stored_name"]
    answer = client.get(f"/uploads/{name}/md5").json
    assert answer == {"name": name, "md5": MD5, "bytes": len(BODY)}


@pytest.mark.parametrize("name", ["..%2F..%2Fetc%2Fpasswd", "upload-xyz", ".upload-0.partial"])
def test_digest_endpoint_refuses_other_names(client, name):
    assert client.get(f"/uploads/{name}/md5").status_code == 404


def test_app_needs_an_upload_dir(monkeypatch):
    monkeypatch.delenv("UPLOAD_BENCH_UPLOAD_DIR", raising=False)
    with pytest.raises(ValueError, match="UPLOAD_DIR"):
        create_app()


def test_relay_refuses_unknown_endpoint_and_chunked_bodies(upload_dir):
    relay = create_app({"UPLOAD_DIR": upload_dir, "NEXT_HOP": "http://127.0.0.1:9"}).test_client()
    assert relay.post("/upload/evil", data=b"x").status_code == 404
    chunked = relay.post("/upload/stream-chunked", input_stream=io.BytesIO(b"abc"),
                         headers={"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"})
    assert chunked.status_code == 411
    assert stored_files(upload_dir) == []


def test_relay_reports_an_unreachable_next_hop_as_502(upload_dir):
    relay = create_app({"UPLOAD_DIR": upload_dir, "NEXT_HOP": "http://127.0.0.1:9"}).test_client()
    response = relay.post("/upload/stream-chunked", data=BODY, content_type="application/octet-stream")
    assert response.status_code == 502
    assert "127.0.0.1:9" in response.json["detail"]
