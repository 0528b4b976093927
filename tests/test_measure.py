"""The measurements measure: a deliberate 100 MB allocation shows in the server's peak RSS, a stream does not."""

import pytest
import requests

from fixtures.data.integrity import leftovers
from fixtures.data.sizes import MiB
from fixtures.processes.chains import Chain
from fixtures.processes.measure import ServerMeter
from fixtures.uploads.clients import send_data


@pytest.fixture(scope="module")
def server(server_factory):
    """Spawn a final hop with the test-only allocation endpoint."""
    server = server_factory.spawn(extra_args=["--test-endpoints"])
    yield server
    server_factory.stop(server)


def test_a_100mb_allocation_raises_the_peak_by_at_least_100mb(server):
    # 110 MiB, because the allocator reuses a few MiB that were already resident before the request.
    meter = ServerMeter([server]).start()
    response = requests.post(f"{server.url}/test/allocate", params={"mb": 110}, timeout=60)
    assert response.json()["allocated"] == 110 * MiB
    measured = meter.stop()["hops"][0]
    assert measured["peak_growth"] >= 100 * MiB
    assert measured["peak_rss"] >= 100 * MiB


def test_a_streamed_100mb_upload_raises_the_peak_far_less(server, data_files):
    datafile = data_files.get(100 * MiB)
    meter = ServerMeter([server]).start()
    answer = send_data(f"{server.url}/upload/stream-chunked", datafile.path, datafile.size, 120)
    measured = meter.stop(stored_bytes=datafile.size)
    (server.upload_dir / answer["stored_name"]).unlink()
    assert measured["hops"][0]["peak_growth"] < 30 * MiB
    assert measured["tmp_bytes"] < 5 * MiB  # nothing written besides the upload itself
    assert leftovers(Chain([server])) == []


def test_the_allocation_endpoint_exists_only_when_asked_for(server_factory):
    plain = server_factory.spawn()
    try:
        assert requests.post(f"{plain.url}/test/allocate", params={"mb": 1}, timeout=10).status_code == 404
    finally:
        server_factory.stop(plain)
