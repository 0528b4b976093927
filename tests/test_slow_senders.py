"""Slow senders beside a cell's uploads: the ids, what they send, what they cost a server, and the report."""

import socket
import threading

import pytest

from fixtures.report.document import write_report
from fixtures.run.slow_senders import TICK, SlowSenders
from tests.conftest import UPLOAD_CELLS, alive, server_pids, upload_args


def test_senders_trickle_until_stopped_then_close_their_connections():
    listener = socket.create_server(("127.0.0.1", 0))
    received, readers = [], []

    def read_all(connection):
        with connection:
            received.append(b"".join(iter(lambda: connection.recv(65536), b"")))

    def serve():
        for _ in range(2):
            reader = threading.Thread(target=read_all, args=(listener.accept()[0],))
            reader.start()
            readers.append(reader)

    acceptor = threading.Thread(target=serve)
    acceptor.start()
    senders = SlowSenders(f"http://127.0.0.1:{listener.getsockname()[1]}", 2, rate=4096).start()
    threading.Event().wait(3 * TICK)
    senders.stop()
    acceptor.join(5)
    for reader in readers:
        reader.join(5)  # each ends when its sender closes the connection
    listener.close()
    assert senders.alive == 0 and senders.dropped == []
    assert len(received) == 2 and all(body.startswith(b"POST /upload/stream-chunked HTTP/1.1\r\n") for body in received)
    bodies = [body.split(b"\r\n\r\n", 1)[1] for body in received]
    assert all(len(body) >= 2 * int(4096 * TICK) for body in bodies)  # a first piece at once, then more
    assert senders.figures()["slow_clients_bytes_sent"] == sum(map(len, bodies))


@pytest.mark.slow
def test_two_slow_senders_stop_gunicorn_not_werkzeug_and_leave_nothing(run_matrix, tmp_path):
    result, run = run_matrix(
        *UPLOAD_CELLS,
        "-s",
        *upload_args(
            sizes="256KB",
            methods="request.stream-chunked",
            deployments="werkzeug,gunicorn",
            hops=1,
            slow_clients="0,2",
            timeout=2,
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:]  # an upload over its budget is a measured outcome
    infos = {b["name"]: b["extra_info"] for b in run["benchmarks"]}
    beside = infos["test_upload[request.stream-chunked-werkzeug-1hop-slow2-256KB]"]
    assert beside["slow_clients"] == 2 and beside["slow_clients_bytes_sent"] > 0 and beside["md5_verified"] >= 1
    assert beside["slow_clients_dropped"] == []
    [late] = run["upload_bench"]["over_budget"]  # gunicorn's two sync workers each hold a slow sender
    assert late["test"].endswith("[request.stream-chunked-gunicorn-1hop-slow2-256KB]") and late["slow_clients"] == 2
    assert "request.stream-chunked-gunicorn-1hop-256KB" in "".join(infos)  # alone, gunicorn answers
    assert alive(server_pids(result.stdout)) == []
    report = write_report([tmp_path / "run.json"], tmp_path / "report").read_text()
    assert "| 256KB | request.stream (chunked copy) | gunicorn | 1 |" in report
    assert "over budget (" in report.split("## Slow senders", 1)[1]


def test_a_sender_whose_connection_the_server_closes_is_noted_as_dropped():
    listener = socket.create_server(("127.0.0.1", 0))

    def close_each():
        for _ in range(2):
            connection, _ = listener.accept()
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            connection.close()  # with linger 0: a reset, as a server that gives up on a client sends

    closer = threading.Thread(target=close_each)
    closer.start()
    senders = SlowSenders(f"http://127.0.0.1:{listener.getsockname()[1]}", 2, rate=4096).start()
    closer.join(5)
    threading.Event().wait(3 * TICK)  # the next piece meets the reset
    senders.stop()
    listener.close()
    assert senders.alive == 0
    assert len(senders.dropped) == 2 and all("sender" in why and "Error" in why for why in senders.dropped)
