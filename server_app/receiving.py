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
# Endpoints that parse the multipart body as it arrives (receive_multipart), streaming-form-data's here, the
# others' in server_app.parsers.
STREAMING_PARSERS = ("streaming-form-data", "python-multipart", "multipart")
# Endpoints that store one part of a multipart body: what they store is smaller than the body.
MULTIPART_ENDPOINTS = ("files", *STREAMING_PARSERS)


def _require_content_type(expected):
    if request.mimetype != expected:
        abort(415, f"this endpoint takes {expected}, got {request.mimetype or 'no Content-Type'!r}")


def require_multipart():
    _require_content_type(MULTIPART)
    if not request.mimetype_params.get("boundary"):
        abort(400, "malformed multipart Content-Type: it has no boundary parameter")
    # What is stored is one part, smaller than the body: count the body itself for the length check.
    g.body_counter = count_body(delimiter=b"--" + request.mimetype_params["boundary"].encode())


def refuse_if_never_delimited():
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


def open_upload(method):
    """Open a new upload in UPLOAD_DIR, published only if the body of this method's request is complete."""
    return new_upload(
        current_app.config["UPLOAD_DIR"], check=_body_check(method), durable=current_app.config["DURABLE"]
    )


def answer(stored, method):
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
    with open_upload("stream-writelines") as (out, result):
        out.writelines(request.stream)
    return answer(result["stored"], "stream-writelines")


def _copy_stream(block_size, method):
    """Copy request.stream to a new upload in blocks of at most block_size bytes."""
    _require_content_type(OCTET_STREAM)
    stream = request.stream
    with open_upload(method) as (out, result):
        while block := stream.read(block_size):
            out.write(block)
    return answer(result["stored"], method)


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
    with open_upload("get-data") as (out, result):
        out.write(body)
    del body
    return answer(result["stored"], "get-data")


@bp.post("/upload/files")
def files():
    """Let Werkzeug parse the multipart body (it spools the part to a temp file), then save it."""
    require_multipart()
    try:
        part = request.files.get(FILE_FIELD)
    except OverLimit:
        raise
    except RequestEntityTooLarge as exc:
        refuse_if_never_delimited()  # Werkzeug holds what comes before the first boundary in memory too
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
        refuse_if_never_delimited()
        abort(400, f"multipart body has no 'file' field (fields: {sorted(request.files) or 'none'})")
    with open_upload("files") as (out, result):
        shutil.copyfileobj(part.stream, out, current_app.config["BLOCK_SIZE"])
    part.close()
    return answer(result["stored"], "files")


class FilePart:
    """The 'file' parts of a multipart body as a parser reports them: their data written straight into a file."""

    def __init__(self, out):
        self.out = out
        self.parts = 0  # how many parts of this name began
        self.finished = False  # whether the last one ended at a boundary

    def start(self):
        self.parts += 1
        self.finished = False

    def finish(self):
        self.finished = True


def receive_multipart(method, open_parser, errors):
    """Stream request.stream block by block through a parser into a new upload, and refuse (400) a body whose
    'file' part is missing or repeated, or that does not end with the closing delimiter, whatever the parser
    let through.

    open_parser(part), given the FilePart to report to, returns (feed, end): feed(block) parses a block, end()
    tells the parser the body is over. A parser raises one of ``errors`` on a body it cannot parse.
    """
    require_multipart()
    # RFC 2046: the body ends with the close delimiter "--boundary--" (and perhaps CRLF).
    close_delimiter = g.body_counter.delimiter + b"--"
    keep = len(close_delimiter) + 2
    tail = b""
    block_size = current_app.config["BLOCK_SIZE"]
    stream = request.stream
    with open_upload(method) as (out, result):
        part = FilePart(out)
        try:
            feed, end = open_parser(part)
        except errors as exc:
            abort(400, f"cannot parse the multipart Content-Type: {exc}")
        try:
            while block := stream.read(block_size):
                feed(block)
                tail = block[-keep:] if len(block) >= keep else (tail + block)[-keep:]
            end()
        except errors as exc:
            refuse_if_never_delimited()
            abort(400, f"malformed multipart body: {exc}")
        if part.parts == 0:
            refuse_if_never_delimited()
            abort(400, "multipart body has no 'file' part (or no part the parser could read)")
        if part.parts > 1:
            abort(400, f"multipart body has {part.parts} 'file' parts; this endpoint takes one")
        if not part.finished or not tail.rstrip(b"\r\n").endswith(close_delimiter):
            abort(
                400,
                "malformed multipart body: it does not end with the closing boundary "
                "(truncated, or data after the closing boundary)",
            )
    return answer(result["stored"], method)


class PartWriter(BaseTarget):
    """A streaming-form-data target that reports its part to a FilePart."""

    def __init__(self, part):
        super().__init__()
        self._part = part

    def on_start(self):
        self._part.start()

    def on_data_received(self, chunk):
        self._part.out.write(chunk)

    def on_finish(self):
        self._part.finish()


def _streaming_form_data_parser(part):
    parser = StreamingFormDataParser(headers={"Content-Type": request.content_type})
    parser.register(FILE_FIELD, PartWriter(part))
    return parser.data_received, lambda: None


@bp.post("/upload/streaming-form-data")
def streaming_form_data():
    """Parse the multipart body as it arrives (streaming-form-data) and write the 'file' part to disk."""
    return receive_multipart("streaming-form-data", _streaming_form_data_parser, ParseFailedException)


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
    with open_upload("stream-splice") as (out, result):
        out.write(head)
        out.flush()  # the splice writes at the file descriptor's position, after these bytes
        consumed(splice_into(sock, out.fileno(), length - len(head)))
    return answer(result["stored"], "stream-splice")


ENDPOINTS = (
    "stream-writelines",
    "stream-chunked",
    "stream-64k",
    "stream-8m",
    "get-data",
    "files",
    *STREAMING_PARSERS,
    "stream-splice",
)
