"""The searched property: whatever a file holds and wherever its body is cut, a server stores what was sent.

Hypothesis draws files biased to CR, LF, dashes and the start of a delimiter, and cuts near the body's end, each
cut its own TCP segment (fixtures.uploads.splits); the deep profile (--hypothesis-profile=deep) also sizes bodies
to a few bytes around the parsers' 64 KiB reads. A failure shrinks to the smallest file and cuts and is printed
with a Python line that sends that file again. The ci profile is derandomized and bounded (tests/conftest.py).
"""

import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fixtures.uploads.framing import ENCODER, FILES, RAW, framing_of
from fixtures.uploads.splits import send_cut
from server_app.deployments import DEPLOYMENTS

NAME = "f.bin"
READ = 64 << 10  # Werkzeug's parser reads this much at a time, and the servers fill each read
NEAR = 4  # how far from a read boundary a deep body's length may be
ENDPOINTS = [
    pytest.param("stream-chunked", RAW, id="request.stream"),
    pytest.param("files", FILES, id="request.files"),
    pytest.param("streaming-form-data", ENCODER, id="streaming-form-data"),
    pytest.param("python-multipart", ENCODER, id="python-multipart"),
    pytest.param("multipart", ENCODER, id="multipart"),
]
# the bytes a multipart parser looks at twice: CR, LF, dashes, and a delimiter's start
TRICKY = st.sampled_from([b"\r", b"\n", b"-", b"--", b"\r\n", b"\r\n--", b"a"])
TAILS = st.lists(st.one_of(TRICKY, st.binary(max_size=4)), max_size=24).map(b"".join)


def deep() -> bool:
    """Whether the deep profile is loaded: the one that also sizes bodies around the reads."""
    return settings.default.max_examples >= settings.get_profile("deep").max_examples


@st.composite
def uploads(draw, client):
    """Draw (filler length, tail, cuts counted back from the body's end): the file is filler 'x's, then the tail."""
    tail = draw(TAILS)
    fill = 0
    reads = draw(st.sampled_from([0, 1, 2])) if deep() else 0  # how many whole reads the body is near (0: small)
    if reads:
        body = reads * READ + draw(st.integers(-NEAR, NEAR))
        fill = max(0, body - framing_of(client, NAME).length(0) - len(tail))
    # as often as not no cut of ours: a short read moves where the server's 64 KiB reads end
    cuts = draw(st.one_of(st.just([]), st.lists(st.integers(1, 48), min_size=1, max_size=3, unique=True)))
    return fill, tail, cuts


@pytest.fixture(
    scope="module", params=[pytest.param(name, id=name) for name in ("werkzeug", "gunicorn", "uwsgi", "waitress")]
)
def server(request, server_factory):
    """Spawn a final hop of each deployment."""
    if not DEPLOYMENTS[request.param].available():
        pytest.skip(f"{request.param} is not installed: pip install '{DEPLOYMENTS[request.param].package}'")
    spawned = server_factory.spawn(request.param)
    yield spawned
    server_factory.stop(spawned)


def replay(url: str, client: str, fill: int, tail: bytes) -> str:
    """Return a Python line that sends this file as the method's client would."""
    content = f"b'x' * {fill} + {tail!r}" if fill else repr(tail)
    body = f"files={{'file': ('{NAME}', {content})}}" if client != RAW else f"data={content}"
    return f"python -c \"import requests; print(requests.post('{url}', {body}).text)\""


@pytest.mark.parametrize("endpoint, client", ENDPOINTS)
def test_what_is_stored_is_what_was_sent(server, endpoint, client):
    url = f"{server.url}/upload/{endpoint}"

    @given(uploads(client))
    def stored_whole(upload):
        fill, tail, from_end = upload
        content = b"x" * fill + tail
        assume(content or client != RAW)  # a raw body of 0 bytes is refused by design
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / NAME
            path.write_bytes(content)
            answer = send_cut(url, path, len(content), 30, client, lambda n, start, end: [n - c for c in from_end])
        stored = Path(server.upload_dir) / answer["stored_name"]
        got = stored.read_bytes()
        stored.unlink()
        assert got == content, (
            f"{endpoint} on {server.name} stored {len(got)} of {len(content)} bytes (tail sent {tail!r}, stored "
            f"{got[fill:]!r}; cut {from_end} bytes before the body's end); replay: {replay(url, client, fill, tail)}"
        )

    stored_whole()
