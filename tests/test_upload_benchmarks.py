"""The benchmark matrix: every cell uploads a real file over a real socket and checks its md5."""

from importlib import metadata

import pytest

from fixtures.clients import UploadFailed, UploadTimedOut
from fixtures.integrity import verify_and_delete, wait_for_no_leftovers
from fixtures.servers import watch_logs
from server_app.deployments import DEPLOYMENTS

MiB = 1 << 20
VERSIONS = {f"{pkg}_version": metadata.version(pkg) for pkg in ("flask", "werkzeug", "requests")}


def test_upload(benchmark, request, cell, data_files, chains, upload_options, rate_book):
    for name in dict.fromkeys(cell.deployments):
        if not DEPLOYMENTS[name].available():
            pytest.skip(f"deployment {name} needs the package {DEPLOYMENTS[name].package}, which is not installed")
    method_skip = getattr(cell.method, "skip_reason", None)
    reason = (method_skip and method_skip(cell.deployments)) or rate_book.skip_reason(cell)
    if reason:
        pytest.skip(reason)
    datafile = data_files.get(cell.size)
    chain = chains.get(cell.deployments)
    watch_logs(request.node, chain.servers)
    url = cell.method.url(chain.url)
    budget = upload_options.timeout

    benchmark.group = datafile.label
    benchmark.extra_info.update(
        bytes=datafile.size,
        size=datafile.label,
        method=cell.method.name,
        client=cell.method.client,
        deployment=cell.deployment,
        hops=cell.hops,
        md5=datafile.md5,
        deployment_versions={name: DEPLOYMENTS[name].version() for name in cell.deployments},
        deployment_settings={name: DEPLOYMENTS[name].settings for name in cell.deployments},
        **VERSIONS,
    )

    rounds = []

    def setup():
        state = {}
        rounds.append(state)
        return (state,), {}

    def upload(state):
        state["answer"] = cell.method.send(url, datafile.path, datafile.size, budget)

    def verify(state):
        if "answer" in state and "verified" not in state:
            state["verified"] = verify_and_delete(state["answer"], chain, datafile)

    failure = None
    try:
        benchmark.pedantic(upload, setup=setup, teardown=verify, rounds=upload_options.rounds)
    except UploadTimedOut as exc:
        rate_book.record(cell, exc.sent, exc.elapsed)
        failure = (
            f"{cell.method.name} exceeded {budget:g} s for {datafile.label} "
            f"({exc.rate / MiB:.1f} MB/s so far)"
        )
    except UploadFailed as exc:
        failure = f"{cell.method.name} failed for {datafile.label}: {exc}"
        dead = [f"{s.name} (pid {s.pid})" for s in chain.servers if not s.is_serving()]
        if dead:
            failure += f"; server {', '.join(dead)} is not running any more"
    finally:
        for state in rounds:  # --benchmark-disable skips teardown, and so may a failure
            verify(state)
        left = wait_for_no_leftovers(chain, timeout=max(budget, 60))
    if failure:
        pytest.fail(failure + (f"; files left behind: {left}" if left else ""), pytrace=False)
    assert left == [], "files left in the upload dirs after the rounds"
    assert rounds and all("verified" in state for state in rounds), "an upload was not verified"

    benchmark.extra_info["md5_verified"] = len(rounds)
    answer = rounds[0]["answer"]
    benchmark.extra_info["stream_type"] = answer.get("stream_type")
    benchmark.extra_info["relay_stream_types"] = [hop.get("stream_type") for hop in answer.get("via", [])]
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        median = stats.stats.median
        rate_book.record(cell, datafile.size, median)
        benchmark.extra_info["median_s"] = median
        benchmark.extra_info["throughput_MBps"] = datafile.size / median / MiB
