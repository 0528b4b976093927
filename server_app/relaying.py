"""The pass-through hop: stream every upload on to the configured next server."""

import os

import requests
from flask import Blueprint, abort, current_app, jsonify, request

from . import profiling
from .receiving import ENDPOINTS

bp = Blueprint("relaying", __name__)


class BodyReader:
    """File-like view of the incoming body with a known length.

    requests sends a body with ``len`` using Content-Length; without it (a bare
    ``request.stream``) it falls back to chunked transfer encoding, which some servers
    (uWSGI in http-socket mode) silently read as an empty body.
    """

    def __init__(self, stream, length):
        self._stream = stream
        self.len = length
        self.forwarded = 0

    def read(self, size=-1):
        block = self._stream.read(size)
        self.forwarded += len(block)
        return block


@bp.post("/upload/<endpoint>")
def relay(endpoint):
    if endpoint not in ENDPOINTS:
        abort(404, f"unknown upload endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
    length = request.content_length
    if not length:
        abort(411, "the relay needs a Content-Length to forward (chunked or empty bodies are refused)")
    # The target is server-side configuration only: nothing in the request chooses it.
    url = f"{current_app.config['NEXT_HOP'].rstrip('/')}/upload/{endpoint}"
    headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
    if profiling.active():  # profile every hop: the next one too (it must allow profiling itself)
        headers[profiling.HEADER] = "1"
    body = BodyReader(request.stream, length)
    # A hung next hop must not pin this relay forever (RELAY_READ_TIMEOUT: --worker-timeout by default).
    timeout = (current_app.config["RELAY_CONNECT_TIMEOUT"], current_app.config["RELAY_READ_TIMEOUT"])
    try:
        downstream = requests.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        abort(502, f"next hop {url} failed after {body.forwarded} of {length} bytes: {exc}")
    try:
        answer = downstream.json()
    except ValueError:
        abort(502, f"next hop {url} answered HTTP {downstream.status_code} without JSON")
    # A profiled request gets this hop's "profile" added to this entry, after the handler returns.
    answer.setdefault("via", []).insert(0, {
        "pid": os.getpid(),
        "forwarded": body.forwarded,
        "stream_type": f"{type(request.stream).__module__}.{type(request.stream).__qualname__}",
    })
    return jsonify(answer), downstream.status_code
