"""The streaming multipart endpoints (streaming-form-data, python-multipart, defnull's multipart), through Flask's
test client: each stores the 'file' part exactly, and refuses what is not one whole 'file' part."""

import re

import pytest

from server_app import create_app
from server_app.receiving import STREAMING_PARSERS
from tests.conftest import files_in
from tests.test_methods import BODY, MULTIPART_TYPE, assert_stored, multipart, part, post


@pytest.mark.parametrize("endpoint", STREAMING_PARSERS)
def test_a_streaming_parser_parses_a_body_that_arrives_in_tiny_pieces(upload_dir, endpoint):
    # 7-byte reads split every delimiter and header across reads
    client = create_app({"UPLOAD_DIR": upload_dir, "BLOCK_SIZE": 7}).test_client()
    body = BODY[:50_000]
    response = client.post(
        f"/upload/{endpoint}",
        data=multipart(part("other", b"x" * 100), part("file", body)),
        content_type=MULTIPART_TYPE,
    )
    assert_stored(response, upload_dir, endpoint, body)


@pytest.mark.parametrize("endpoint", STREAMING_PARSERS)
def test_a_streaming_parser_ignores_other_fields(client, upload_dir, endpoint):
    response = client.post(
        f"/upload/{endpoint}",
        data=multipart(part("before", b"ignored"), part("file", BODY), part("after", b"too")),
        content_type=MULTIPART_TYPE,
    )
    assert_stored(response, upload_dir, endpoint)


WHOLE = multipart(part("file", BODY))
# the endpoints' own words, or defnull's multipart's (it checks that the body ended where a body may end)
TRUNCATED = "closing boundary|Unexpected end of multipart stream"


@pytest.mark.parametrize(
    "content_type, body, detail",
    [
        pytest.param(MULTIPART_TYPE, multipart(part("other", BODY)), "no 'file' part", id="no-file-part"),
        pytest.param(MULTIPART_TYPE, multipart(), "no 'file' part", id="no-part-at-all"),
        pytest.param(
            MULTIPART_TYPE, multipart(part("file", b"one"), part("file", b"two")), "2 'file' parts", id="two-file-parts"
        ),
        pytest.param("multipart/form-data", WHOLE, "Content-Type", id="no-boundary"),
        pytest.param("multipart/form-data; boundary=other", WHOLE, "malformed", id="wrong-boundary"),
        pytest.param(MULTIPART_TYPE, b"garbage\r\n" * 1000, "malformed", id="garbage"),
        pytest.param(MULTIPART_TYPE, WHOLE[:-30], TRUNCATED, id="truncated-in-the-part"),
        pytest.param(
            MULTIPART_TYPE,
            part("file", BODY) + part("next", b"cut sh"),
            TRUNCATED,
            id="truncated-after-the-part",
        ),
        # RFC 2046 allows an epilogue, but streaming-form-data then never ends the part (it even withholds
        # its data), so a body with one is refused rather than stored wrong
        pytest.param(MULTIPART_TYPE, WHOLE + b"more data\r\n", "closing boundary", id="data-after-the-end"),
    ],
)
@pytest.mark.parametrize("endpoint", STREAMING_PARSERS)
def test_a_streaming_parser_refuses_bad_bodies_with_400_and_stores_nothing(
    client, upload_dir, endpoint, content_type, body, detail
):
    response = client.post(f"/upload/{endpoint}", data=body, content_type=content_type)
    assert response.status_code == 400, response.json
    assert re.search(detail, response.json["detail"]), response.json["detail"]
    assert files_in(upload_dir) == []


@pytest.mark.parametrize("filename", ["../../escape.bin", "/etc/passwd", ".hidden"])
@pytest.mark.parametrize("endpoint", STREAMING_PARSERS)
def test_a_streaming_parser_never_uses_the_client_file_name(client, upload_dir, endpoint, filename):
    response = post(client, endpoint, filename=filename)
    assert response.status_code == 200
    assert files_in(upload_dir) == [response.json["stored_name"]]
    assert not (upload_dir.parent / "escape.bin").exists()
