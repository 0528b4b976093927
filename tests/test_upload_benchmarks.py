"""The benchmark matrix: every cell uploads a real file over a real socket and checks its md5.

test_baseline runs first (pytest keeps definition order), so every method's cell can be
expressed as a fraction of the socket limit measured for the same size in the same run.
"""

import statistics
from importlib import metadata
from pathlib import Path

import pytest

from fixtures.baselines import copy_file, receiver_ready, send_file
from fixtures.client_process import ClientProcess
from fixtures.clients import UploadFailed, UploadTimedOut
from fixtures.datafiles import md5_of
from fixtures.integrity import IntegrityError, remove_leftovers, verify_and_delete, wait_for_no_leftovers
from fixtures.measure import ServerMeter, own_peak_rss
from fixtures.profiles import ProfileMissing, profile_upload
from fixtures.results import record_cell
from fixtures.servers import ServerStartError, watch_logs
from server_app.deployments import DEPLOYMENTS

MiB = 1 << 20
VERSIONS = {f"{pkg}_version": metadata.version(pkg) for pkg in ("flask", "werkzeug", "requests")}


def _rss(value):
    return f"{value / MiB:,.0f} MiB" if value else "unknown"


def _summarize(info, states):
    servers = [s["server"] for s in states if s.get("server")]
    clients = [s["client_peak_rss"] for s in states if s.get("client_peak_rss")]
    info["server_peak_rss"] = max((s["server_peak_rss"] or 0 for s in servers), default=None) or None
    info["server_peak_rss_by_hop"] = [
        max((s["hops"][i]["peak_rss"] or 0) for s in servers) for i in range(len(servers[0]["hops"]))
    ] if servers else []
    info["server_cpu_s"] = statistics.median(s["server_cpu_s"] for s in servers) if servers else None
    info["tmp_bytes"] = max((s["tmp_bytes"] for s in servers), default=None)
    info["client_peak_rss"] = max(clients, default=None)


def _throughput(benchmark, info, results, size):
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable
        info["fraction_of_socket_limit"] = None
        return None
    median = stats.stats.median
    rate = size / median
    info["median_s"] = median
    info["throughput_MBps"] = rate / MiB
    info["fraction_of_socket_limit"] = results.fraction_of_socket_limit(size, rate)
    return rate


@pytest.fixture(scope="session")
def socket_receiver(server_factory):
    """Spawn the receiver of the raw socket baseline."""
    receiver = server_factory.spawn("socket", module="fixtures.baselines", ready=lambda s: receiver_ready(s.port))
    yield receiver
    server_factory.stop(receiver)


def test_baseline(benchmark, request, baseline, data_files, socket_receiver, server_factory, upload_options,
                  results):
    kind, size = baseline
    datafile = data_files.get(size)
    target_dir = Path(socket_receiver.upload_dir)
    watch_logs(request.node, [socket_receiver])
    info = benchmark.extra_info
    info.update(bytes=size, size=datafile.label, method=kind, client="-", deployment="-", hops=0,
                md5=datafile.md5, **VERSIONS)
    record_cell(request.node, info)
    benchmark.group = datafile.label
    states = []

    def setup():
        state = {"meter": ServerMeter([socket_receiver] if kind == "socket" else []).start(),
                 "own": own_peak_rss()}
        states.append(state)
        return (state,), {}

    def transfer(state):
        if kind == "disk":
            state["stored"] = copy_file(datafile.path, target_dir)
            return
        try:
            answer = send_file(socket_receiver.port, datafile.path, upload_options.budget(size))
        except (OSError, ValueError) as exc:
            pytest.fail(f"socket baseline failed for {datafile.label}: {type(exc).__name__}: {exc}", pytrace=False)
        state["stored"] = target_dir / answer["stored_name"]

    def verify(state):
        if "server" not in state:
            state["server"] = state["meter"].stop(size if "stored" in state else 0)
            state["client_peak_rss"] = state["own"].stop()
        stored = state.pop("stored", None)
        if stored is not None:
            try:
                assert stored.stat().st_size == size and md5_of(stored) == datafile.md5, f"{kind}: md5 mismatch"
                state["verified"] = True
            finally:
                stored.unlink(missing_ok=True)

    try:
        benchmark.pedantic(transfer, setup=setup, teardown=verify, rounds=upload_options.rounds)
    finally:
        for state in states:
            verify(state)
    assert states and all(s.get("verified") for s in states)
    info["md5_verified"] = len(states)
    _summarize(info, states)
    if kind == "disk":
        info["server_peak_rss"] = info["server_cpu_s"] = info["tmp_bytes"] = None
    rate = _throughput(benchmark, info, results, size)
    if kind == "socket" and rate:
        results.socket_rate[size] = rate
        info["fraction_of_socket_limit"] = 1.0


def test_upload(benchmark, request, cell, data_files, chains, upload_options, rate_book, results):
    for name in dict.fromkeys(cell.deployments):
        if not DEPLOYMENTS[name].available():
            pytest.skip(f"deployment {name} needs the package {DEPLOYMENTS[name].package}, which is not installed")
    reason = cell.method.skip_reason(cell.deployments) or rate_book.skip_reason(cell)
    if reason:
        pytest.skip(reason)
    datafile = data_files.get(cell.size)
    try:
        chain = chains.get(cell.deployments)
    except ServerStartError as exc:
        pytest.fail(f"the servers of {cell.deployment} did not start: {exc}", pytrace=False)
    watch_logs(request.node, chain.servers)
    url = cell.method.url(chain.url)
    budget = upload_options.budget(cell.size)

    benchmark.group = datafile.label
    info = benchmark.extra_info
    info.update(
        bytes=datafile.size,
        size=datafile.label,
        method=cell.method.name,
        client=cell.method.client,
        deployment=cell.deployment,
        hops=cell.hops,
        md5=datafile.md5,
        deployment_versions={name: DEPLOYMENTS[name].version() for name in cell.deployments},
        deployment_settings={name: DEPLOYMENTS[name].settings for name in cell.deployments},
        client_memory_limit=upload_options.client_memory_limit,
        **VERSIONS,
    )
    record_cell(request.node, info)
    states = []
    client = None

    def setup():
        state = {"meter": ServerMeter(chain.servers).start()}
        states.append(state)
        return (state,), {}

    def upload(state):
        client.run()
        state["client_peak_rss"] = client.peak_rss
        state["answer"] = client.answer()

    def verify(state):
        if "server" not in state:
            state["server"] = state["meter"].stop(datafile.size if "answer" in state else 0)
        if "answer" in state and "checked" not in state:
            state["checked"] = True
            results.bytes_sent += datafile.size
            results.bytes_received += state["answer"].get("bytes") or 0
            try:
                state["verified"] = verify_and_delete(state["answer"], chain, datafile)
            except IntegrityError:
                results.md5_mismatches += 1
                raise
            finally:
                results.md5_checked += 1

    failure = None
    try:
        client = ClientProcess(cell.method.id, url, datafile.path, datafile.size, budget,
                               upload_options.client_memory_limit)
        benchmark.pedantic(upload, setup=setup, teardown=verify, rounds=upload_options.rounds)
    except UploadTimedOut as exc:
        rate_book.record(cell, exc.sent, exc.elapsed)
        failure = (
            f"{cell.method.name} exceeded {budget:.0f} s for {datafile.label} "
            f"({exc.rate / MiB:.1f} MB/s so far)"
        )
    except UploadFailed as exc:
        failure = f"{cell.method.name} failed for {datafile.label}: {exc}"
        dead = [f"{s.name} (pid {s.pid})" for s in chain.servers if not s.is_serving()]
        if dead:
            failure += f"; server {', '.join(dead)} is not running any more"
    finally:
        if client:
            client.close()
        integrity = None
        for state in states:  # --benchmark-disable skips teardown, and so may a failure
            try:
                verify(state)
            except IntegrityError as exc:
                integrity = integrity or exc
        left = wait_for_no_leftovers(chain, timeout=max(budget, 60))
        remove_leftovers(chain)  # so that the next cell starts clean whatever happened here
        _summarize(info, states)
    if integrity and failure is None:
        raise integrity
    if failure:
        failure += (f"; peak RSS reached: client {_rss(info['client_peak_rss'])}, "
                    f"server {_rss(info['server_peak_rss'])}")
        if left:
            failure += f"; the servers left {len(left)} file(s) of the abandoned upload, now deleted: {left}"
        pytest.fail(failure, pytrace=False)
    assert left == [], "files left in the upload dirs after the rounds"
    assert states and all("verified" in state for state in states), "an upload was not verified"

    info["md5_verified"] = len(states)
    answer = states[0]["answer"]
    info["stream_type"] = answer.get("stream_type")
    info["relay_stream_types"] = [hop.get("stream_type") for hop in answer.get("via", [])]
    if _throughput(benchmark, info, results, datafile.size):
        rate_book.record(cell, datafile.size, info["median_s"])
    if upload_options.profile:  # one more upload, outside the timed rounds, profiled on every hop
        try:
            paths = profile_upload(cell.method, chain, datafile, budget, upload_options.profile_dir / cell.id)
        except (UploadTimedOut, UploadFailed, ProfileMissing) as exc:
            info["profile_error"] = str(exc)
            wait_for_no_leftovers(chain, timeout=60)
        else:
            info["profiles"] = [str(p) for p in paths]
