"""Shaped links: the client in a network namespace of its own, a rate-limited veth pair, and nothing left behind."""

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest

from fixtures.processes import links
from fixtures.processes.chains import Chain
from fixtures.processes.ownership import NAME_PREFIX
from fixtures.report.document import write_report
from fixtures.run.estimate import Calibration, Plan
from fixtures.run.matrix import cells
from fixtures.run.rounds import rule_for
from fixtures.uploads import clients
from tests.conftest import (
    ROOT,
    RUN_JSON,
    SUITE_ENV,
    alive,
    interrupt_mid_upload,
    one_cell_options,
    server_pids,
    suite_command,
    upload_args,
)

needs_links = pytest.mark.skipif(links.missing() is not None, reason=str(links.missing()))
TINY = [
    *upload_args(sizes="256KB", deployments="werkzeug", hops=1, methods="request.stream-chunked"),
]


def ours():
    """Return the network namespaces a session of upload-bench made."""
    return [name for name in links.namespaces() if name.startswith(NAME_PREFIX)]


def qdisc(device, namespace=None):
    where = ["-n", namespace] if namespace else []
    return subprocess.run(
        ["tc", *where, "-s", "qdisc", "show", "dev", device], capture_output=True, text=True, check=True
    ).stdout


def sent_bytes(device, namespace=None) -> int:
    return int(re.search(r"Sent (\d+) bytes", qdisc(device, namespace)).group(1))


@pytest.mark.parametrize("text", ["100mbps", "0mbit", "200gbit", "fast", "1.5gbit", ""])
def test_a_link_that_is_no_rate_is_refused_naming_it_and_what_is_allowed(text):
    with pytest.raises(ValueError) as error:
        links.parse_link(text)
    assert str(error.value) == f"link {text!r} is invalid: expected {links.ALLOWED}"


@pytest.mark.slow
def test_bad_link_is_a_usage_error_naming_it(run_suite):
    result = run_suite("--upload-link=loopback,100mbps", "--co")
    assert result.returncode == 4
    assert "link '100mbps' is invalid: expected loopback, or a rate such as 100mbit or 1gbit" in result.stderr


@pytest.mark.parametrize(
    "text, name",
    [
        ("100mbit", "100mbit"),
        ("0100MBit", "100mbit"),
        ("1000mbit", "1gbit"),
        ("2500mbit", "2500mbit"),
        (" loopback ", "loopback"),
    ],
)
def test_a_link_has_one_name_per_rate(text, name):
    assert links.parse_link(text) == name


def test_a_link_is_its_rate_less_the_frame_and_tcp_headers():
    assert links.rate_bps("100mbit") == 100_000_000 and links.rate_bps("1gbit") == 10**9
    assert links.payload_rate("100mbit") == pytest.approx(100e6 / 8 * 1448 / 1514)
    assert links.rate_bps(links.LOOPBACK) is None and links.payload_rate(links.LOOPBACK) is None


def test_links_multiply_the_cells_and_name_the_link_in_ids_and_budget(upload_options):
    options = one_cell_options(upload_options, sizes=[64 << 20], links=("loopback", "100mbit"), timeout=None)
    loopback, shaped = cells(options)
    assert (loopback.id, shaped.id) == (
        "request.stream-chunked-werkzeug-1hop-64MB",
        "request.stream-chunked-100mbit-to-werkzeug-1hop-64MB",
    )
    assert shaped.deployment == "100mbit>werkzeug"
    # a link slower than the floor rate has a budget at half its own rate
    assert options.budget(64 << 20, "100mbit") == pytest.approx(10 + (64 << 20) / (links.payload_rate("100mbit") / 2))
    calibration = Calibration(md5_rate=600e6, process_start_s=0.05)
    plan = Plan.of([loopback, shaped], options, calibration=calibration)
    rounds = rule_for(options, 64 << 20).minimum  # each round sends the limit across the link, then the upload
    assert plan.shares[shaped] >= (1 + 2 * rounds) * (64 << 20) / links.payload_rate("100mbit")
    assert plan.shares[loopback] < plan.shares[shaped] / 10


@pytest.mark.skipif(os.geteuid() != 0, reason="as another user the reason is root, not the tools")
@pytest.mark.slow
def test_without_ip_and_tc_the_link_cells_are_skipped_saying_how_to_get_them(tmp_path, upload_options):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**SUITE_ENV, "PATH": str(bin_dir)}  # python, but no ip or tc
    result = subprocess.run(
        suite_command(
            tmp_path,
            upload_options.data_dir,
            "tests/test_upload_benchmarks.py",
            "--benchmark-disable",
            "--upload-link=100mbit",
            "-rs",
            *TINY,
        ),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert "1 passed, 2 skipped" in out, out[-2000:]  # the disk copy; the link's cell and the limit across it
    assert "shaped links need ip and tc of iproute2 on PATH: apt-get install iproute2" in out, out[-2000:]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to become another user")
def test_without_root_a_link_cannot_be_made_and_the_reason_says_so():
    # a real process that is not root: root's interpreter, imported first, then the effective user changed
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fixtures.processes import links; import os; os.seteuid(65534); print(links.missing())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("[no-link] shaped links need root (network namespaces and tc)"), done.stdout


@needs_links
def test_a_link_is_a_namespace_routed_only_to_the_servers_end_and_shaped_both_ways():
    made = links.Links()
    try:
        link = made.get("100mbit")
        assert made.get("100mbit") is link  # one namespace per link
        assert link.namespace in links.namespaces()
        routes = (
            subprocess.run(
                ["ip", "-n", link.namespace, "-4", "route", "show"], capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .splitlines()
        )
        subnet = ipaddress.ip_interface(f"{link.server_address}/30").network
        assert [route.split()[0] for route in routes] == [str(subnet)]  # no default route, nothing but the pair
        server_end, client_end = link.server_end, link.client_end
        assert "tbf" in qdisc(server_end) and "rate 100Mbit" in qdisc(server_end)
        assert "rate 100Mbit" in qdisc(client_end, link.namespace)
        with socket.create_server((link.server_address, 0)) as server:
            before = sent_bytes(client_end, link.namespace)
            body = os.urandom(1 << 20)
            received = []
            reader = threading.Thread(target=lambda: received.append(_read_all(server)))
            reader.start()
            with links.connect(server.getsockname(), 30, link.namespace) as sock:
                assert sock.getsockname()[0] == link.client_address
                sock.sendall(body)
            reader.join(30)
            assert received == [body]
            assert sent_bytes(client_end, link.namespace) - before >= len(body)  # through the shaped end
    finally:
        made.close()
    assert link.namespace not in links.namespaces()
    assert subprocess.run(["ip", "link", "show", server_end], capture_output=True).returncode != 0


def _read_all(server) -> bytes:
    conn, _ = server.accept()
    with conn:
        chunks = []
        while chunk := conn.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


@needs_links
def test_a_namespace_of_a_session_that_is_gone_is_removed_and_one_of_a_running_session_kept():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pytest"])
    stale, alive = f"{NAME_PREFIX}{dead.stdout.strip()}-100mbit", f"{NAME_PREFIX}{running.pid}-100mbit"
    try:
        for name in (stale, alive):
            subprocess.run(["ip", "netns", "add", name], check=True)
        links.Links().close()
        assert stale not in links.namespaces()
        assert alive in links.namespaces()
    finally:
        running.kill()
        running.wait()
        for name in (stale, alive):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)


@needs_links
@pytest.mark.slow
def test_a_run_across_a_link_checks_md5_records_the_link_and_removes_its_namespace(run_matrix, tmp_path):
    before = ours()
    result, run = run_matrix(
        "tests/test_upload_benchmarks.py",
        "--benchmark-only",
        "--upload-rounds=2",
        "--upload-link=loopback,100mbit",
        *TINY,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    by_name = {b["name"]: b["extra_info"] for b in run["benchmarks"]}
    shaped = by_name["test_upload[request.stream-chunked-100mbit-to-werkzeug-1hop-256KB]"]
    assert (shaped["link"], shaped["link_rate_bps"], shaped["md5_verified"]) == ("100mbit", 10**8, 2)
    assert by_name["test_upload[request.stream-chunked-werkzeug-1hop-256KB]"]["link"] == "loopback"
    limit = by_name["test_baseline[socket-100mbit-256KB]"]
    assert limit["link"] == "100mbit"
    # what tc counted on the client's end of the link: each upload and each limit transfer crossed it
    assert shaped["link_bytes_sent"] >= (1 + 2 + 2) * (256 << 10)  # warm-up, 2 rounds, 2 limit transfers
    assert limit["link_bytes_sent"] >= (1 + 2) * (256 << 10)
    assert "link_bytes_sent" not in by_name["test_upload[request.stream-chunked-werkzeug-1hop-256KB]"]
    assert "test_baseline[disk-100mbit-256KB]" not in by_name  # the disk copy crosses no link
    assert len(shaped["limit_rounds"]) == 2  # its limit, across the same link
    assert set(run["upload_bench"]["limits"]) == {"256KB", "256KB 100mbit"}
    assert run["upload_bench"]["md5_mismatches"] == 0
    assert ours() == before
    report = write_report([tmp_path / RUN_JSON], tmp_path / "report").read_text()
    table = report.split("## Links", 1)[1].split("## ", 1)[0]
    assert "| loopback: MB/s (of its limit) | 100mbit: MB/s (of its limit) |" in table
    [row] = [line for line in table.splitlines() if line.startswith("| 256KB | request.stream (chunked copy) |")]
    assert re.fullmatch(
        r"\| 256KB \| request\.stream \(chunked copy\) \| werkzeug \| 1 \| [\d.]+ \(\d+%\) \| "
        r"[\d.]+ \(\d+%\) \| \d+ / \d+ \| \d+ / \d+ \|",
        row,
    ), row


@needs_links
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.slow
def test_a_signal_mid_upload_across_a_link_stops_servers_and_removes_its_namespace(tmp_path, upload_options, signum):
    before = ours()
    # the link's limit receiver and the server; writelines takes about a minute for 32MB
    output, made = interrupt_mid_upload(
        tmp_path,
        upload_options,
        signum,
        extra=["--upload-link=100mbit"],
        at_signal=lambda proc: [name for name in ours() if name not in before],
    )
    assert made, output
    assert "KeyboardInterrupt" in output
    assert alive(server_pids(output)) == []
    assert [name for name in ours() if name in made] == []
    assert [p for p in (tmp_path / "basetemp").rglob("*") if p.is_file()] == []


@needs_links
def test_what_fails_inside_a_namespace_is_raised_as_it_was():
    made = links.Links()
    try:
        link = made.get("1gbit")
        with socket.create_server((link.server_address, 0)) as server:
            port = server.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            links.connect((link.server_address, port), 5, link.namespace)
        assert links.inside(link.namespace, lambda: os.readlink("/proc/thread-self/ns/net")) != os.readlink(
            "/proc/thread-self/ns/net"
        )  # it ran in the link's namespace; this thread did not move
    finally:
        made.close()


@needs_links
def test_a_multipart_body_held_in_memory_may_take_longer_than_the_connect_timeout_to_cross_a_link(
    server_factory, data_files, monkeypatch
):
    # urllib3 sends a body held in memory (files=) with one sendall under the connect timeout. 8 MiB across
    # 32mbit: the sendall returns when all but the socket's buffer (4 MiB at most) has crossed, after about
    # 1 s, over a connect timeout of 0.3 s; the body must still arrive whole.
    monkeypatch.setattr(clients, "CONNECT_TIMEOUT", 0.3)
    datafile = data_files.get(8 << 20)
    made = links.Links()
    try:
        link = made.get("32mbit")
        server = server_factory.spawn(host=link.server_address)
        try:
            answer = links.inside(
                link.namespace, clients.send_files, f"{server.url}/upload/files", datafile.path, datafile.size, 30
            )
            assert Chain([server]).verify_and_delete(answer, datafile) == datafile.size  # size and md5
        finally:
            server_factory.stop(server)
    finally:
        made.close()
