"""Support for the suite's own tests."""

import contextlib
import http.server
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from _pytest.config import _prepareconfig
from hypothesis import settings

from fixtures.options import upload_options as checked_upload_options
from fixtures.processes.child_runs import run_child
from server_app import create_app

ROOT = Path(__file__).resolve().parent.parent

# The searched properties (tests/test_integrity_search.py): bounded and derandomized by default, as CI runs them;
# --hypothesis-profile=deep searches longer, bodies around the 64 KiB reads included, and keeps what it finds in
# .hypothesis/ (git-ignored).
settings.register_profile("ci", max_examples=20, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("deep", max_examples=300, deadline=None, print_blob=True)
settings.load_profile("ci")


# the matrix as a test runs it: every cell of the options that follow once, at 1MB
UPLOAD_CELLS = ("tests/test_upload_benchmarks.py::test_upload", "--benchmark-only")  # the matrix, no baselines
ONE_ROUND_AT_1MB = ("tests/test_upload_benchmarks.py", "--benchmark-only", "--upload-rounds=1", "--upload-sizes=1MB")
SUITE_ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
# what xprocess prints (with -s) when it starts a server of a run
STARTED = re.compile(r"process '(upload-bench-[\w-]+)' started pid=(\d+)")


def server_pids(output):
    """Return the pids of the servers a run's output says it started."""
    return [int(pid) for _, pid in STARTED.findall(output)]


def upload_args(**options) -> list:
    """Return --upload-NAME=VALUE for each keyword (underscores become hyphens), in the order given."""
    return [f"--upload-{name.replace('_', '-')}={value}" for name, value in options.items()]


def one_cell_options(upload_options, **changes):
    """Return the session's options narrowed to one cell (the chunked copy by requests, 1 MiB of random bytes,
    Werkzeug, one hop, no front, no link, no batch), with ``changes`` applied over that."""
    one = {
        "sizes": [1 << 20],
        "deployments": ["werkzeug"],
        "hops": [1],
        "fronts": ("none",),
        "methods": ["request.stream-chunked"],
        "clients": ("requests",),
        "concurrency": (1,),
        "links": ("loopback",),
        "contents": ("random",),
    }
    return replace(upload_options, **{**one, **changes})


def parsed(*args):
    """Return the upload options of a command line as a run would check them; raise pytest.UsageError as it would.

    In this process: parsing with the plugin loaded takes 0.1 s, a child that starts pytest and collects 2-9 s.
    The message is the one a run prints before it exits 4 (argparse's, or the plugin's check of a value;
    tests/test_sizes.py runs one such child to show that path end to end).
    """
    with contextlib.chdir(ROOT):  # the rootdir and its conftest, as from the checkout
        config = _prepareconfig([*args])
        try:
            return checked_upload_options(config)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        finally:
            config._ensure_unconfigure()


def refusal(*args) -> str:
    """Return what a run of this command line is refused with; fail the test if it is not refused."""
    try:
        parsed(*args)
    except pytest.UsageError as exc:
        return str(exc)
    pytest.fail(f"not refused: {' '.join(args)}")


def suite_command(workdir, data_dir, *args, basetemp=None):
    """Return the command running pytest on this project with its own cache and temp dirs under workdir."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:randomly",
        "-o",
        f"cache_dir={workdir / 'cache'}",
        f"--basetemp={basetemp or workdir / 'basetemp'}",
        f"--upload-data-dir={data_dir}",
        "--upload-contents=random",  # the shapes' own tests ask for them (a later option wins)
        *args,
    ]


def _default_sigint():
    # A shell that starts a job in the background makes it ignore SIGINT, and every child inherits
    # that: the run started here gets Ctrl-C as it would from a terminal, whoever started this one.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_suite(workdir, data_dir, *args, basetemp=None):
    """Start pytest on this project in a subprocess; its stdout and stderr come together on stdout."""
    return subprocess.Popen(
        suite_command(workdir, data_dir, *args, basetemp=basetemp),
        cwd=ROOT,
        env=SUITE_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )


@pytest.fixture
def run_suite(tmp_path, upload_options):
    """Run pytest on this project in a subprocess with its own cache and temp dirs."""

    def run(*args, timeout=600):
        # stopped by SIGTERM on a timeout or when this session is stopped, so that it removes its servers
        # (subprocess.run would SIGKILL it, and they would outlive both sessions)
        return run_child(suite_command(tmp_path, upload_options.data_dir, *args), ROOT, SUITE_ENV, True, timeout)

    return run


RUN_JSON = "run.json"  # where run_matrix has the run write its JSON, in the test's tmp_path


@pytest.fixture
def run_matrix(run_suite, tmp_path):
    """Run pytest on this project with --benchmark-json; return its result and the run's JSON (None: not written)."""

    def run(*args, timeout=600):
        path = tmp_path / RUN_JSON
        result = run_suite(*args, f"--benchmark-json={path}", timeout=timeout)
        return result, json.loads(path.read_text()) if path.is_file() else None

    return run


@pytest.fixture
def upload_dir(tmp_path):
    """Give an upload directory for an app under Flask's test client."""
    return tmp_path / "uploads"


@pytest.fixture
def client(upload_dir):
    """Give Flask's test client for a final-hop app storing into upload_dir."""
    return create_app({"UPLOAD_DIR": upload_dir, "TESTING": True}).test_client()


def start_writelines_run(tmp_path, upload_options, basetemp, hops, servers, extra=()):
    """Start a slow writelines benchmark in a pytest subprocess; return it and its output so far.

    It returns once the run has started its servers, while its first upload is under way.
    """
    proc = start_suite(
        tmp_path,
        upload_options.data_dir,
        "-s",
        *UPLOAD_CELLS,
        *upload_args(sizes="32MB", deployments="werkzeug", methods="request.stream-writelines", hops=hops, timeout=600),
        *extra,
        basetemp=basetemp,
    )
    return proc, output_until_started(proc, servers)


def output_until_started(proc, servers, timeout=60):
    """Read a run's output until it says it started this many servers, it ends, or timeout passes; return it."""
    output = ""
    deadline = time.monotonic() + timeout
    while len(server_pids(output)) < servers and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:  # the run ended
            break
        output += line
    return output


def interrupt_mid_upload(tmp_path, upload_options, signum, hops=1, servers=2, extra=(), at_signal=None):
    """Start a slow writelines run, send it ``signum`` once an upload is under way (a partial file exists), and
    wait for it to end; return its output and what ``at_signal(proc)`` returned just before the signal."""
    basetemp = tmp_path / "basetemp"
    proc, output = start_writelines_run(tmp_path, upload_options, basetemp, hops=hops, servers=servers, extra=extra)
    try:
        wait_for(lambda: list(basetemp.rglob(".upload-*.partial")), "an upload under way")
        seen = at_signal(proc) if at_signal else None
    except BaseException:
        proc.kill()  # its session's servers die with it (they are told to when their parent dies)
        proc.communicate()
        raise
    proc.send_signal(signum)
    output += proc.communicate(timeout=120)[0]
    return output, seen


def wait_for(condition, what, timeout=60, every=0.1):
    """Return condition()'s first true value, polled every ``every`` s; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(every)
    return value


def alive(pids):
    """Return the pids that still belong to a running (not zombie) process."""
    living = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.append(pid)
        except psutil.NoSuchProcess:
            pass
    return living


@pytest.fixture
def slow_sink():
    """A loopback TCP server that reads whatever it is sent at about 1.6 MB/s, never answers, and stops by itself."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)
    stop = threading.Event()

    def sink():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(1)
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    if not conn.recv(16 << 10):
                        return
                except TimeoutError:
                    continue
                except OSError:
                    return
                time.sleep(0.01)

    thread = threading.Thread(target=sink, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/upload/x"
    stop.set()
    listener.close()
    thread.join(30)


@pytest.fixture
def not_server_app():
    """Serve plain HTTP that is not server_app (404 for everything) on a free port; give its URL."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


# Module-scoped live servers: a test module that asks for final or relay gets its own pair, started once
# and stopped when the module is done.
@pytest.fixture(scope="module")
def final(server_factory):
    """Spawn a final-hop server (Werkzeug)."""
    server = server_factory.spawn()
    yield server
    server_factory.stop(server)


@pytest.fixture(scope="module")
def relay(server_factory, final):
    """Spawn a relay whose next hop is the final server."""
    server = server_factory.spawn(next_hop=final.url)
    yield server
    server_factory.stop(server)


def files_in(server):
    """Every file in a server's upload dir (a path, or anything with an upload_dir), hidden partial files included."""
    return sorted(p.name for p in Path(getattr(server, "upload_dir", server)).iterdir())


def wait_until_empty(*servers, timeout=30):
    """Wait until the servers' upload dirs are empty (an aborted upload's partial file goes a little
    later); return what is left, by server name."""
    deadline = time.monotonic() + timeout
    while any(files_in(s) for s in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {s.name: files_in(s) for s in servers if files_in(s)}


def busy(*servers) -> dict:
    """Return, by server name, how many client connections its processes hold (requests in progress)."""
    names = {s.port: s.name for s in servers}
    counts = {}
    # One system-wide read of the connection tables; the server side of a connection has the server's port
    # as its local one, and a process (a closed one waiting out TIME_WAIT has none).
    for connection in psutil.net_connections(kind="tcp"):
        port = connection.laddr.port if connection.laddr else None
        if port in names and connection.pid is not None and connection.status != psutil.CONN_LISTEN:
            counts[names[port]] = counts.get(names[port], 0) + 1
    return counts


def wait_until_idle(*servers, timeout=30):
    """Wait until no server holds a client connection (every request done); return those still busy, by name."""
    deadline = time.monotonic() + timeout
    while busy(*servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    return busy(*servers)


def noisy(n, seed, spread=0.1):
    """Return n round times around 0.05 s that drift together by up to ±spread (the machine's moments)."""
    rng = random.Random(seed)
    return [0.05 * math.exp(rng.uniform(-spread, spread)) for _ in range(n)]
