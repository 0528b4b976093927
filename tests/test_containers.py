"""Deployments in podman containers: each mode's network and storage, md5 through them, and nothing left behind."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from fixtures.option_checks import against_of, containers_chosen
from fixtures.processes import containers
from fixtures.processes.ownership import NAME_PREFIX, owner_pid
from fixtures.processes.placement import Placement
from fixtures.report.containers import containers_section
from fixtures.report.formatting import DASH
from fixtures.report.model import benchmarks_of
from tests.conftest import STARTED, UPLOAD_CELLS, interrupt_mid_upload, upload_args, wait_for

needs_podman = pytest.mark.skipif(containers.missing() is not None, reason=str(containers.missing()))
BODY = bytes(range(256)) * 8192  # 2 MiB
MD5 = hashlib.md5(BODY).hexdigest()


def post_body(url) -> dict:
    """Upload BODY to the chunked copy at url; return the server's JSON answer."""
    headers = {"Content-Type": "application/octet-stream"}
    return requests.post(f"{url}/upload/stream-chunked", data=BODY, headers=headers, timeout=30).json()


def podman(*args) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def left_by_other_sessions() -> list:
    """Return the containers and networks of sessions other than this one (which keeps its network to its end)."""
    return [name for name in ours() if owner_pid(name) != os.getpid()]


def ours(pid=None) -> list:
    """Return the containers and networks a session made (that of ``pid``, or any), by the owner label."""
    label = containers.OWNER_LABEL if pid is None else f"{containers.OWNER_LABEL}={pid}"
    names = podman("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}").split()
    return names + podman("network", "ls", "--filter", f"label={label}", "--format", "{{.Name}}").split()


@needs_podman
@pytest.mark.parametrize("mode", [pytest.param(name, id=name) for name in containers.MODES])
def test_a_server_in_each_mode_stores_the_upload_where_its_storage_says_and_goes_with_its_container(
    server_factory, mode
):
    server = server_factory.spawn("werkzeug", container=mode)
    name, host_dir = server.container, server_factory.base_dir / server.name / "uploads"
    assert podman("inspect", "--format", "{{.State.Running}}", name).strip() == "true"
    workdir = podman("inspect", "--format", "{{.Config.WorkingDir}}", name).strip()
    assert workdir == str(host_dir.parent)  # as a bare server's: no checkout there for python -m to import first
    network = podman("inspect", "--format", "{{.HostConfig.NetworkMode}}", name).strip()
    assert (network == "host") == (containers.MODES[mode].network == containers.HOST), network
    answer = post_body(server.url)
    stored = Path(server.upload_dir) / answer["stored_name"]
    assert answer["bytes"] == len(BODY) and hashlib.md5(stored.read_bytes()).hexdigest() == MD5
    on_host = (host_dir / answer["stored_name"]).is_file()
    assert on_host == (containers.MODES[mode].storage == containers.VOLUME)  # the overlay's file is the container's
    stored.unlink()
    server_factory.stop(server)
    assert name not in ours() and not host_dir.exists()


@needs_podman
def test_a_bridge_network_takes_a_subnet_of_the_benchmark_range_and_publishes_on_loopback_only(server_factory):
    server = server_factory.spawn("werkzeug", container="podman-bridge-volume")
    try:
        subnet = server_factory.podman.subnet
        assert subnet.subnet_of(containers.SUBNETS) and subnet.prefixlen == containers.BRIDGE_PREFIX
        ports = podman("port", server.container).split()
        assert ports == [f"{server.port}/tcp", "->", f"127.0.0.1:{server.port}"]
        assert requests.get(f"{server.url}/health", timeout=5).ok
    finally:
        server_factory.stop(server)


@needs_podman
def test_a_duets_placement_reaches_the_server_inside_its_container(server_factory):
    placement = Placement.fixed(seed=7)
    if placement.unplaced:
        pytest.skip(f"a duet's placement cannot be made here: {'; '.join(placement.unplaced)}")
    before, server_factory.placement = server_factory.placement, placement
    try:
        server = server_factory.spawn("werkzeug", container="podman-host-volume")
    finally:
        server_factory.placement = before
    try:
        python = next(p for p in server.processes() if "server_app" in " ".join(p.cmdline()))
        assert Path(f"/proc/{python.pid}/personality").read_text().strip() == "00040000"  # ADDR_NO_RANDOMIZE
        assert python.cpu_affinity() == list(placement.server_cpus)
        assert python.environ()["PYTHONHASHSEED"] == "7"
    finally:
        server_factory.stop(server)


@needs_podman
def test_a_session_removes_the_containers_and_network_a_killed_one_left_and_no_one_elses():
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid no process has any more: its session is gone
    # a process whose command line names pytest, still running: another session beside this one
    beside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pytest"])
    left, kept, network = f"{NAME_PREFIX}{dead.pid}-werkzeug-0", f"{NAME_PREFIX}{beside.pid}-werkzeug-0", ""
    try:
        network = f"{NAME_PREFIX}{dead.pid}-net"
        podman("network", "create", "--subnet", "198.19.254.0/30", "--label", f"{containers.OWNER_LABEL}=1", network)
        for name in (left, kept):
            podman(
                "run",
                "-d",
                "--name",
                name,
                "--label",
                f"{containers.OWNER_LABEL}=1",
                *containers._ulimits(),
                "--network",
                "none",
                *containers.ROOTFS,
                "sleep",
                "60",
            )
        containers.Podman().close()
        assert left not in ours() and network not in ours()
        assert kept in ours()
    finally:
        beside.kill()
        beside.wait()
        subprocess.run(["podman", "rm", "--force", "--ignore", "--time", "0", left, kept], capture_output=True)
        subprocess.run(["podman", "network", "rm", "--force", network], capture_output=True)


@needs_podman
@pytest.mark.slow
def test_a_run_of_every_mode_checks_every_upload_and_records_how_its_container_ran(run_matrix):
    result, run = run_matrix(
        *UPLOAD_CELLS,
        *upload_args(sizes="256KB", deployments="werkzeug,uwsgi-seed", hops=1, methods="request.files", rounds=1),
        "--upload-containers=none,podman",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    contained = [b for b in run["benchmarks"] if b["extra_info"].get("container")]
    assert sorted(b["extra_info"]["deployment"] for b in contained) == sorted(
        f"{d}@{m}" for d in ("werkzeug", "uwsgi-seed") for m in containers.MODES
    )
    for bench in contained:
        container = bench["extra_info"]["container"]
        assert container["engine"] == "podman" and container["podman_version"] and container["runtime_version"]
        assert f"-in-podman-{container['network']}-{container['storage']}-" in bench["name"]
        assert bench["extra_info"]["limit_rounds"]  # its limit: a transfer into a receiver in the same container
    summary = run["upload_bench"]
    assert summary["md5_checked"] == 2 * len(run["benchmarks"]) and summary["md5_mismatches"] == 0  # warm-up + 1
    assert left_by_other_sessions() == []
    report = containers_section(benchmarks_of([run]))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in report.splitlines() if "256KB" in line]
    assert sorted((row[2], row[3]) for row in rows) == sorted(
        (d, m.removeprefix("podman-")) for d in ("werkzeug", "uwsgi-seed") for m in containers.MODES
    )
    for row in rows:  # the bare upload's MB/s beside, the ratios of times and of limits with their intervals
        assert float(row[4]) > 0 and float(row[5]) > 0
        assert all(re.fullmatch(r"\d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\)", cell) for cell in row[6:8]), row
        assert re.fullmatch(r"\d+%", row[8]) and row[9] == DASH, row  # its own limit; no baseline rows in this run


@needs_podman
@pytest.mark.slow
def test_a_duet_against_a_container_pairs_the_bare_final_hop_with_the_same_one_in_a_container(run_suite, tmp_path):
    result = run_suite(
        *UPLOAD_CELLS,
        "-s",
        *upload_args(sizes="256KB", deployments="werkzeug", hops="1,2", methods="request.files", rounds=2),
        "--upload-against-container=podman-host-volume",
        f"--benchmark-json={tmp_path / 'run.json'}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    started = [name for name, _ in STARTED.findall(result.stdout)]
    assert [n for n in started if "podman" in n] == [n for n in started if "-B-" in n and "werkzeug-podman" in n]
    assert len([n for n in started if "podman" in n]) == 2  # B's final hop of each chain; A's, B's relays bare
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["upload_bench"]["duet"]["sides"]["B"]["container"]["network"] == "host"
    for bench in run["benchmarks"]:
        assert bench["extra_info"]["against"]["container"]["storage"] == "volume"
        assert bench["extra_info"]["container"] is None and bench["extra_info"]["pairs"] == 2
    assert left_by_other_sessions() == []


@needs_podman
@pytest.mark.slow
@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGINT, id="ctrl-c"), pytest.param(signal.SIGTERM, id="sigterm")]
)
def test_a_signal_mid_upload_in_a_container_leaves_no_container_or_network(tmp_path, upload_options, signum):
    output, pid = interrupt_mid_upload(
        tmp_path,
        upload_options,
        signum,
        extra=["--upload-containers=podman-bridge-volume"],
        at_signal=lambda proc: wait_for(lambda: ours(proc.pid) and proc.pid, "the run's container"),
    )
    assert "KeyboardInterrupt" in output
    assert ours(pid) == []
    assert [p for p in (tmp_path / "basetemp").rglob("*") if p.is_file()] == []


def test_without_podman_the_container_cells_are_skipped_with_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without podman and runc
    reason = containers.missing.__wrapped__()
    assert reason.startswith("[no-container] ") and "apt-get install podman runc" in reason


def test_containers_with_only_a_front_or_a_shaped_link_is_an_error_naming_what_to_add():
    with pytest.raises(ValueError, match="add none to --upload-fronts and loopback to --upload-link"):
        containers_chosen(("none", "podman-host-volume"), ["nginx"], ("loopback",))
    assert containers_chosen(("podman-host-volume",), ["none", "nginx"], ("loopback", "1gbit")) == (
        "podman-host-volume",
    )


def test_a_duet_against_a_container_leaves_the_matrix_bare():
    with pytest.raises(ValueError, match="leave out --upload-containers=none,podman-host-volume"):
        against_of(None, None, None, "none", "podman-bridge-volume", ("none", "podman-host-volume"))
    assert against_of(None, None, None, "slower", "podman-bridge-volume") == (None, None)  # a gate on the container
