"""The pass-through hop: stream every upload on to the configured next server."""

import os

import requests
from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.exceptions import BadRequest

from . import profiling
from .bodies import read_error
from .config import MiB
from .receiving import ENDPOINTS

bp = Blueprint("relaying", __name__)


class ClientBodyError(Exception):
    """The client's body could not be read; ``cause`` is what its server raised.

    Not an OSError on purpose: requests and urllib3 would take an OSError for a failure of the
    next hop's connection (and blame it with a 502); this one passes through them untouched,
    and urllib3 closes the half-sent connection on the way, so the next hop sees the body end early.
    """

    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


# What the relay reads of the client's body at once, whatever block its sender asks for (http.client's 8 KiB):
# gunicorn 27.0.1 recv()s up to 1 MiB of a body of known length and copies what is left of it in its buffer at
# every smaller read, so that 8 KiB reads made the relay a two-gunicorn chain's bottleneck, as slow as it had
# fallen behind (docs/notes/duet-runs.md, "The relay's reads").
RELAY_BLOCK = MiB


class BodyReader:
    """File-like view of the incoming body that yields exactly its Content-Length, or raises.

    requests sends a body with ``len`` using Content-Length; without it (a bare
    ``request.stream``) it falls back to chunked transfer encoding, which some servers
    (uWSGI in http-socket mode) silently read as an empty body. A body that ends early
    (gunicorn's stream then returns b"", Werkzeug's raises) raises ClientBodyError, so the
    relay never forwards fewer bytes than it promised the next hop.
    """

    def __init__(self, stream, length):
        self._stream = stream
        self.len = length
        self.forwarded = 0

    def read(self, size=-1):
        remaining = self.len - self.forwarded
        if remaining <= 0 or size == 0:
            return b""
        try:
            block = self._stream.read(remaining if size is None or size < 0 else min(max(size, RELAY_BLOCK), remaining))
        except Exception as exc:  # ClientDisconnected, a timeout, NoMoreData: whatever this server raises
            raise ClientBodyError(read_error(exc)) from exc
        if not block:
            raise ClientBodyError(
                BadRequest(
                    f"the client ended the body early, after {self.forwarded} of {self.len} bytes (Content-Length)"
                )
            )
        self.forwarded += len(block)
        return block


# Headers of one connection only (RFC 9110 7.6.1), and those requests sets itself for the body it sends.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
SET_BY_REQUESTS = {"host", "content-length"}
# What a relay hands back of the next hop's answer besides its body (requests has already decoded the body).
ANSWER_HEADERS = ("Content-Type", "Location")


def _length() -> int:
    """Return the client's Content-Length, or answer 411: a relay forwards only a body it can measure."""
    length = request.content_length
    if length is None:
        abort(411, "the relay needs a Content-Length to forward: this server does not de-chunk a chunked body")
    return length


def _send_on(method: str, url: str, headers: dict, length: int, **options):
    """Stream the client's body of ``length`` bytes on to url; return the next hop's response and the BodyReader."""
    body = BodyReader(request.stream, length)
    # A stalled next hop must not pin this relay: urllib3 applies the first timeout to the connect and
    # to every send of the body (the same idle timeout a client gets), the second to the wait for the
    # answer, which a slow method at the final hop may make long (--worker-timeout).
    timeout = (current_app.config["IDLE_TIMEOUT"], current_app.config["RELAY_READ_TIMEOUT"])
    try:
        return requests.request(method, url, data=body, headers=headers, timeout=timeout, **options), body
    except ClientBodyError as exc:
        raise exc.cause from None  # the client's fault: answered as on a final hop (400, 408)
    except requests.RequestException as exc:
        abort(502, f"next hop {url} failed after {body.forwarded} of {length} bytes: {exc}")


@bp.route("/<path:path>", methods=["POST", "PUT"])
def forward(path):
    """Forward a POST or PUT of any path to the next hop, query and end-to-end headers kept, and answer with
    its status and body as they came: in front of an app of your own (FORWARD_ANY_PATH), whose answers are its own."""
    if not current_app.config["FORWARD_ANY_PATH"]:
        abort(404, f"no such upload path {request.path!r}: a relay forwards /upload/<endpoint>")
    length = _length()
    url = f"{current_app.config['NEXT_HOP'].rstrip('/')}/{path}"
    query = request.query_string.decode("latin-1")
    if query:
        url += f"?{query}"
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP | SET_BY_REQUESTS}
    downstream, _ = _send_on(request.method, url, headers, length, allow_redirects=False)
    kept = {name: downstream.headers[name] for name in ANSWER_HEADERS if name in downstream.headers}
    return downstream.content, downstream.status_code, kept


@bp.post("/upload/<endpoint>")
def relay(endpoint):
    if endpoint not in ENDPOINTS:
        abort(404, f"unknown upload endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
    length = _length()
    if length == 0:
        abort(400, "empty body: nothing to forward")
    # The target is server-side configuration only: nothing in the request chooses it.
    url = f"{current_app.config['NEXT_HOP'].rstrip('/')}/upload/{endpoint}"
    headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
    if profiling.active():  # profile every hop: the next one too (it must allow profiling itself)
        headers[profiling.HEADER] = "1"
    downstream, body = _send_on("POST", url, headers, length)
    try:
        answer = downstream.json()
    except ValueError:
        abort(502, f"next hop {url} answered HTTP {downstream.status_code} without JSON")
    # A profiled request gets this hop's "profile" added to this entry, after the handler returns.
    answer.setdefault("via", []).insert(
        0,
        {
            "pid": os.getpid(),
            "forwarded": body.forwarded,
            "stream_type": f"{type(request.stream).__module__}.{type(request.stream).__qualname__}",
        },
    )
    return jsonify(answer), downstream.status_code
