"""Hostile clients over raw sockets: each fault, the bytes it sends, how it ends its side, and what it must get.

The registry FAULTS is what tests/test_faults.py drives against every deployment, as final hop and
as relay, and what the fault table of docs/safety.md is printed from (python -m tests.faults).
"""

from collections.abc import Callable
from dataclasses import dataclass

from fixtures.processes.fronts import BUFFERED, STREAMING, UPSTREAMS
from server_app.deployments import DEPLOYMENTS, SOCKET_KEYS
from server_app.receiving import ENDPOINTS, MULTIPART_ENDPOINTS
from tests.raw_http import CLOSE, CLOSED, OCTET, STALL, chunked, multipart_body, multipart_type, payload

LIMIT = 1 << 20  # --max-content-length of the servers under test: room for a form field over Werkzeug's 500,000 bytes
IDLE = 1  # --idle-timeout of the servers under test, in seconds
BODY = 256 << 10
SPLICE = "stream-splice"
FAULTS_START = "<!-- faults:start -->"
FAULTS_END = "<!-- faults:end -->"
FRONT_FAULTS_START = "<!-- front-faults:start -->"
FRONT_FAULTS_END = "<!-- front-faults:end -->"


@dataclass(frozen=True)
class Request:
    content_type: str
    headers: dict
    body: bytes
    ending: str = CLOSE
    stored: bytes = None  # what the final hop must store when the request is answered 200


def file_request(endpoint, file_bytes, **multipart) -> Request:
    """Return a well-formed upload of file_bytes for this endpoint (multipart where it takes multipart)."""
    if endpoint in MULTIPART_ENDPOINTS:
        return Request(multipart_type(), {}, multipart_body(file_bytes, **multipart), stored=file_bytes)
    return Request(OCTET, {}, file_bytes, stored=file_bytes)


def with_length(request, length=None, send=None, ending=CLOSE) -> Request:
    """Declare a Content-Length (the body's own by default), send only the first `send` bytes, end as told."""
    declared = len(request.body) if length is None else length
    body = request.body if send is None else request.body[:send]
    return Request(request.content_type, {"Content-Length": declared}, body, ending, request.stored)


def chunked_request(request, last=True, extra=None) -> Request:
    return Request(
        request.content_type,
        {"Transfer-Encoding": "chunked", **(extra or {})},
        chunked(request.body, last=last),
        CLOSE,
        request.stored,
    )


def exactly_limit(endpoint) -> Request:
    """Return an upload whose whole body is LIMIT bytes, multipart framing included."""
    overhead = len(multipart_body(b"")) if endpoint in MULTIPART_ENDPOINTS else 0
    return with_length(file_request(endpoint, payload(LIMIT - overhead)))


@dataclass(frozen=True)
class Fault:
    name: str
    what: str  # what the client does, for docs/safety.md
    build: Callable  # endpoint -> Request
    expect: Callable  # (entry Deployment, hops, endpoint) -> HTTP status, or CLOSED
    multipart_only: bool = False
    # deployments whose server answers this fault itself, before the app runs (its own text, not JSON)
    server_answers: tuple = ()
    # words of which the app's 400 must name one (other statuses: STATUS_WORDS)
    names: tuple = ()
    # the client ends its side before its body is whole: the half-close is the fault, not a way to end
    cut_short: bool = False
    # (front, upstream Deployment, endpoint) -> what it gets through nginx; None: what the upstream gives it
    through_front: Callable = None
    front_answers: bool = False  # nginx answers it itself (its own page, not the app's JSON)

    def expect_through(self, front, upstream, endpoint):
        """Return what this fault gets through a front in front of the upstream deployment."""
        if self.through_front is None:
            return self.expect(upstream, 1, endpoint)
        return self.through_front(front, upstream, endpoint)


# What the app's JSON error must name, by status (for a 400, the fault's own words).
STATUS_WORDS = {408: ("IDLE_TIMEOUT",), 411: ("chunked",), 413: ("limit",)}


def names_the_problem(fault, status, detail) -> bool:
    """Return whether a JSON error's detail names the fault: one of its words, case aside."""
    words = fault.names if status == 400 else STATUS_WORDS.get(status, ())
    return any(word.lower() in detail.lower() for word in words)


def _chunked_status(entry, hops, endpoint, otherwise):
    """What a chunked body gets: 411 where it cannot be read or forwarded, else `otherwise`."""
    if not entry.takes_chunked(hops) or endpoint == SPLICE:
        return 411
    return otherwise


def _unless_waitress(status):
    # waitress receives the whole body before the app runs: a body that never completes never reaches it.
    return lambda entry, hops, endpoint: CLOSED if entry.dechunks else status


def _always(status):
    return lambda entry, hops, endpoint: status


def _front_drops(front, upstream, endpoint):
    # nginx takes a client that goes away or stops mid-body for gone: it closes without an answer (its 408 is
    # not sent), and the upstream, if it had the body's start, sees its connection closed
    return CLOSED


def _front_refuses(status):
    return lambda front, upstream, endpoint: status


def _front_chunked(front, upstream, endpoint):
    """What a whole chunked body gets through nginx: it reaches the upstream de-chunked with a Content-Length,
    but chunked through the streaming front to an HTTP upstream (HTTP/1.1), where the splice needs a length;
    uWSGI is handed Transfer-Encoding beside the length, which the app refuses."""
    if UPSTREAMS[upstream.name] == "uwsgi":
        return 400
    return 411 if front == STREAMING and endpoint == SPLICE else 200


def _over_limit(name, what, build, expect) -> Fault:
    """Return a fault over the limit: waitress, given the limit itself, refuses it before the app; nginx too."""
    return Fault(
        name, what, build, expect, server_answers=("waitress",), through_front=_front_refuses(413), front_answers=True
    )


FAULTS = [
    Fault(
        "short-body",
        "declares Content-Length 512 KiB, sends 256 KiB, closes its side",
        lambda e: with_length(file_request(e, payload(BODY)), length=2 * BODY),
        _unless_waitress(400),
        names=("early",),
        cut_short=True,
        through_front=_front_drops,
    ),
    Fault(
        "chunked-without-last-chunk",
        "sends a chunked body without its final 0-chunk, closes its side",
        lambda e: chunked_request(file_request(e, payload(BODY)), last=False),
        lambda entry, hops, e: _chunked_status(entry, hops, e, CLOSED if entry.dechunks else 400),
        names=("chunked", "early"),
        cut_short=True,
        through_front=_front_drops,
    ),
    Fault(
        "stall-mid-body",
        "sends half of its declared body, then nothing, with the connection open",
        lambda e: with_length(file_request(e, payload(BODY)), send=BODY // 2, ending=STALL),
        _unless_waitress(408),
        through_front=_front_drops,
    ),
    _over_limit(
        "over-limit-declared",
        "declares one byte over the limit, sends 64 KiB and waits",
        lambda e: with_length(file_request(e, payload(LIMIT + 1)), send=64 << 10, ending=STALL),
        _always(413),
    ),
    _over_limit(
        "over-limit-chunked",
        "sends twice the limit, chunked (no Content-Length)",
        lambda e: chunked_request(file_request(e, payload(2 * LIMIT))),
        lambda entry, hops, e: _chunked_status(entry, hops, e, 413),
    ),
    Fault("exactly-the-limit", "sends a whole body of exactly the limit (md5 checked)", exactly_limit, _always(200)),
    Fault(
        "chunked-whole",
        "sends a whole chunked body (md5 checked)",
        lambda e: chunked_request(file_request(e, payload(BODY))),
        lambda entry, hops, e: _chunked_status(entry, hops, e, 200),
        through_front=_front_chunked,
        names=("Transfer-Encoding",),  # what the app says to uWSGI behind nginx
    ),
    # waitress follows RFC 9112 section 6.3 itself (Transfer-Encoding wins, Content-Length is dropped) and
    # hands the app a de-chunked body; gunicorn refuses the request itself; the Werkzeug server and uWSGI
    # hand the app both headers, and the app refuses it.
    Fault(
        "chunked-and-content-length",
        "sends Transfer-Encoding: chunked and a Content-Length",
        lambda e: chunked_request(file_request(e, payload(BODY)), extra={"Content-Length": BODY}),
        lambda entry, hops, e: 200 if entry.dechunks else 400,
        server_answers=("gunicorn",),
        names=("Transfer-Encoding",),
        through_front=_front_refuses(400),
        front_answers=True,
    ),
    Fault(
        "multipart-bad-boundary",
        "multipart whose boundary is not the one in its Content-Type",
        lambda e: with_length(Request(multipart_type("another"), {}, multipart_body(payload(BODY)))),
        _always(400),
        multipart_only=True,
        names=("boundary",),
    ),
    Fault(
        "multipart-no-boundary",
        "multipart/form-data without a boundary parameter",
        lambda e: with_length(Request(multipart_type(None), {}, multipart_body(payload(BODY)))),
        _always(400),
        multipart_only=True,
        names=("multipart",),
    ),
    Fault(
        "multipart-truncated",
        "multipart without its closing boundary (complete per Content-Length)",
        lambda e: with_length(Request(multipart_type(), {}, multipart_body(payload(BODY), close=False))),
        _always(400),
        multipart_only=True,
        names=("multipart",),
    ),
    Fault(
        "multipart-other-field",
        "multipart whose one file part is named 'other', not 'file'",
        lambda e: with_length(Request(multipart_type(), {}, multipart_body(payload(BODY), field="other"))),
        _always(400),
        multipart_only=True,
        names=("multipart",),
    ),
    # 600 KiB: over Werkzeug's in-memory limit for a form field; the streaming parsers take any 'file' part
    Fault(
        "multipart-file-without-filename",
        "a 600 KiB 'file' part without a filename (a form field)",
        lambda e: with_length(file_request(e, payload(600 << 10), filename=None)),
        lambda entry, hops, e: 400 if e == "files" else 200,
        multipart_only=True,
        names=("multipart",),
    ),
]


def applies(fault, endpoint, deployment) -> bool:
    """Return whether the fault is driven at this endpoint of this deployment."""
    if fault.multipart_only and endpoint not in MULTIPART_ENDPOINTS:
        return False
    return endpoint != SPLICE or deployment.name in SOCKET_KEYS


def _label(status) -> str:
    return "closed" if status is CLOSED else str(status)


def answered_by_server(fault, deployment, status) -> bool:
    """Return whether this answer comes from the server itself, not from the app's JSON errors."""
    return status is not CLOSED and status >= 400 and deployment.name in fault.server_answers


def _usual(by_endpoint: dict) -> str:
    """Return the answer most endpoints get, then the endpoints that get another."""
    labels = list(by_endpoint.values())
    usual = max(labels, key=labels.count)
    odd = ", ".join(f"{e} {label}" for e, label in by_endpoint.items() if label != usual)
    return usual + (f" ({odd})" if odd else "")


def _cell(fault, deployment) -> str:
    """Return what the fault gets on this deployment: the usual answer, then where it differs."""
    parts = []
    for hops in (1, 2):
        by_endpoint = {}
        for e in filter(lambda e: applies(fault, e, deployment), ENDPOINTS):
            status = fault.expect(deployment, hops, e)
            by_endpoint[e] = _label(status) + ("*" if answered_by_server(fault, deployment, status) else "")
        parts.append(_usual(by_endpoint))
    return parts[0] if parts[0] == parts[1] else f"{parts[0]}; 2 hops: {parts[1]}"


def _front_cell(fault, front, upstream) -> str:
    """Return what the fault gets through this front to this upstream ('†': nginx's own answer)."""
    by_endpoint = {}
    for e in filter(lambda e: applies(fault, e, upstream), ENDPOINTS):
        status = fault.expect_through(front, upstream, e)
        by_endpoint[e] = _label(status) + ("†" if fault.front_answers and status is not CLOSED else "")
    return _usual(by_endpoint)


def front_faults_table() -> str:
    """Return docs/safety.md's table of the faults through nginx, per front and upstream deployment."""
    columns = [(front, DEPLOYMENTS[name]) for front in (BUFFERED, STREAMING) for name in UPSTREAMS]
    lines = [
        "| Fault | " + " | ".join(f"{front} → {upstream.name}" for front, upstream in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for fault in FAULTS:
        lines.append(f"| `{fault.name}` | " + " | ".join(_front_cell(fault, *column) for column in columns) + " |")
    return "\n".join(lines) + "\n"


def faults_table() -> str:
    """Return docs/safety.md's table: what each fault gets from each deployment, as final hop and through a relay."""
    names = list(DEPLOYMENTS)
    lines = ["| Fault | The client | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for fault in FAULTS:
        cells = [_cell(fault, DEPLOYMENTS[name]) for name in names]
        lines.append(f"| `{fault.name}` | {fault.what} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(faults_table())
    print(front_faults_table(), end="")
