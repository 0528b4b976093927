"""More ways to upload: the new endpoints (Flask test client), the new clients (real servers), the registry."""

import hashlib
import io
import socket
import threading
import time

import pytest

from fixtures.data import skips
from fixtures.uploads import clients
from fixtures.uploads.clients import UploadFailed, UploadTimedOut
from fixtures.uploads.methods import (
    LIBRARIES_END,
    LIBRARIES_START,
    METHODS,
    METHODS_END,
    METHODS_START,
    NO_CHUNKED_INPUT,
    RELAY_NEEDS_LENGTH,
    libraries_table,
    methods_table,
)
from server_app import create_app
from server_app.deployments import DEPLOYMENTS
from server_app.receiving import ENDPOINTS, STREAMING_PARSERS
from server_app.storage import STORED_NAME
from tests.conftest import ROOT, files_in, wait_until_empty

# 3 MiB and a bit: many 64 KiB blocks, several 1 MiB ones, and a tail that is no whole block.
BODY = bytes(range(256)) * 4096 * 3 + b"\r\n--not-a-boundary\r\nodd tail"
MD5 = hashlib.md5(BODY).hexdigest()
STREAM_ENDPOINTS = ["stream-64k", "stream-8m", "get-data"]
NEW_ENDPOINTS = [*STREAM_ENDPOINTS, *STREAMING_PARSERS]
BOUNDARY = "b0undary"
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(name, content, filename="x.bin"):
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
    )


def multipart(*parts):
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


# --- the endpoints, through Flask's test client -------------------------------------------------


def post(client, endpoint, body=BODY, filename="data.bin"):
    if endpoint in STREAMING_PARSERS:
        # Werkzeug's own multipart encoder here; the live tests use requests-toolbelt's.
        return client.post(
            f"/upload/{endpoint}", data={"file": (io.BytesIO(body), filename)}, content_type="multipart/form-data"
        )
    return client.post(f"/upload/{endpoint}", data=body, content_type="application/octet-stream")


def assert_stored(response, upload_dir, endpoint, body=BODY):
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["bytes"] == len(body)
    assert answer["method"] == endpoint
    assert STORED_NAME.fullmatch(answer["stored_name"])
    assert files_in(upload_dir) == [answer["stored_name"]]
    assert hashlib.md5((upload_dir / answer["stored_name"]).read_bytes()).hexdigest() == hashlib.md5(body).hexdigest()


@pytest.mark.parametrize("endpoint", NEW_ENDPOINTS)
def test_new_endpoint_stores_the_exact_body(client, upload_dir, endpoint):
    assert_stored(post(client, endpoint), upload_dir, endpoint)


@pytest.mark.parametrize("endpoint", [*STREAM_ENDPOINTS, "stream-writelines", "stream-chunked"])
def test_an_empty_raw_body_is_refused_and_nothing_stored(client, upload_dir, endpoint):
    response = post(client, endpoint, body=b"")
    assert response.status_code == 400
    assert "empty" in response.json["detail"]
    assert files_in(upload_dir) == []


@pytest.mark.parametrize("endpoint", ["files", *STREAMING_PARSERS])
def test_an_empty_file_part_is_stored_as_an_empty_file(client, upload_dir, endpoint):
    response = client.post(f"/upload/{endpoint}", data=multipart(part("file", b"")), content_type=MULTIPART_TYPE)
    assert_stored(response, upload_dir, endpoint, body=b"")
    assert (upload_dir / response.json["stored_name"]).stat().st_size == 0


@pytest.mark.parametrize(
    "endpoint, content_type",
    [
        ("stream-64k", "text/plain"),
        ("stream-8m", MULTIPART_TYPE),
        ("get-data", None),
        ("streaming-form-data", "application/octet-stream"),
        ("python-multipart", "text/plain"),
        ("multipart", "application/x-www-form-urlencoded"),
        ("stream-chunked", "text/plain"),
        ("stream-writelines", "multipart/form-data; boundary=x"),
        ("files", "application/octet-stream"),
    ],
)
def test_wrong_content_type_is_415(client, upload_dir, endpoint, content_type):
    response = client.post(f"/upload/{endpoint}", data=b"abc", content_type=content_type)
    assert response.status_code == 415
    assert "takes" in response.json["detail"]
    assert files_in(upload_dir) == []


def test_every_endpoint_is_routed_on_the_final_hop_and_the_relay(upload_dir):
    final = create_app({"UPLOAD_DIR": upload_dir}).test_client()
    relay = create_app({"UPLOAD_DIR": upload_dir, "NEXT_HOP": "http://127.0.0.1:9"}).test_client()
    for endpoint in ENDPOINTS:
        assert final.post(f"/upload/{endpoint}", data=b"x", content_type="text/plain").status_code == 415
        # the relay knows the endpoint: it refuses a body without a length (411) instead of answering 404
        response = relay.post(f"/upload/{endpoint}")
        assert response.status_code == 411 and "Content-Length" in response.json["detail"]
    assert files_in(upload_dir) == []


# --- the registry -------------------------------------------------------------------------------


def test_every_endpoint_has_a_method_and_every_method_an_endpoint():
    assert {m.endpoint for m in METHODS.values()} == set(ENDPOINTS)
    assert all(key == m.id for key, m in METHODS.items())
    assert len({m.name for m in METHODS.values()}) == len(METHODS)


def test_the_issue_7_combinations_are_registered():
    pairs = {(m.send, m.endpoint) for m in METHODS.values()}
    assert {
        (clients.send_multipart_encoder, "files"),
        (clients.send_multipart_encoder, "streaming-form-data"),
        (clients.send_multipart_encoder, "python-multipart"),
        (clients.send_multipart_encoder, "multipart"),
        (clients.send_data, "get-data"),
        (clients.send_data, "stream-64k"),
        (clients.send_data, "stream-8m"),
        (clients.send_chunked, "stream-chunked"),
    } <= pairs


CHUNKED = METHODS["request.stream-chunked-generator"]


@pytest.mark.parametrize(
    "deployments, reasons",
    [
        (("werkzeug",), []),
        (("gunicorn",), []),
        (("waitress",), []),
        (("uwsgi",), [skips.NO_CHUNKED.reason(NO_CHUNKED_INPUT.format(deployment="uwsgi"))]),
        (("uwsgi-seed",), [skips.NO_CHUNKED.reason(NO_CHUNKED_INPUT.format(deployment="uwsgi-seed"))]),
        (("werkzeug", "werkzeug"), [skips.RELAY_NEEDS_LENGTH.reason(RELAY_NEEDS_LENGTH.format(deployment="werkzeug"))]),
        (("gunicorn", "uwsgi"), [skips.RELAY_NEEDS_LENGTH.reason(RELAY_NEEDS_LENGTH.format(deployment="gunicorn"))]),
        # waitress receives the whole body and hands its relay a Content-Length: it forwards
        (("waitress", "uwsgi"), []),
        (("waitress", "werkzeug", "gunicorn"), []),
        (("uwsgi", "uwsgi", "uwsgi"), [skips.NO_CHUNKED.reason(NO_CHUNKED_INPUT.format(deployment="uwsgi"))]),
    ],
)
def test_skip_reason_of_the_chunked_client(deployments, reasons):
    reason = CHUNKED.skip_reason(deployments)
    assert reason == ("; ".join(reasons) or None)


def test_methods_with_a_content_length_run_everywhere():
    chains = [(d,) * hops for d in DEPLOYMENTS for hops in (1, 2, 3)]
    for method in METHODS.values():
        if method is not CHUNKED and not method.needs_socket:
            assert [method.skip_reason(chain) for chain in chains] == [None] * len(chains), method.id


def test_methods_table_has_one_row_per_method():
    lines = methods_table().splitlines()
    assert lines[0].startswith("| Method |") and set(lines[1]) <= set("| -")
    assert len(lines) == 2 + len(METHODS)
    for line, method in zip(lines[2:], METHODS.values(), strict=True):
        assert line.startswith(f"| {method.name} | `{method.id}` |")
        assert line.count(" | ") == 4  # no unescaped pipe in a cell


@pytest.mark.parametrize(
    "start, end, table, command",
    [
        (METHODS_START, METHODS_END, methods_table, "python -m fixtures.uploads.methods"),
        (LIBRARIES_START, LIBRARIES_END, libraries_table, "python -m fixtures.uploads.methods libraries"),
    ],
    ids=["methods", "libraries"],
)
def test_docs_table_is_the_registry(start, end, table, command):
    page = ROOT / "docs" / "methods.md"
    text = page.read_text() if page.is_file() else ""
    if start not in text or end not in text:
        pytest.fail(f"docs/methods.md has no {start} / {end} markers: put the output of `{command}` between them")
    between = text.split(start, 1)[1].split(end, 1)[0]
    assert between.strip() == table().strip(), f"docs/methods.md's table is stale: regenerate it with `{command}`"


# --- the clients, against real servers ----------------------------------------------------------

NEW_METHODS = [
    "request.stream-64k",
    "request.stream-8m",
    "request.get_data",
    "request.stream-chunked-generator",
    "request.files-multipartencoder",
    "streaming-form-data-multipartencoder",
    "python-multipart-multipartencoder",
    "multipart-multipartencoder",
]


@pytest.fixture
def datafile(tmp_path):
    path = tmp_path / "body.bin"
    path.write_bytes(BODY)
    return path


def check_and_delete(answer, server):
    stored = server.upload_dir / answer["stored_name"]
    try:
        assert answer["bytes"] == len(BODY)
        assert hashlib.md5(stored.read_bytes()).hexdigest() == MD5
    finally:
        stored.unlink(missing_ok=True)


@pytest.mark.parametrize("method_id", NEW_METHODS)
def test_new_method_stores_the_exact_file_on_a_real_server(final, datafile, method_id):
    method = METHODS[method_id]
    answer = method.send(method.url(final.url), datafile, len(BODY), 60)
    assert answer["method"] == method.endpoint
    if method.send is clients.send_chunked:
        assert answer["content_length"] is None  # no Content-Length was sent
        assert answer["stream_type"] == "werkzeug.serving.DechunkedInput"
    elif method.send is clients.send_multipart_encoder:
        assert answer["content_length"] > len(BODY)  # the multipart body, sized up front
    else:
        assert answer["content_length"] == len(BODY)
    check_and_delete(answer, final)


@pytest.mark.parametrize(
    "method_id",
    [
        "request.files-multipartencoder",
        "streaming-form-data-multipartencoder",
        "python-multipart-multipartencoder",
        "multipart-multipartencoder",
        "request.get_data",
        "request.stream-8m",
    ],
)
def test_new_method_crosses_a_relay(final, relay, datafile, method_id):
    method = METHODS[method_id]
    answer = method.send(method.url(relay.url), datafile, len(BODY), 60)
    assert answer["pid"] == final.pid
    assert len(answer["via"]) == 1
    check_and_delete(answer, final)
    assert files_in(relay) == []


def test_chunked_generator_is_refused_by_a_relay_with_411_not_lost(final, relay, datafile):
    with pytest.raises(UploadFailed) as excinfo:
        CHUNKED.send(CHUNKED.url(relay.url), datafile, len(BODY), 60)
    assert "HTTP 411" in str(excinfo.value) and "Content-Length" in str(excinfo.value)
    assert wait_until_empty(final, relay) == {}


@pytest.mark.parametrize(
    "send, endpoint",
    [(clients.send_multipart_encoder, "streaming-form-data"), (clients.send_chunked, "stream-chunked")],
)
def test_streaming_client_reads_the_file_as_it_sends(final, datafile, send, endpoint):
    calls = []
    answer = send(
        f"{final.url}/upload/{endpoint}",
        datafile,
        len(BODY),
        60,
        progress=lambda sent, total: calls.append((sent, total)),
    )
    check_and_delete(answer, final)
    assert len(calls) > 3  # many reads, not one body built in memory
    assert [sent for sent, _ in calls] == sorted(sent for sent, _ in calls)
    sent, total = calls[-1]
    assert sent == total >= len(BODY)


@pytest.mark.parametrize("send", [clients.send_multipart_encoder, clients.send_chunked])
def test_streaming_client_stops_at_its_budget_mid_body(slow_sink, data_files, send):
    datafile = data_files.get(8 << 20)
    started = time.monotonic()
    with pytest.raises(UploadTimedOut) as excinfo:
        send(slow_sink, datafile.path, datafile.size, 0.5)
    assert time.monotonic() - started < 5
    assert 0 < excinfo.value.sent < datafile.size
    # stopped by the pace, which it is judged on once a tenth of the budget has passed, or by the budget
    assert excinfo.value.elapsed > clients.PROJECTION_AFTER * 0.5
    assert excinfo.value.elapsed > 0.5 if excinfo.value.projected is None else excinfo.value.projected > 1.0


def test_client_stops_early_when_its_pace_projects_far_past_its_budget(slow_sink, data_files):
    datafile = data_files.get(64 << 20)  # about 40 s at the sink's pace
    started = time.monotonic()
    with pytest.raises(UploadTimedOut) as excinfo:
        clients.send_data(slow_sink, datafile.path, datafile.size, 6)
    assert time.monotonic() - started < 4.5  # well before the 6 s budget
    assert excinfo.value.projected > clients.PROJECTION_MARGIN * 6
    assert excinfo.value.elapsed > clients.PROJECTION_AFTER * 6
    assert "stopped early" in excinfo.value.describe("64MB")


@pytest.mark.skipif(not DEPLOYMENTS["uwsgi"].available(), reason="pyuwsgi is not installed")
def test_uwsgi_answers_a_chunked_body_with_411_which_is_why_the_cell_is_skipped(server_factory, datafile):
    server = server_factory.spawn("uwsgi")
    try:
        with pytest.raises(UploadFailed) as excinfo:
            CHUNKED.send(CHUNKED.url(server.url), datafile, len(BODY), 60)
        assert "HTTP 411" in str(excinfo.value) and "does not read chunked" in str(excinfo.value)
        assert files_in(server) == []
    finally:
        server_factory.stop(server)


def test_a_send_that_waits_its_whole_timeout_on_a_server_that_takes_nothing_is_over_budget(data_files):
    sink = socket.create_server(("127.0.0.1", 0))  # accepts, never reads: the body fills the socket buffers
    held = []
    acceptor = threading.Thread(target=lambda: held.append(sink.accept()[0]))
    acceptor.start()
    datafile = data_files.get(8 << 20)
    try:
        with pytest.raises(UploadTimedOut) as excinfo:  # requests reports it as a ConnectionError
            clients.send_data(f"http://127.0.0.1:{sink.getsockname()[1]}/upload", datafile.path, datafile.size, 1)
        assert 0 < excinfo.value.sent < datafile.size and excinfo.value.elapsed < 3  # within its budget's reach
    finally:
        acceptor.join(5)
        for connection in held:
            connection.close()
        sink.close()
