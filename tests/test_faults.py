"""The fault matrix: hostile clients over raw sockets against every deployment, as final hop and as relay.

Each fault ends in the answer tests/faults.py expects (a 4xx with a JSON error that names it, or a
closed connection where the server itself drops the request before the app sees it), nothing stored
or spooled, and both servers answering /health within 2 s afterwards. The servers run with a limit
and a short idle timeout, so that every fault ends within seconds.
"""

import hashlib
import json
import socket
import threading
from contextlib import contextmanager
from dataclasses import replace

import pytest
import requests

from fixtures.processes import fronts
from fixtures.processes.chains import Chains
from fixtures.server_logs import watch_logs
from server_app.deployments import DEPLOYMENTS
from server_app.receiving import ENDPOINTS, MULTIPART_ENDPOINTS
from tests.conftest import ROOT, wait_until_empty, wait_until_idle
from tests.faults import (
    FAULTS,
    FAULTS_END,
    FAULTS_START,
    FRONT_FAULTS_END,
    FRONT_FAULTS_START,
    IDLE,
    LIMIT,
    answered_by_server,
    applies,
    faults_table,
    front_faults_table,
    names_the_problem,
)
from tests.raw_http import CLOSE, CLOSED, OCTET, STALL, chunked, exchange, payload, request_head


def needs_front(name):
    deployment = DEPLOYMENTS[name]
    if fronts.nginx_binary() is None:
        return pytest.mark.skip(reason=fronts.MISSING)
    return pytest.mark.skipif(not deployment.available(), reason=f"pip install {deployment.package} to test {name}")


# A hang guard, not a measurement: waitress looks for idle connections once per cleanup interval.
ANSWER_WITHIN = 4 * IDLE + 10
HEALTH_WITHIN = 2


@contextmanager
def limited_chain(server_factory, deployments, front=fronts.NONE):
    """Start a chain whose servers (and nginx) hold the limit and the idle timeout; stop it afterwards."""
    chain = Chains(server_factory).get(deployments, front, body_limit=LIMIT, idle_timeout=IDLE)
    try:
        yield chain
    finally:
        for server in chain.servers:
            server_factory.stop(server)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            name, id=name, marks=pytest.mark.skipif(not d.available(), reason=f"pip install {d.package} to test {name}")
        )
        for name, d in DEPLOYMENTS.items()
    ],
)
def servers(request, server_factory):
    """Spawn a final hop and a relay in front of it, both of one deployment, with the limit and idle timeout."""
    with limited_chain(server_factory, (request.param, request.param)) as chain:
        relay, final = chain.servers
        yield final, relay


def cases():
    for fault in FAULTS:
        for endpoint in ENDPOINTS:
            if fault.multipart_only and endpoint not in MULTIPART_ENDPOINTS:
                continue
            for hops in (1, 2):
                yield pytest.param(
                    fault, endpoint, hops, id=f"{fault.name}-{endpoint}-{hops}hop{'s' if hops > 1 else ''}"
                )


def health_answers(server) -> bool:
    try:
        return requests.get(f"{server.url}/health", timeout=HEALTH_WITHIN).status_code == 200
    except requests.RequestException:
        return False


def assert_nothing_left(servers, entry, logged):
    """Check that the servers hold no request, file or temp file, that the entry answers /health, and that no
    server logged a traceback since ``logged`` (log sizes by name): a client's fault is answered, not a crash."""
    # First every request done: a relay answers as soon as its client fails, while the final hop may still be
    # reading what the relay had forwarded (the seed's writelines reads a few MB/s) before it drops the file.
    assert wait_until_idle(*servers, timeout=20) == {}
    assert wait_until_empty(*servers, timeout=10) == {}
    assert [p.name for s in servers for p in s.tmp_dir.iterdir()] == []
    assert health_answers(entry) and all(health_answers(s) for s in servers)
    for server in servers:
        assert "Traceback" not in server.log_text(logged[server.name]), server.log_text(logged[server.name])


def check_answer(fault, sent, answer, final, answered_itself):
    """Check an answer beyond its status: a 200 stored exactly what was sent (then it is deleted), an answer of a
    server or front itself is its own text, an error of the app's names the fault."""
    if answer.status == 200:
        stored = final.upload_dir / json.loads(answer.body)["stored_name"]
        assert hashlib.md5(stored.read_bytes()).hexdigest() == hashlib.md5(sent.stored).hexdigest()
        stored.unlink()
    elif answered_itself:
        assert answer.body and not answer.json_detail, answer.body[:300]
    elif answer.status is not CLOSED:
        assert names_the_problem(fault, answer.status, answer.json_detail), answer.body[:300]


@pytest.mark.parametrize("fault, endpoint, hops", list(cases()))
def test_fault(request, servers, fault, endpoint, hops):
    final, relay = servers
    watch_logs(request.node, servers)
    logged = {server.name: server.log_size() for server in servers}
    deployment = DEPLOYMENTS[final.deployment]
    if not applies(fault, endpoint, deployment):
        pytest.skip(f"{deployment.name} does not give the app its socket: nothing to splice from")
    entry = relay if hops > 1 else final
    sent = fault.build(endpoint)
    head = request_head(f"/upload/{endpoint}", sent.content_type, sent.headers)
    answer = exchange(entry.port, head, sent.body, sent.ending, timeout=ANSWER_WITHIN)
    assert answer.status == fault.expect(deployment, hops, endpoint), (answer.status, answer.body[:300])
    check_answer(fault, sent, answer, final, answered_by_server(fault, deployment, answer.status))
    assert_nothing_left(servers, entry, logged)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((front, name), id=f"{front}-to-{name}", marks=needs_front(name))
        for front in (fronts.BUFFERED, fronts.STREAMING)
        for name in fronts.UPSTREAMS
    ],
)
def fronted(request, server_factory):
    """Spawn nginx in front of one server, both holding the limit and the idle timeout."""
    front, name = request.param
    with limited_chain(server_factory, (name,), front) as chain:
        yield chain


def front_cases():
    for fault in FAULTS:
        for endpoint in ENDPOINTS:
            if not fault.multipart_only or endpoint in MULTIPART_ENDPOINTS:
                yield pytest.param(fault, endpoint, id=f"{fault.name}-{endpoint}")


@pytest.mark.parametrize("fault, endpoint", list(front_cases()))
def test_fault_through_a_front(request, fronted, fault, endpoint):
    nginx, server = fronted.servers
    watch_logs(request.node, fronted.servers)
    logged = {server.name: server.log_size()}
    deployment = DEPLOYMENTS[server.deployment]
    if not applies(fault, endpoint, deployment):
        pytest.skip(f"{deployment.name} does not give the app its socket: nothing to splice from")
    sent = fault.build(endpoint)
    if not fault.cut_short:  # a client that half-closes after its whole body is, to nginx, a client gone
        sent = replace(sent, ending=STALL)
    head = request_head(f"/upload/{endpoint}", sent.content_type, sent.headers)
    answer = exchange(nginx.port, head, sent.body, sent.ending, timeout=ANSWER_WITHIN)
    assert answer.status == fault.expect_through(fronted.front, deployment, endpoint), (
        answer.status,
        answer.body[:300],
    )
    by_nginx = fault.front_answers and answer.status is not CLOSED
    assert not by_nginx or b"nginx" in answer.body, answer.body[:300]
    check_answer(fault, sent, answer, server, by_nginx)
    assert_nothing_left([server], nginx, logged)  # nginx answers /health from the server behind it


@pytest.mark.parametrize("hops", [1, 2])
def test_a_chunked_body_over_the_limit_never_takes_more_disk_than_the_limit(request, servers, hops):
    final, relay = servers
    watch_logs(request.node, servers)
    logged = {server.name: server.log_size() for server in servers}
    deployment = DEPLOYMENTS[final.deployment]
    if not deployment.takes_chunked(hops):
        pytest.skip(f"{deployment.name} answers a chunked body with 411 before reading it")
    entry = relay if hops > 1 else final
    largest, sending = [0], threading.Event()

    def size(path):
        try:
            return path.stat().st_size
        except FileNotFoundError:  # dropped between the listing and the look
            return 0

    def watch():  # the largest file in the final hop's upload dir while the body is sent
        while sending.is_set():
            largest[0] = max([largest[0], *map(size, final.upload_dir.iterdir())])

    block = chunked(payload(1 << 20))[: -len(b"0\r\n\r\n")]  # 1 MiB in 64 KiB chunks, no end
    with socket.create_connection(("127.0.0.1", entry.port), timeout=ANSWER_WITHIN) as sock:
        sending.set()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        sock.sendall(request_head("/upload/stream-chunked", OCTET, {"Transfer-Encoding": "chunked"}))
        try:
            for _ in range(64):  # 64 MiB in 1 MiB blocks, as in the report of the issue
                sock.sendall(block)
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed before taking it all
            pass
        reply = sock.recv(4096)
        sending.clear()
        watcher.join()
    assert reply.split(b" ", 2)[1] == b"413", reply[:300]
    # The Werkzeug server reads (and discards) the rest after the answer, so that the client hears the
    # 413: what must stay bounded is what is written.
    assert largest[0] <= LIMIT
    assert_nothing_left(servers, entry, logged)


def test_a_relay_drops_a_next_hop_that_stops_taking_the_body(request, server_factory):
    stalled = socket.create_server(("127.0.0.1", 0))  # accepts connections, never reads
    accepted = []
    acceptor = threading.Thread(target=lambda: accepted.append(stalled.accept()), daemon=True)
    acceptor.start()
    relay = server_factory.spawn(
        next_hop=f"http://127.0.0.1:{stalled.getsockname()[1]}", extra_args=["--idle-timeout", str(IDLE)]
    )
    watch_logs(request.node, [relay])
    try:
        body = payload(64 << 20)  # far more than the socket buffers between relay and next hop hold
        head = request_head("/upload/stream-chunked", OCTET, {"Content-Length": len(body)})
        answer = exchange(relay.port, head, body, CLOSE, timeout=ANSWER_WITHIN)
        assert answer.status == 502, answer.body[:300]
        assert "timed out" in answer.json_detail
        assert health_answers(relay)
    finally:
        server_factory.stop(relay)
        for connection, _ in accepted:
            connection.close()
        stalled.close()


@pytest.mark.parametrize(
    "start, end, table",
    [
        pytest.param(FAULTS_START, FAULTS_END, faults_table, id="servers"),
        pytest.param(FRONT_FAULTS_START, FRONT_FAULTS_END, front_faults_table, id="fronts"),
    ],
)
def test_docs_faults_tables_are_the_registry(start, end, table):
    page = (ROOT / "docs" / "safety.md").read_text()
    assert page[page.index(start) + len(start) : page.index(end)].strip() == table().strip(), (
        "docs/safety.md's faults tables are stale: regenerate them with `python -m tests.faults`"
    )


def read_answer(reader) -> tuple:
    """Read one HTTP answer with a Content-Length from a connection's reader; return its status and JSON."""
    status = int(reader.readline().split()[1])
    headers = dict(line.decode().rstrip("\r\n").split(": ", 1) for line in iter(reader.readline, b"\r\n"))
    return status, json.loads(reader.read(int(headers["Content-Length"])))


@pytest.mark.skipif(not DEPLOYMENTS["waitress"].available(), reason="pip install waitress to test waitress")
def test_waitress_takes_a_body_framed_both_ways_and_keeps_the_connection_open(request, server_factory):
    body = payload(64 << 10)
    head = request_head("/upload/stream-chunked", OCTET, {"Transfer-Encoding": "chunked", "Content-Length": len(body)})
    with limited_chain(server_factory, ("waitress",)) as chain:
        [server] = chain.servers
        watch_logs(request.node, chain.servers)
        with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_WITHIN) as sock:
            reader = sock.makefile("rb")
            sock.sendall(head + chunked(body))
            status, answer = read_answer(reader)
            assert status == 200 and answer["bytes"] == len(body)  # the chunked framing won
            (server.upload_dir / answer["stored_name"]).unlink()
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # RFC 9112: it should be closed
            status, answer = read_answer(reader)
            assert status == 200 and answer["deployment"] == "waitress"
