"""Upload endpoints of the final hop: each stores the body it receives on disk."""

import os
import shutil

from flask import Blueprint, abort, current_app, jsonify, request

from .storage import new_upload

bp = Blueprint("receiving", __name__)

OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/form-data"


def _require_content_type(expected):
    if request.mimetype != expected:
        abort(415, f"this endpoint takes {expected}, got {request.mimetype or 'no Content-Type'!r}")


def _answer(stored, method):
    expected = request.content_length
    if method != "files" and expected is not None and stored.bytes != expected:
        # Unreachable with a conforming server; kept so a short body can never pass as a success.
        stored.path.unlink()
        abort(400, f"received {stored.bytes} bytes but Content-Length said {expected}")
    if stored.bytes == 0:
        stored.path.unlink()
        abort(400, "empty body: nothing was stored")
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


@bp.post("/upload/stream-chunked")
def stream_chunked():
    """Copy request.stream to disk in fixed-size blocks."""
    _require_content_type(OCTET_STREAM)
    block_size = current_app.config["BLOCK_SIZE"]
    stream = request.stream
    with new_upload(current_app.config["UPLOAD_DIR"]) as (out, result):
        while block := stream.read(block_size):
            out.write(block)
    return _answer(result["stored"], "stream-chunked")


@bp.post("/upload/files")
def files():
    """Let Werkzeug parse the multipart body (it spools the part to a temp file), then save it."""
    _require_content_type(MULTIPART)
    part = request.files.get("file")
    if part is None:
        abort(400, f"multipart body has no 'file' field (fields: {sorted(request.files) or 'none'})")
    with new_upload(current_app.config["UPLOAD_DIR"]) as (out, result):
        shutil.copyfileobj(part.stream, out, current_app.config["BLOCK_SIZE"])
    part.close()
    return _answer(result["stored"], "files")


ENDPOINTS = ("stream-writelines", "stream-chunked", "files")
