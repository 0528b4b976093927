"""Upload endpoints of the final hop: each stores the body it receives on disk."""

import os
import shutil

from flask import Blueprint, abort, current_app, jsonify, request
from streaming_form_data import ParseFailedException, StreamingFormDataParser
from streaming_form_data.targets import BaseTarget

from .limits import refuse_stored_oversize
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


def _answer(stored, method):
    expected = request.content_length
    if method not in MULTIPART_ENDPOINTS and expected is not None and stored.bytes != expected:
        # Unreachable with a conforming server; kept so a short body can never pass as a success.
        stored.path.unlink()
        abort(400, f"received {stored.bytes} bytes but Content-Length said {expected}")
    if stored.bytes == 0:
        stored.path.unlink()
        abort(400, "empty body: nothing was stored")
    refuse_stored_oversize(stored)
    return jsonify(
        stored_name=stored.name,
        bytes=stored.bytes,
        method=method,
        stream_type=f"{type(request.stream).__module__}.{type(request.stream).__qualname__}",
        content_length=expected,
        pid=os.getpid(),
    )


@bp.post("/upload/stream-writelines")
def stream_writelines():
    """The seed's server code: iterate request.stream by lines."""
    _require_content_type(OCTET_STREAM)
    with new_upload(current_app.config["UPLOAD_DIR"]) as (out, result):
        out.writelines(request.stream)
    return _answer(result["stored"], "stream-writelines")


def _copy_stream(block_size, method):
    """Copy request.stream to a new upload in blocks of at most block_size bytes."""
    _require_content_type(OCTET_STREAM)
    stream = request.stream
    with new_upload(current_app.config["UPLOAD_DIR"]) as (out, result):
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
    with new_upload(current_app.config["UPLOAD_DIR"]) as (out, result):
        out.write(body)
    del body
    return _answer(result["stored"], "get-data")


@bp.post("/upload/files")
def files():
    """Let Werkzeug parse the multipart body (it spools the part to a temp file), then save it."""
    _require_content_type(MULTIPART)
    part = request.files.get(FILE_FIELD)
    if part is None:
        abort(400, f"multipart body has no 'file' field (fields: {sorted(request.files) or 'none'})")
    with new_upload(current_app.config["UPLOAD_DIR"]) as (out, result):
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
    _require_content_type(MULTIPART)
    try:
        parser = StreamingFormDataParser(headers={"Content-Type": request.content_type})
    except ParseFailedException as exc:
        abort(400, f"cannot parse the multipart Content-Type: {exc}")
    # RFC 2046: the body ends with the close delimiter "--boundary--" (and perhaps CRLF).
    close_delimiter = b"--" + request.mimetype_params["boundary"].encode() + b"--"
    keep = len(close_delimiter) + 2
    tail = b""
    block_size = current_app.config["BLOCK_SIZE"]
    stream = request.stream
    with new_upload(current_app.config["UPLOAD_DIR"]) as (out, result):
        target = PartWriter(out)
        parser.register(FILE_FIELD, target)
        while block := stream.read(block_size):
            try:
                parser.data_received(block)
            except ParseFailedException as exc:
                abort(400, f"malformed multipart body: {exc}")
            tail = block[-keep:] if len(block) >= keep else (tail + block)[-keep:]
        if target.parts == 0:
            abort(400, "multipart body has no 'file' part (or no part the parser could read)")
        if target.parts > 1:
            abort(400, f"multipart body has {target.parts} 'file' parts; this endpoint takes one")
        if not target.finished or not tail.rstrip(b"\r\n").endswith(close_delimiter):
            abort(400, "malformed multipart body: it does not end with the closing boundary "
                       "(truncated, or data after the closing boundary)")
    return _answer(result["stored"], "streaming-form-data")


ENDPOINTS = (
    "stream-writelines", "stream-chunked", "stream-64k", "stream-8m", "get-data",
    "files", "streaming-form-data",
)
