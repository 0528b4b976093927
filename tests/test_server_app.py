"""server_app through Flask's test client: storage, names, errors."""

import hashlib
import io
import json
import subprocess
import sys

import pytest

from server_app import create_app
from server_app.config import ENV_VAR, ConfigError, MiB, to_environment
from server_app.receiving import MULTIPART_ENDPOINTS
from server_app.relaying import RELAY_BLOCK, BodyReader
from server_app.storage import PARTIAL_SUFFIX, STORED_NAME, new_upload
from tests.conftest import files_in

BODY = b"line one\nline two\n" + bytes(range(256)) * 4096 + b"no newline at the end"
MD5 = hashlib.md5(BODY).hexdigest()


def post(client, endpoint, body=BODY, filename="data.bin"):
    if endpoint == "files":
        return client.post(
            "/upload/files", data={"file": (io.BytesIO(body), filename)}, content_type="multipart/form-data"
        )
    return client.post(f"/upload/{endpoint}", data=body, content_type="application/octet-stream")


@pytest.mark.parametrize("endpoint", ["stream-writelines", "stream-chunked", "files"])
def test_every_method_stores_the_exact_body(client, upload_dir, endpoint):
    response = post(client, endpoint)
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["bytes"] == len(BODY)
    assert STORED_NAME.fullmatch(answer["stored_name"])
    assert files_in(upload_dir) == [answer["stored_name"]]
    assert hashlib.md5((upload_dir / answer["stored_name"]).read_bytes()).hexdigest() == MD5


@pytest.mark.parametrize("filename", ["../../escape.bin", "/etc/passwd", "a\0b.bin", ".hidden"])
def test_client_file_names_never_reach_the_filesystem(client, upload_dir, filename):
    response = post(client, "files", filename=filename)
    assert response.status_code == 200
    assert files_in(upload_dir) == [response.json["stored_name"]]
    assert not (upload_dir / "../../escape.bin").exists()  # where "../../escape.bin" would have landed


def test_multipart_without_file_field_is_400(client, upload_dir):
    response = client.post(
        "/upload/files", data={"other": (io.BytesIO(b"x"), "x.bin")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "'file'" in response.json["detail"]
    assert files_in(upload_dir) == []


def test_digest_endpoint_gives_md5_of_a_stored_upload(client):
    name = post(client, "stream-chunked").json["stored_name"]
    answer = client.get(f"/uploads/{name}/md5").json
    assert answer == {"name": name, "md5": MD5, "bytes": len(BODY)}


@pytest.mark.parametrize("name", ["..%2F..%2Fetc%2Fpasswd", "upload-xyz", ".upload-0.partial"])
def test_digest_endpoint_refuses_other_names(client, name):
    assert client.get(f"/uploads/{name}/md5").status_code == 404


# --- configuration ---------------------------------------------------------------------------


def test_app_needs_an_upload_dir():
    with pytest.raises(ConfigError, match="UPLOAD_DIR is not set"):
        create_app({"TESTING": True})


def test_without_a_config_the_app_needs_the_environment_variable(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ConfigError, match=f"no configuration: .*set {ENV_VAR} to a JSON object"):
        create_app()


def test_defaults_switch_nothing_on(upload_dir, monkeypatch):
    # stray variables of the old scheme, inherited: nothing reads them
    for name in ("UPLOAD_BENCH_PROFILING", "UPLOAD_BENCH_TEST_ENDPOINTS", "UPLOAD_BENCH_NEXT_HOP"):
        monkeypatch.setenv(name, "1")
    app = create_app({"UPLOAD_DIR": upload_dir})
    assert {
        key: app.config[key] for key in ("NEXT_HOP", "UPLOAD_LIMIT", "BLOCK_SIZE", "PROFILING", "TEST_ENDPOINTS")
    } == {"NEXT_HOP": None, "UPLOAD_LIMIT": None, "BLOCK_SIZE": MiB, "PROFILING": False, "TEST_ENDPOINTS": False}
    client = app.test_client()
    assert client.get("/health").json["role"] == "final"
    assert client.post("/test/allocate", query_string={"mb": 1}).status_code == 404


def test_config_switches_are_real_booleans(upload_dir):
    client = create_app({"UPLOAD_DIR": upload_dir, "TEST_ENDPOINTS": True}).test_client()
    assert client.post("/test/allocate", query_string={"mb": 1}).json["allocated"] == MiB


def test_upload_limit_from_config_refuses_larger_bodies(upload_dir):
    client = create_app({"UPLOAD_DIR": upload_dir, "UPLOAD_LIMIT": len(BODY) - 1}).test_client()
    response = post(client, "stream-chunked")
    assert response.status_code == 413
    assert f"over the {len(BODY) - 1}-byte limit" in response.json["detail"]
    assert files_in(upload_dir) == []


@pytest.mark.parametrize("endpoint", MULTIPART_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\r\n--other\r\n" * 200_000, id="junk-2.6MB"),  # past what Werkzeug holds in memory
        pytest.param(b"x" * 1000, id="junk-1KB"),
    ],
)
def test_a_multipart_body_without_its_boundary_is_a_400_that_names_the_boundary(client, upload_dir, endpoint, body):
    response = client.post(f"/upload/{endpoint}", data=body, content_type="multipart/form-data; boundary=b0undary")
    assert response.status_code == 400
    assert response.json["detail"].startswith("malformed multipart body: its boundary 'b0undary' (from the Content")
    assert files_in(upload_dir) == []


@pytest.mark.parametrize(
    "path, content_type, limit, status, read",
    [
        pytest.param("/upload/files", "multipart/form-data", None, 400, len(BODY), id="no-boundary-400-read-first"),
        pytest.param("/upload/nowhere", "application/octet-stream", None, 404, len(BODY), id="unknown-404-read-first"),
        pytest.param("/upload/stream-chunked", "application/octet-stream", 1024, 413, 0, id="over-limit-413-left"),
    ],
)
def test_an_error_before_the_body_is_read_reads_the_rest_first_unless_it_is_over_the_limit(
    upload_dir, path, content_type, limit, status, read
):
    stream = io.BytesIO(BODY)
    client = create_app({"UPLOAD_DIR": upload_dir, "UPLOAD_LIMIT": limit}).test_client()
    response = client.post(path, input_stream=stream, content_length=len(BODY), content_type=content_type)
    assert response.status_code == status
    assert stream.tell() == read  # a server that closes with unread bytes resets the connection: nginx's 502


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("PROFILING", "1", "PROFILING='1' is not allowed: expected true or false"),
        ("PROFILING", 1, "PROFILING=1 is not allowed: expected true or false"),
        ("TEST_ENDPOINTS", "true", "TEST_ENDPOINTS='true' is not allowed: expected true or false"),
        ("UPLOAD_LIMIT", "10", "UPLOAD_LIMIT='10' is not allowed: expected null, or a positive whole number"),
        ("BLOCK_SIZE", 0, "BLOCK_SIZE=0 is not allowed: expected a positive whole number"),
        ("NEXT_HOP", "127.0.0.1:9", "NEXT_HOP='127.0.0.1:9' is not allowed: expected null, or the http(s) base URL"),
        ("IDLE_TIMEOUT", 0.5, "IDLE_TIMEOUT=0.5 is not allowed: expected a positive whole number of seconds"),
        ("PROFILE", True, "unknown key 'PROFILE'; known: UPLOAD_DIR, "),
        ("MAX_CONTENT_LENGTH", 10, "set UPLOAD_LIMIT instead"),
    ],
)
def test_a_bad_config_value_is_an_error_naming_it_and_what_is_allowed(upload_dir, key, value, expected):
    with pytest.raises(ConfigError) as excinfo:
        create_app({"UPLOAD_DIR": upload_dir, key: value})
    assert expected in str(excinfo.value)
    assert not upload_dir.exists()  # refused before anything was created


def load_wsgi_app(environment_value, cwd):
    """Import server_app.wsgi in a new Python, as gunicorn, uWSGI and waitress do; return the result."""
    show = "import json; from server_app.wsgi import app; print(json.dumps(app.config, default=str))"
    # cwd elsewhere: the package is imported as installed, as the servers import it
    return subprocess.run(
        [sys.executable, "-c", show],
        env={"PATH": "", ENV_VAR: environment_value},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exec_deployments_are_configured_by_the_json_variable(upload_dir):
    value = to_environment(
        {"UPLOAD_DIR": upload_dir, "PROFILING": True, "UPLOAD_LIMIT": 5, "IDLE_TIMEOUT": 7, "RELAY_READ_TIMEOUT": 8}
    )
    result = load_wsgi_app(value, upload_dir.parent)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["UPLOAD_DIR"] == str(upload_dir)
    assert (config["PROFILING"], config["TEST_ENDPOINTS"], config["UPLOAD_LIMIT"]) == (True, False, 5)
    assert (config["IDLE_TIMEOUT"], config["RELAY_READ_TIMEOUT"]) == (7, 8)


def test_a_bad_json_variable_stops_the_exec_deployment_naming_the_value(upload_dir):
    result = load_wsgi_app(json.dumps({"UPLOAD_DIR": str(upload_dir), "PROFILING": "yes"}), upload_dir.parent)
    assert result.returncode != 0
    assert f"ConfigError: {ENV_VAR}: PROFILING='yes' is not allowed: expected true or false" in result.stderr
    result = load_wsgi_app("PROFILING=1", upload_dir.parent)
    assert f"{ENV_VAR} is not valid JSON" in result.stderr


def test_relay_refuses_an_unknown_endpoint(upload_dir):
    relay = create_app({"UPLOAD_DIR": upload_dir, "NEXT_HOP": "http://127.0.0.1:9"}).test_client()
    assert relay.post("/upload/evil", data=b"x").status_code == 404
    assert files_in(upload_dir) == []  # chunked bodies at a relay: tests/test_faults.py, on real servers


def test_relay_reports_an_unreachable_next_hop_as_502(upload_dir):
    relay = create_app({"UPLOAD_DIR": upload_dir, "NEXT_HOP": "http://127.0.0.1:9"}).test_client()
    response = relay.post("/upload/stream-chunked", data=BODY, content_type="application/octet-stream")
    assert response.status_code == 502
    assert "127.0.0.1:9" in response.json["detail"]


def test_a_refused_body_is_never_published_under_a_public_name(tmp_path):
    seen = []

    def refuse(size):
        seen.append((size, sorted(p.name for p in tmp_path.iterdir())))
        raise ValueError("short")

    with pytest.raises(ValueError, match="short"):
        with new_upload(tmp_path, check=refuse) as (out, result):
            out.write(b"x" * 10)
    [(size, names)] = seen
    assert size == 10
    assert len(names) == 1 and names[0].endswith(PARTIAL_SUFFIX)  # only the hidden partial, when checked
    assert list(tmp_path.iterdir()) == [] and "stored" not in result


def _record_fsyncs(monkeypatch):
    """Record what each os.fsync call flushed (a directory, or a file and its size then), and flush it."""
    import os
    import stat

    real_fsync, synced = os.fsync, []

    def fsync(fd):
        info = os.fstat(fd)
        synced.append("dir" if stat.S_ISDIR(info.st_mode) else info.st_size)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


@pytest.mark.parametrize("endpoint", ["stream-chunked", "files", "stream-writelines"])
def test_durable_app_syncs_the_whole_file_then_its_directory_before_answering(upload_dir, monkeypatch, endpoint):
    synced = _record_fsyncs(monkeypatch)
    client = create_app({"UPLOAD_DIR": upload_dir, "DURABLE": True, "TESTING": True}).test_client()
    assert client.get("/health").json["durable"] is True
    response = post(client, endpoint)
    assert response.status_code == 200, response.json
    assert synced == [len(BODY), "dir"]  # the whole body, before the rename; then the rename itself
    assert hashlib.md5((upload_dir / response.json["stored_name"]).read_bytes()).hexdigest() == MD5


def test_an_app_that_is_not_durable_syncs_nothing(client, upload_dir, monkeypatch):
    synced = _record_fsyncs(monkeypatch)
    assert client.get("/health").json["durable"] is False
    assert post(client, "stream-chunked").status_code == 200
    assert synced == []


def test_a_refused_durable_body_is_neither_synced_nor_published(tmp_path, monkeypatch):
    synced = _record_fsyncs(monkeypatch)

    def refuse(size):
        raise ValueError("short")

    with pytest.raises(ValueError):
        with new_upload(tmp_path, check=refuse, durable=True) as (out, _):
            out.write(b"x" * 10)
    assert synced == [] and list(tmp_path.iterdir()) == []


def test_durable_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match=r"DURABLE='yes' is not allowed: expected true or false"):
        create_app({"UPLOAD_DIR": tmp_path, "DURABLE": "yes"})


class RecordedBody(io.BytesIO):
    """A client's body whose reads are recorded: the sizes the relay asked for."""

    def __init__(self, data):
        super().__init__(data)
        self.asked = []

    def read(self, size=-1):
        self.asked.append(size)
        return super().read(size)


def test_relay_reads_the_body_in_its_own_blocks_whatever_its_sender_asks():
    body = (BODY * (2 * RELAY_BLOCK // len(BODY) + 1))[: 2 * RELAY_BLOCK + 5]
    recorded = RecordedBody(body)
    reader = BodyReader(recorded, len(body))
    assert reader.read(0) == b""  # as a file's: nothing read, nothing forwarded
    # http.client sends a file-like body in 8 KiB reads; gunicorn copies its read-ahead at every small one
    assert b"".join(iter(lambda: reader.read(8192), b"")) == body
    assert recorded.asked == [RELAY_BLOCK, RELAY_BLOCK, 5]
    assert reader.forwarded == len(body)
