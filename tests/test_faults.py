"""The fault matrix: hostile clients over raw sockets against every deployment, as final hop and as relay.

Each fault ends in a 4xx that names it (or a closed connection where the server itself drops the
request before the app sees it), nothing stored or spooled, and both servers answering /health
within 2 s afterwards. The servers run with a limit and a short idle timeout, so that every fault
ends within seconds.
"""

import hashlib
from dataclasses import dataclass
from typing import Callable

import pytest
import requests

from fixtures.live import wait_until_empty
from fixtures.servers import watch_logs
from server_app.deployments import DEPLOYMENTS, SOCKET_KEYS
from server_app.receiving import ENDPOINTS, MULTIPART_ENDPOINTS

from .faults import CLOSE, CLOSED, OCTET, STALL, chunked, exchange, multipart_body, multipart_type, payload, request_head

LIMIT = 2 << 20  # --max-content-length of every server here: above Werkzeug's 500,000-byte form field limit
IDLE = 1  # --idle-timeout of every server here, in seconds
BODY = 256 << 10
# waitress looks for idle connections once per cleanup interval: a stall may take two intervals to end.
ANSWER_WITHIN = 4 * IDLE + 10
HEALTH_WITHIN = 2

SPLICE = "stream-splice"


@pytest.fixture(scope="module", params=[
    pytest.param(name, id=name,
                 marks=pytest.mark.skipif(not d.available(), reason=f"pip install {d.package} to test {name}"))
    for name, d in DEPLOYMENTS.items()
])
def servers(request, server_factory):
    """Spawn a final hop and a relay in front of it, both of one deployment, with the limit and idle timeout."""
    options = ["--max-content-length", str(LIMIT), "--idle-timeout", str(IDLE)]
    final = server_factory.spawn(request.param, extra_args=options)
    relay = server_factory.spawn(request.param, next_hop=final.url, extra_args=options)
    yield final, relay
    server_factory.stop(relay)
    server_factory.stop(final)


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
    return Request(request.content_type, {"Transfer-Encoding": "chunked", **(extra or {})},
                   chunked(request.body, last=last), CLOSE, request.stored)


def exactly_limit(endpoint) -> Request:
    """Return an upload whose whole body is LIMIT bytes, multipart framing included."""
    overhead = len(multipart_body(b"")) if endpoint in MULTIPART_ENDPOINTS else 0
    return with_length(file_request(endpoint, payload(LIMIT - overhead)))


@dataclass(frozen=True)
class Fault:
    name: str
    build: Callable  # endpoint -> Request
    expect: Callable  # (entry Deployment, hops, endpoint) -> HTTP status, or CLOSED
    multipart_only: bool = False


def _chunked_status(entry, hops, endpoint, otherwise):
    """What a chunked body gets: 411 where it cannot be read or forwarded, else `otherwise`."""
    if not entry.reads_chunked or (hops > 1 and not entry.dechunks) or endpoint == SPLICE:
        return 411
    return otherwise


def _unless_waitress(status):
    # waitress receives the whole body before the app runs: a body that never completes never reaches it.
    return lambda entry, hops, endpoint: CLOSED if entry.dechunks else status


FAULTS = [
    Fault("short-body",
          lambda e: with_length(file_request(e, payload(BODY)), length=2 * BODY),
          _unless_waitress(400)),
    Fault("chunked-without-last-chunk",
          lambda e: chunked_request(file_request(e, payload(BODY)), last=False),
          lambda entry, hops, e: _chunked_status(entry, hops, e, CLOSED if entry.dechunks else 400)),
    Fault("stall-mid-body",
          lambda e: with_length(file_request(e, payload(BODY)), send=BODY // 2, ending=STALL),
          _unless_waitress(408)),
    Fault("over-limit-declared",
          lambda e: with_length(file_request(e, payload(LIMIT + 1)), send=64 << 10, ending=STALL),
          lambda entry, hops, e: 413),
    Fault("over-limit-chunked",
          lambda e: chunked_request(file_request(e, payload(2 * LIMIT))),
          lambda entry, hops, e: _chunked_status(entry, hops, e, 413)),
    Fault("exactly-the-limit", exactly_limit, lambda entry, hops, e: 200),
    Fault("chunked-whole",
          lambda e: chunked_request(file_request(e, payload(BODY))),
          lambda entry, hops, e: _chunked_status(entry, hops, e, 200)),
    # waitress follows RFC 9112 section 6.3 itself (Transfer-Encoding wins, Content-Length is dropped) and
    # hands the app a de-chunked body; everywhere else the app sees both headers and refuses the request.
    Fault("chunked-and-content-length",
          lambda e: chunked_request(file_request(e, payload(BODY)), extra={"Content-Length": BODY}),
          lambda entry, hops, e: 200 if entry.dechunks else 400),
    Fault("multipart-bad-boundary",
          lambda e: with_length(Request(multipart_type("another"), {}, multipart_body(payload(BODY)))),
          lambda entry, hops, e: 400, multipart_only=True),
    Fault("multipart-no-boundary",
          lambda e: with_length(Request(multipart_type(None), {}, multipart_body(payload(BODY)))),
          lambda entry, hops, e: 400, multipart_only=True),
    Fault("multipart-truncated",
          lambda e: with_length(Request(multipart_type(), {}, multipart_body(payload(BODY), close=False))),
          lambda entry, hops, e: 400, multipart_only=True),
    Fault("multipart-other-field",
          lambda e: with_length(Request(multipart_type(), {}, multipart_body(payload(BODY), field="other"))),
          lambda entry, hops, e: 400, multipart_only=True),
    # 1 MiB: over Werkzeug's in-memory limit for a form field; streaming-form-data takes any 'file' part
    Fault("multipart-file-without-filename",
          lambda e: with_length(file_request(e, payload(1 << 20), filename=None)),
          lambda entry, hops, e: 200 if e == "streaming-form-data" else 400, multipart_only=True),
]


def cases():
    for fault in FAULTS:
        for endpoint in ENDPOINTS:
            if fault.multipart_only and endpoint not in MULTIPART_ENDPOINTS:
                continue
            for hops in (1, 2):
                yield pytest.param(fault, endpoint, hops, id=f"{fault.name}-{endpoint}-{hops}hop{'s' if hops > 1 else ''}")


def health_answers(server) -> bool:
    try:
        return requests.get(f"{server.url}/health", timeout=HEALTH_WITHIN).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.parametrize("fault, endpoint, hops", cases())
def test_fault(request, servers, fault, endpoint, hops):
    final, relay = servers
    watch_logs(request.node, servers)
    deployment = DEPLOYMENTS[final.deployment]
    if endpoint == SPLICE and deployment.name not in SOCKET_KEYS:
        pytest.skip(f"{deployment.name} does not give the app its socket: nothing to splice from")
    entry = relay if hops > 1 else final
    sent = fault.build(endpoint)
    head = request_head(f"/upload/{endpoint}", sent.content_type, sent.headers)
    answer = exchange(entry.port, head, sent.body, sent.ending, timeout=ANSWER_WITHIN)
    expected = fault.expect(deployment, hops, endpoint)
    assert answer.status == expected, (answer.status, answer.body[:300])
    if answer.status == 200:
        stored = final.upload_dir / answer_json(answer)["stored_name"]
        assert hashlib.md5(stored.read_bytes()).hexdigest() == hashlib.md5(sent.stored).hexdigest()
        stored.unlink()
    elif answer.status is not CLOSED and not server_answered_itself(deployment, answer):
        assert answer.json_detail, answer.body[:300]
    assert wait_until_empty(final, relay, timeout=10) == {}
    assert [p.name for s in (final, relay) for p in s.tmp_dir.iterdir()] == []
    assert health_answers(final) and health_answers(relay)


def answer_json(answer):
    import json

    return json.loads(answer.body)


def server_answered_itself(deployment, answer) -> bool:
    """Return whether the server, not the app, answered (its own text, not the app's JSON)."""
    return "json" not in answer.headers.get("Content-Type", "")
