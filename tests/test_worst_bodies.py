"""Worst-case multipart bodies against every multipart endpoint of every deployment: the answer the registry
says (a 200 that stored the file part exactly, or a 4xx that names the multipart problem), within a bound,
nothing left behind, and no traceback in the server's log."""

import hashlib

import pytest
import requests

from fixtures.processes.servers import watch_logs
from fixtures.uploads.bodies import CONTENT_TYPE, SHAPES, build
from server_app.deployments import DEPLOYMENTS
from server_app.receiving import MULTIPART_ENDPOINTS
from tests.conftest import ROOT, wait_until_empty, wait_until_idle
from tests.raw_http import payload
from tests.worst_bodies import EXPECTED, FILE_SIZE, TABLE_END, TABLE_START, table

ANSWER_WITHIN = 60  # a hang guard, not a measurement


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=pytest.mark.skipif(not d.available(), reason=f"pip install {d.package}"))
        for name, d in DEPLOYMENTS.items()
    ],
)
def final(request, server_factory):
    """Spawn one final hop of each deployment."""
    server = server_factory.spawn(request.param)
    yield server
    server_factory.stop(server)


@pytest.mark.parametrize("endpoint", MULTIPART_ENDPOINTS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_worst_case_body_gets_its_answer_and_leaves_nothing(request, final, shape, endpoint):
    watch_logs(request.node, [final])
    logged = final.log_size()
    body = build(shape, payload(FILE_SIZE))
    # Connection: close, or waitress keeps the connection open, and it would count as a request in progress
    answer = requests.post(
        f"{final.url}/upload/{endpoint}",
        data=body.content,
        headers={"Content-Type": CONTENT_TYPE, "Connection": "close"},
        timeout=ANSWER_WITHIN,
    )
    assert answer.status_code == EXPECTED[(shape, endpoint)], answer.text[:300]
    if answer.status_code == 200:
        stored = final.upload_dir / answer.json()["stored_name"]
        assert hashlib.md5(stored.read_bytes()).hexdigest() == hashlib.md5(body.stored).hexdigest()
        stored.unlink()
    else:
        assert "multipart" in answer.json()["detail"]
    assert wait_until_idle(final, timeout=20) == {} and wait_until_empty(final, timeout=10) == {}
    assert "Traceback" not in final.log_text(logged), final.log_text(logged)


def test_an_unknown_shape_is_an_error_naming_it_and_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown body shape 'nested': expected one of junk-around, tiny-parts"):
        build("nested", b"x")


def test_docs_worst_bodies_table_is_the_registry():
    page = (ROOT / "docs" / "safety.md").read_text()
    assert page[page.index(TABLE_START) + len(TABLE_START) : page.index(TABLE_END)].strip() == table().strip(), (
        "docs/safety.md's worst-case bodies table is stale: regenerate it with `python -m tests.worst_bodies`"
    )
