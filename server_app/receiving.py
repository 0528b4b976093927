"""Upload endpoints of the final hop: each stores the body it receives on disk."""

import io
import os
import shutil
import ssl

from flask import Blueprint, abort, current_app, g, jsonify, request
from streaming_form_data import ParseFailedException, StreamingFormDataParser
from streaming_form_data.targets import BaseTarget
from werkzeug.exceptions import RequestEntityTooLarge

from .bodies import count_body
from .deployments import SOCKET_KEYS
from .limits import OverLimit
from .splicing import splice_into
from .storage import new_upload

bp = Blueprint("receiving", __name__)

OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/form-data"
FILE_FIELD = "file"
# Endpoints that store one part of a multipart body: what they store is smaller than the body.
MULTIPART_ENDPOINTS = ("files", "streaming-form-data")


def _require_content_type(expected):
    if request.mimetype != expected:
        abort(415, f"this endpoint takes {expected}, got {request.mimetype or 'no Content-Type'!r}")


def _require_multipart():
    _require_content_type(MULTIPART)
    if not request.mimetype_params.get("boundary"):
        abort(400, "malformed multipart Content-Type: it has no boundary parameter")
    # What is stored is one part, smaller than the body: count the body itself for the length check.
    g.body_counter = count_body(delimiter=b"--" + request.mimetype_params["boundary"].encode())


def _refuse_if_never_delimited():
    """Answer 400 naming the boundary when the body read so far never contained it: a parser's own complaint
    about such a body (a part too large to hold in memory, no 'file' part) would point elsewhere."""
    if not g.body_counter.delimited:
        abort(
            400,
            f"malformed multipart body: its boundary {request.mimetype_params['boundary']!r} (from the "
            f"Content-Type) does not appear in the {g.body_counter.count} bytes read",
        )


def _body_check(method):
    """Return the check new_upload runs before it publishes: the whole body arrived, and a raw one is not empty
    (a multipart body that arrived whole may carry an empty file)."""
    expected = request.content_length

    def check(size):
        received = g.body_counter.count if method in MULTIPART_ENDPOINTS else size
        if expected is not None and received != expected:
            # gunicorn's and uWSGI's streams just end when the client does: a short body must not pass.
            abort(400, f"received {received} bytes but Content-Length said {expected}: the client ended the body early")
        if size == 0 and method not in MULTIPART_ENDPOINTS:
            abort(400, "empty body: nothing was stored")

    return check


def _upload(method):
    """Open a new upload in UPLOAD_DIR, published only if the body of this method's request is complete."""
    return new_upload(
        current_app.config["UPLOAD_DIR"], check=_body_check(method), durable=current_app.config["DURABLE"]
    )


def _answer(stored, method):
    return jsonify(
        stored_name=stored.name,
        bytes=stored.bytes,
        method=method,
        stream_type=f"{type(request.stream).__module__}.{type(request.stream).__qualname__}",
        content_length=request.content_length,
        pid=os.getpid(),
    )


@bp.post("/upload/stream-writelines")
def stream_writelines():
    """The seed's server code: iterate request.stream by lines."""
    _require_content_type(OCTET_STREAM)
    with _upload("stream-writelines") as (out, result):
        out.writelines(request.stream)
    return _answer(result["stored"], "stream-writelines")


def _copy_stream(block_size, method):
    """Copy request.stream to a new upload in blocks of at most block_size bytes."""
    _require_content_type(OCTET_STREAM)
    stream = request.stream
    with _upload(method) as (out, result):
        while block := stream.read(block_size):
            out.write(block)
    return _answer(result["stored"], method)


@bp.post("/upload/stream-chunked")
def stream_chunked():
    """Copy request.stream to disk in fixed-size blocks (BLOCK_SIZE, 1 MiB by default)."""
    return _copy_stream(current_app.config["BLOCK_SIZE"], "stream-chunked")


@bp.post("/upload/stream-64k")
def stream_64k():
    """Copy request.stream to disk in 64 KiB blocks."""
    return _copy_stream(64 << 10, "stream-64k")


@bp.post("/upload/stream-8m")
def stream_8m():
    """Copy request.stream to disk in 8 MiB blocks."""
    return _copy_stream(8 << 20, "stream-8m")


@bp.post("/upload/get-data")
def get_data():
    """Hold the whole body in memory with request.get_data(), then write it: the memory worst case."""
    _require_content_type(OCTET_STREAM)
    body = request.get_data(cache=False)
    with _upload("get-data") as (out, result):
        out.write(body)
    del body
    return _answer(result["stored"], "get-data")


@bp.post("/upload/files")
def files():
    """Let Werkzeug parse the multipart body (it spools the part to a temp file), then save it."""
    _require_multipart()
    try:
        part = request.files.get(FILE_FIELD)
    except OverLimit:
        raise
    except RequestEntityTooLarge as exc:
        _refuse_if_never_delimited()  # Werkzeug holds what comes before the first boundary in memory too
        # Werkzeug's own limits on what it holds in memory (MAX_FORM_MEMORY_SIZE, MAX_FORM_PARTS):
        # a body that hits them is not the one file part this endpoint takes.
        abort(
            400,
            f"malformed multipart body: {exc.description} (Werkzeug holds every part without a filename in "
            f"memory, at most {request.max_form_memory_size} bytes of them, and takes at most "
            f"{request.max_form_parts} parts: the 'file' part must carry a filename, and the body may have no "
            "more parts than that)",
        )
    if part is None:
        _refuse_if_never_delimited()
        abort(400, f"multipart body has no 'file' field (fields: {sorted(request.files) or 'none'})")
    with _upload("files") as (out, result):
        shutil.copyfileobj(part.stream, out, current_app.config["BLOCK_SIZE"])
    part.close()
    return _answer(result["stored"], "files")


class PartWriter(BaseTarget):
    """A streaming-form-data target that writes a part straight into an open file."""

    def __init__(self, out):
        super().__init__()
        self._out = out
        self.parts = 0  # how many parts of this name began
        self.finished = False  # whether the last one ended at a boundary

    def on_start(self):
        self.parts += 1
        self.finished = False

    def on_data_received(self, chunk):
        self._out.write(chunk)

    def on_finish(self):
        self.finished = True


@bp.post("/upload/streaming-form-data")
def streaming_form_data():
    """Parse the multipart body as it arrives (streaming-form-data) and write the 'file' part to disk."""
    _require_multipart()
    try:
        parser = StreamingFormDataParser(headers={"Content-Type": request.content_type})
    except ParseFailedException as exc:
        abort(400, f"cannot parse the multipart Content-Type: {exc}")
    # RFC 2046: the body ends with the close delimiter "--boundary--" (and perhaps CRLF).
    close_delimiter = g.body_counter.delimiter + b"--"
    keep = len(close_delimiter) + 2
    tail = b""
    block_size = current_app.config["BLOCK_SIZE"]
    stream = request.stream
    with _upload("streaming-form-data") as (out, result):
        target = PartWriter(out)
        parser.register(FILE_FIELD, target)
        while block := stream.read(block_size):
            try:
                parser.data_received(block)
            except ParseFailedException as exc:
                _refuse_if_never_delimited()
                abort(400, f"malformed multipart body: {exc}")
            tail = block[-keep:] if len(block) >= keep else (tail + block)[-keep:]
        if target.parts == 0:
            _refuse_if_never_delimited()
            abort(400, "multipart body has no 'file' part (or no part the parser could read)")
        if target.parts > 1:
            abort(400, f"multipart body has {target.parts} 'file' parts; this endpoint takes one")
        if not target.finished or not tail.rstrip(b"\r\n").endswith(close_delimiter):
            abort(
                400,
                "malformed multipart body: it does not end with the closing boundary "
                "(truncated, or data after the closing boundary)",
            )
    return _answer(result["stored"], "streaming-form-data")


def _werkzeug_buffered(environ, sock, length):
    """Take the body bytes Werkzeug's handler already read into its rfile; None if it is not that rfile."""
    rfile = environ["wsgi.input"]  # socket.makefile("rb"): a BufferedReader over the connection
    if not isinstance(rfile, io.BufferedReader) or getattr(rfile.raw, "_sock", None) is not sock:
        return None
    # peek() returns what is buffered without reading; only an empty buffer costs one read (at most
    # one buffer, 8 KiB). Anything past the body (a pipelined request) stays in the buffer.
    held = len(rfile.peek(1))
    return rfile.read(min(held, length)), lambda spliced: None


def _gunicorn_buffered(environ, sock, length):
    """Take the body bytes gunicorn's Body and its socket Unreader hold; None if they are not those."""
    body = environ["wsgi.input"]  # gunicorn.http.body.Body over a LengthReader over a SocketUnreader
    reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    if (
        type(reader).__name__ != "LengthReader"
        or getattr(unreader, "sock", None) is not sock
        or not isinstance(getattr(body, "buf", None), io.BytesIO)
        or not isinstance(getattr(unreader, "buf", None), io.BytesIO)
    ):
        return None
    in_body = len(body.buf.getvalue())
    head = body.read(in_body) if in_body else b""
    # At most what the Unreader holds (it may hold the start of a pipelined request: that stays).
    head += reader.read(min(len(unreader.buf.getvalue()), reader.length))

    def consumed(spliced):
        # gunicorn drains an unread body before the next request on a kept-alive connection:
        # tell it these bytes are gone, or it would read the next request as this body.
        reader.length -= spliced

    return head, consumed


# Deployments whose server hands the app its connection's socket: the WSGI environ key, and how to
# take the body bytes that server has already read from it. uWSGI and waitress do not.
_TAKE_BUFFERED = {"werkzeug": _werkzeug_buffered, "gunicorn": _gunicorn_buffered}
SOCKET_SERVERS = {name: (key, _TAKE_BUFFERED[name]) for name, key in SOCKET_KEYS.items()}


def _server_socket():
    """Return (socket, take_buffered) of the server this request came through, or answer 501."""
    environ = request.environ
    for key, take_buffered in SOCKET_SERVERS.values():
        sock = environ.get(key)
        if sock is None:
            continue
        if isinstance(sock, ssl.SSLSocket):
            abort(501, f"{key} carries TLS: splicing it would store ciphertext")
        return sock, take_buffered
    keys = " or ".join(key for key, _ in SOCKET_SERVERS.values())
    abort(
        501,
        f"this server ({environ.get('SERVER_SOFTWARE', 'unknown')}) does not give the app its "
        f"socket (no {keys} in the WSGI environ): the body can only be read through wsgi.input",
    )


@bp.post("/upload/stream-splice")
def stream_splice():
    """Move the body from the server's own socket into the file with os.splice, bypassing wsgi.input."""
    _require_content_type(OCTET_STREAM)
    length = request.content_length
    if length is None:
        abort(
            411,
            "this endpoint needs a Content-Length: it splices exactly that many bytes "
            "(a chunked body would need its framing parsed)",
        )
    if length == 0:
        abort(400, "empty body: nothing was stored")
    sock, take_buffered = _server_socket()
    taken = take_buffered(request.environ, sock, length)
    if taken is None:
        abort(
            501,
            f"this server's input stream ({type(request.environ['wsgi.input']).__qualname__}) "
            "is not one this endpoint knows how to take the buffered body bytes from",
        )
    head, consumed = taken
    with _upload("stream-splice") as (out, result):
        out.write(head)
        out.flush()  # the splice writes at the file descriptor's position, after these bytes
        consumed(splice_into(sock, out.fileno(), length - len(head)))
    return _answer(result["stored"], "stream-splice")


ENDPOINTS = (
    "stream-writelines",
    "stream-chunked",
    "stream-64k",
    "stream-8m",
    "get-data",
    "files",
    "streaming-form-data",
    "stream-splice",
)
