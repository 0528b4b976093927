"""A duet's placement: both sides' processes really run on the CPUs, hash seed and layout it names."""

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from fixtures import ROOT
from fixtures.data.app_integrity import StoredDir
from fixtures.data.datafiles import DataFile
from fixtures.processes import chains
from fixtures.processes.bytecode import compile_checkout, holds
from fixtures.processes.chains import Chain
from fixtures.processes.client_process import ClientProcess
from fixtures.processes.placement import (
    CLIENT,
    FREE_PLACEMENT,
    MALLOC_SETTINGS,
    SERVER,
    STARTING_BYTES,
    Placement,
)
from fixtures.run.app_transfer import AppTransfer
from server_app.padding import PAD_VARIABLE, starting_bytes

ADDR_NO_RANDOMIZE = 0x0040000  # linux/personality.h
CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(
    len(CPUS) < 2, reason=f"placement keeps clients and servers on different CPUs; this process may use only {CPUS}"
)


def layout_is_fixed(pid: int) -> bool:
    return bool(int(Path(f"/proc/{pid}/personality").read_text(), 16) & ADDR_NO_RANDOMIZE)


def test_a_fixed_placement_keeps_clients_and_servers_apart_with_the_duet_seed_as_hash_seed():
    placement = Placement.fixed(2**32 + 5, cpus=[3, 0, 1])
    assert (placement.client_cpus, placement.server_cpus) == ((0,), (1, 3))
    assert placement.hash_seed == 5  # PYTHONHASHSEED's range is 0 to 2**32 - 1
    env = placement.env({"A": "1", PAD_VARIABLE: "stale"}, ["python", "-m", "x"])
    assert env["A"] == "1" and env["PYTHONHASHSEED"] == "5"
    assert starting_bytes(["python", "-m", "x"], env) == STARTING_BYTES
    longer = placement.env({"A": "1" * 300}, ["python", "-m", "x", "--upload-dir", "/a/much/longer/path"])
    assert starting_bytes(["python", "-m", "x", "--upload-dir", "/a/much/longer/path"], longer) == STARTING_BYTES
    command = placement.command(["python", "-m", "x", 7], SERVER)
    assert command[-4:] == ["python", "-m", "x", "7"]
    assert command[command.index("--cpu-list") + 1] == "1,3"


def test_one_cpu_places_nothing_and_says_why():
    placement = Placement.fixed(1, cpus=[0])
    assert placement.client_cpus == placement.server_cpus == ()
    assert "taskset" not in placement.command(["true"], CLIENT)
    assert any("only CPU [0]" in why for why in placement.unplaced)


def test_a_bare_run_places_nothing():
    assert FREE_PLACEMENT.command(["python", 1], CLIENT) == ["python", "1"]
    assert FREE_PLACEMENT.env({"A": "1"}, ["python"]) == {"A": "1"}


@needs_two_cpus
def test_a_placed_server_and_client_run_where_the_placement_says(server_factory):
    placement = Placement.fixed(11)
    assert placement.fixed_layout, placement.unplaced  # setarch is util-linux's: on every Debian
    server_factory.placement = placement
    try:
        server = server_factory.spawn("gunicorn")
    finally:
        server_factory.placement = FREE_PLACEMENT
    client = ClientProcess(placement=placement)
    try:
        workers = server.processes()
        assert len(workers) >= 3  # the arbiter and its two sync workers
        # gunicorn's arbiter is what server_app exec'd, with other arguments: it kept the size
        assert starting_bytes(workers[0].cmdline(), workers[0].environ()) == STARTING_BYTES
        for process in workers:
            assert process.cpu_affinity() == list(placement.server_cpus), process.cmdline()
            assert process.environ()["PYTHONHASHSEED"] == "11"
            assert process.environ().items() >= MALLOC_SETTINGS.items()
            assert layout_is_fixed(process.pid)
        mine = psutil.Process(client.proc.pid)
        assert mine.cpu_affinity() == list(placement.client_cpus)
        assert mine.environ()["PYTHONHASHSEED"] == "11" and layout_is_fixed(mine.pid)
        assert starting_bytes(mine.cmdline(), mine.environ()) == STARTING_BYTES
        assert "client_process" in " ".join(mine.cmdline())  # taskset and setarch replaced themselves
    finally:
        client.close()
        server_factory.stop(server)


@needs_two_cpus
def test_a_chain_deletes_a_stored_file_on_its_servers_cpus_and_only_that_thread_moves(tmp_path, monkeypatch):
    placement = Placement.fixed(3)
    seen = []

    def deleting(path):  # the stored file's deletion itself, and where it ran
        seen.append((os.sched_getaffinity(0), path.exists()))
        path.unlink(missing_ok=True)

    monkeypatch.setattr(chains, "delete_file", deleting)
    stored = tmp_path / "stored"
    stored.write_bytes(b"x")
    before = os.sched_getaffinity(0)
    other, asked = [], threading.Event()
    beside = threading.Thread(target=lambda: asked.wait(30) and other.append(os.sched_getaffinity(0)))
    beside.start()
    with placement.on_server_cpus():
        asked.set()
        beside.join()
        assert os.sched_getaffinity(0) == set(placement.server_cpus)
    assert other == [before]  # the process's other threads stayed where they were
    assert os.sched_getaffinity(0) == before
    Chain([], placement=placement).delete(stored)
    Chain([]).delete(tmp_path / "absent")  # a bare run's chain deletes where it runs
    assert seen == [(set(placement.server_cpus), True), (before, False)]
    assert not stored.exists() and os.sched_getaffinity(0) == before


@needs_two_cpus
def test_the_file_your_app_stored_is_checked_then_deleted_on_its_servers_cpus(tmp_path, monkeypatch):
    placement = Placement.fixed(3)
    seen = []

    def deleting(path):
        seen.append((os.sched_getaffinity(0), path.read_bytes()))
        path.unlink()

    monkeypatch.setattr(chains, "delete_file", deleting)
    body = b"stored by your app"
    sent = tmp_path / "sent"
    sent.write_bytes(body)
    datafile = DataFile(sent, len(body), hashlib.md5(body).hexdigest())
    stored = StoredDir(tmp_path / "app")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "upload-1").write_bytes(body)
    transfer = AppTransfer(None, Chain([], placement=placement), datafile, None, None, stored=stored)
    assert transfer.verify({"name": "upload-1"}) == len(body)
    assert seen == [(set(placement.server_cpus), body)] and stored.new_files() == []


def test_a_checkouts_bytecode_is_compiled_where_its_processes_load_it(tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "server_app", checkout / "server_app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "fixtures", checkout / "fixtures", ignore=shutil.ignore_patterns("__pycache__"))
    assert not holds(checkout, "server_app")
    assert compile_checkout(checkout, sys.executable) is None
    compiled = {(p.parent.parent.name, p.name.split(".")[0]) for p in checkout.rglob("__pycache__/*.pyc")}
    assert {("server_app", "deployments"), ("fixtures", "session"), ("uploads", "clients")} <= compiled
    loaded = subprocess.run(
        [sys.executable, "-c", "import server_app.deployments as m; print(m.__cached__)"],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(loaded).exists() and Path(loaded).is_relative_to(checkout)  # the .pyc it loads is the compiled one
    (tmp_path / "not-a-checkout").mkdir()
    assert "compileall failed" in compile_checkout(tmp_path / "not-a-checkout", sys.executable)
