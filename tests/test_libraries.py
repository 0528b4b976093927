"""The client libraries besides requests: the same bytes to the same endpoints, the same budget, the same errors."""

import hashlib
import time

import pytest

from fixtures.run.matrix import cells
from fixtures.uploads.clients import PROJECTION_AFTER, UploadFailed, UploadTimedOut
from fixtures.uploads.libraries import LIBRARIES, REQUESTS, Library
from fixtures.uploads.methods import ALL_METHODS, METHODS, VARIANTS, method_for
from tests.conftest import one_cell_options, wait_until_empty

OTHERS = [name for name in LIBRARIES if name != REQUESTS]
SIZE = 3 * (1 << 20) + 12345  # several blocks of every library, and a tail that is no whole block


@pytest.fixture(scope="module")
def body_file(tmp_path_factory):
    """Write a file of SIZE random bytes; give its path and md5."""
    path = tmp_path_factory.mktemp("body") / "body.bin"
    data = bytes(range(256)) * (SIZE // 256) + b"t" * (SIZE % 256)
    path.write_bytes(data)
    return path, hashlib.md5(data).hexdigest()


def stored_md5(server, answer):
    stored = server.upload_dir / answer["stored_name"]
    try:
        return hashlib.md5(stored.read_bytes()).hexdigest()
    finally:
        stored.unlink(missing_ok=True)


@pytest.mark.parametrize("library", OTHERS)
@pytest.mark.parametrize("endpoint", ["stream-chunked", "stream-splice"])
def test_library_stores_the_exact_file_with_a_content_length(final, body_file, library, endpoint):
    path, md5 = body_file
    answer = LIBRARIES[library].send(f"{final.url}/upload/{endpoint}", path, SIZE, 60)
    assert answer["bytes"] == SIZE
    assert answer["content_length"] == SIZE  # sized up front, never chunked
    assert stored_md5(final, answer) == md5


@pytest.mark.parametrize("library", OTHERS)
def test_library_crosses_a_relay(final, relay, body_file, library):
    path, md5 = body_file
    answer = LIBRARIES[library].send(f"{relay.url}/upload/stream-chunked", path, SIZE, 60)
    assert answer["pid"] == final.pid and len(answer["via"]) == 1
    assert stored_md5(final, answer) == md5
    assert wait_until_empty(final, relay) == {}


@pytest.mark.parametrize("library", OTHERS)
def test_library_reports_the_servers_refusal_with_its_status(final, body_file, library):
    path, _ = body_file
    with pytest.raises(UploadFailed, match=r"HTTP 404 from .*/upload/no-such-endpoint"):
        LIBRARIES[library].send(f"{final.url}/upload/no-such-endpoint", path, SIZE, 60)
    assert wait_until_empty(final) == {}


@pytest.mark.parametrize("library", OTHERS)
def test_library_stops_at_its_budget_mid_body(slow_sink, data_files, library):
    datafile = data_files.get(8 << 20)  # about 5 s at the sink's pace, which never answers
    started = time.monotonic()
    with pytest.raises(UploadTimedOut) as excinfo:
        LIBRARIES[library].send(slow_sink, datafile.path, datafile.size, 1.0)
    assert time.monotonic() - started < 4
    assert excinfo.value.sent < datafile.size
    assert excinfo.value.elapsed >= PROJECTION_AFTER * 1.0


def test_library_refused_connection_is_a_failure_not_a_hang(body_file):
    path, _ = body_file
    for library in OTHERS:
        with pytest.raises(UploadFailed, match=r"after 0 bytes"):
            LIBRARIES[library].send("http://127.0.0.1:9/upload/stream-chunked", path, SIZE, 5)


def test_variants_send_the_base_method_to_its_endpoint():
    for variant in VARIANTS.values():
        base = METHODS[variant.id.split("+")[0]]
        assert base.other_clients and variant.library in OTHERS
        assert (variant.endpoint, variant.family, variant.needs_socket) == (
            base.endpoint,
            base.family,
            base.needs_socket,
        )
        assert variant.send is LIBRARIES[variant.library].send
    assert len({m.name for m in ALL_METHODS.values()}) == len(ALL_METHODS)
    assert method_for("request.files", "httpx") is None  # multipart is requests' own
    assert method_for("request.stream-chunked", REQUESTS) is METHODS["request.stream-chunked"]


def test_clients_option_adds_cells_beside_requests_only_where_a_library_sends_the_method(upload_options):
    options = one_cell_options(
        upload_options, methods=["request.stream-chunked", "request.files"], clients=(REQUESTS, "pycurl")
    )
    assert [c.id for c in cells(options)] == [
        "request.stream-chunked-werkzeug-1hop-1MB",
        "request.stream-chunked+pycurl-werkzeug-1hop-1MB",
        "request.files-werkzeug-1hop-1MB",
    ]


def test_a_missing_library_is_unavailable_and_has_no_version():
    missing = Library("nothing", "no-such-package-here", "-", None)
    assert not missing.available() and missing.version() == ""
    assert LIBRARIES["sendfile"].available() and LIBRARIES["sendfile"].version().startswith("python ")
