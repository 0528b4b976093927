"""The matrix (chains, cells, the rate book), the terminal table, and the client process's memory cap."""

import argparse

import pytest

from fixtures.data import skips
from fixtures.data.datafiles import DataFile, file_name
from fixtures.data.sizes import parse_sweep
from fixtures.option_values import Rounds, bodies_list, containers_list
from fixtures.options import UploadOptions
from fixtures.processes.client_process import ClientProcess
from fixtures.processes.containers import MODES
from fixtures.run.limits import BEATEN, WITHIN_NOISE
from fixtures.run.matrix import MARGIN, Cell, RateBook, cells, chains_for
from fixtures.run.outcome import Tally
from fixtures.run.record import Record
from fixtures.run.summary import Finished, fraction_text, interval_text, write_table
from fixtures.uploads.bodies import PLAIN, SHAPES
from fixtures.uploads.clients import UploadFailed
from fixtures.uploads.framing import framing_of
from fixtures.uploads.methods import METHODS
from tests.conftest import one_cell_options, refusal

MiB = 1 << 20
INFO = (DataFile(None, MiB, "0" * 32), None)  # a data file and no client memory cap, for Cell.extra_info


def options(**changes):
    settings = dict(
        sizes=[MiB, 16 * MiB],
        methods=["request.stream-chunked", "request.files"],
        deployments=["werkzeug", "gunicorn", "uwsgi"],
        hops=[1, 2],
        rounds=Rounds(),
        cell_time=0.2,
        timeout=None,
        data_dir=None,
        contents=("random",),
    )
    settings.update(changes)
    return UploadOptions(**settings)


def test_chains_are_each_deployment_per_hop_count_then_werkzeug_in_front_of_each_other():
    assert chains_for(options()) == [
        ("werkzeug",),
        ("gunicorn",),
        ("uwsgi",),
        ("werkzeug", "werkzeug"),
        ("gunicorn", "gunicorn"),
        ("uwsgi", "uwsgi"),
        ("werkzeug", "gunicorn"),
        ("werkzeug", "uwsgi"),
    ]
    assert chains_for(options(hops=[1])) == [("werkzeug",), ("gunicorn",), ("uwsgi",)]
    assert ("werkzeug", "gunicorn") not in chains_for(options(deployments=["gunicorn", "uwsgi"]))


def test_cells_run_smallest_size_first_and_read_like_rows_of_the_seed_table():
    matrix = cells(options())
    assert len(matrix) == 2 * 8 * 2
    assert [c.size for c in matrix] == sorted(c.size for c in matrix)
    ids = [c.id for c in matrix]
    assert "request.stream-chunked-werkzeug-1hop-1MB" in ids
    assert "request.files-werkzeug-to-uwsgi-2hops-16MB" in ids
    assert len(set(ids)) == len(ids)


def test_auto_contents_put_every_shape_at_the_smallest_size_through_every_chain_and_no_empty_raw_body():
    matrix = cells(options(contents=("auto",)))
    shaped = [c for c in matrix if c.content != "random"]
    assert {c.size for c in shaped} == {0, 1, MiB}
    assert {(c.method.id, c.deployments) for c in shaped if c.content == "ends-cr"} == {
        (c.method.id, c.deployments) for c in matrix if c.content == "random" and c.size == MiB
    }
    assert {c.method.id for c in shaped if c.content == "empty"} == {"request.files"}  # a raw body of 0 is refused
    assert "request.files-ends-cr-werkzeug-to-uwsgi-2hops-1MB" in [c.id for c in shaped]
    assert [c.size for c in matrix] == sorted(c.size for c in matrix)
    assert {c.content for c in cells(options(contents=("auto",), against="HEAD"))} == {"random"}


@pytest.mark.parametrize(
    "changes, tag",
    [
        pytest.param({"concurrency": (1, 4)}, "-x4", id="uploads-at-once"),
        pytest.param({"slow_clients": (0, 8)}, "-slow8", id="slow-senders"),
        pytest.param({"containers": ("none", "podman-host-overlay")}, "-in-podman-host-overlay", id="containers"),
        pytest.param({"contents": ("random", "ends-cr")}, "-ends-cr", id="contents"),
    ],
)
def test_a_dimension_multiplies_the_cells_and_marks_their_ids_leaving_the_first_as_it_was(upload_options, changes, tag):
    options = one_cell_options(upload_options, **changes)
    ids = [c.id for c in cells(options)]
    assert ids[0] == "request.stream-chunked-werkzeug-1hop-1MB" and len(ids) == 2
    assert tag in ids[1] and ids[1].replace(tag, "") == ids[0]


def test_a_container_holds_the_final_hop_of_chains_without_a_front_or_link_and_says_how_it_runs():
    matrix = cells(options(sizes=[MiB], containers=containers_list("none,podman"), fronts=("none", "nginx")))
    contained = [c for c in matrix if c.container != "none"]
    assert {c.container for c in contained} == set(MODES) and {c.front for c in contained} == {"none"}
    by_id = {c.id: c for c in contained}
    cell = by_id["request.files-werkzeug-to-gunicorn-in-podman-bridge-volume-2hops-1MB"]
    assert cell.deployment == "werkzeug>gunicorn@podman-bridge-volume"
    assert "request.files-uwsgi-in-podman-host-overlay-1hop-1MB" in by_id
    bare = [c for c in matrix if c.container == "none"]
    assert len(contained) == len(MODES) * len([c for c in bare if c.front == "none"])
    described = {"engine": "podman", "network": "host", "storage": "overlay"}
    assert cell.extra_info(*INFO, container=described)["container"] == described
    assert bare[0].extra_info(*INFO)["container"] is None


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("podman", tuple(MODES), id="podman-is-its-four-modes"),
        pytest.param("podman-host-volume,none", ("none", "podman-host-volume"), id="in-their-order"),
        pytest.param("docker", "'docker'", id="unknown"),
        pytest.param("podman-bridge", "'podman-bridge'", id="half-a-mode"),
    ],
)
def test_the_containers_option_names_modes_or_the_bad_value_and_what_is_allowed(value, expected):
    if isinstance(expected, tuple):
        assert containers_list(value) == expected
        return
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        containers_list(value)
    assert expected in str(caught.value) and "podman-bridge-overlay" in str(caught.value)


@pytest.mark.parametrize(
    "option, expected",
    [
        ("--upload-concurrency=1,0", "'0' is invalid: expected a whole number from 1 to 64"),
        ("--upload-slow-clients=0,65", "'65' is invalid: expected a whole number from 0 to 64"),
        ("--upload-bodies=plain,nested", "unknown body 'nested'; choose from plain, worst, junk-around, tiny-parts"),
    ],
)
def test_a_bad_number_of_a_dimension_is_a_usage_error_naming_it(option, expected):
    assert expected in refusal(option)


def test_worst_case_bodies_go_to_each_multipart_endpoint_reached_through_one_server_alone():
    matrix = cells(options(sizes=[MiB], bodies=bodies_list("plain,cr-storm")))
    worst = [c for c in matrix if c.method.body != PLAIN]
    assert [c.id for c in worst] == [f"request.files-cr-storm-{d}-1hop-1MB" for d in ("werkzeug", "gunicorn", "uwsgi")]
    assert len(matrix) - len(worst) == len(cells(options(sizes=[MiB])))  # the plain cells as they were
    assert {c.method.endpoint for c in worst} == {"files"} and worst[0].extra_info(*INFO)["body"] == "cr-storm"
    only = cells(options(sizes=[MiB], methods=["streaming-form-data-multipartencoder"], bodies=bodies_list("worst")))
    assert [c.method.id for c in only[: len(SHAPES)]] == [f"streaming-form-data-{shape}" for shape in SHAPES]
    assert not cells(options(methods=["request.stream-chunked"], bodies=bodies_list("worst")))  # no multipart endpoint
    assert bodies_list("cr-storm,plain,worst") == ("plain", *SHAPES)


def test_the_rate_book_skips_a_size_its_smaller_rate_cannot_fit():
    budget = {MiB: 10.0, 16 * MiB: 10.0, 64 * MiB: 10.0}
    book = RateBook(budget.get)
    method = METHODS["request.stream-writelines"]
    small, large = Cell(method, ("werkzeug",), MiB), Cell(method, ("werkzeug",), 16 * MiB)
    assert book.skip_reason(large) is None  # nothing measured yet
    book.record(small, MiB, 1.0)  # 1 MB/s: 16MB would take 16 s, over the 10 s budget
    reason = book.skip_reason(large)
    assert "ran at 1.00 MB/s for 1MB, which predicts 16 s for 16MB" in reason
    assert skips.code_of(reason) == skips.OVER_BUDGET.code
    assert book.skip_reason(Cell(method, ("gunicorn",), 16 * MiB)) is None  # another chain is its own
    book.record(Cell(method, ("gunicorn",), MiB), MiB, 10 / MARGIN / 16 * 0.99)  # fits with the margin
    assert book.skip_reason(Cell(method, ("gunicorn",), 16 * MiB)) is None


def test_the_table_shows_the_interval_as_rates_and_marks_a_fraction_above_the_limit():
    info = {"bytes": 16 * MiB, "median_ci_low": 0.1, "median_ci_high": 0.2}
    assert interval_text(Record(info)) == "80-160"
    assert interval_text(Record({"bytes": MiB})) == "-"
    assert interval_text(Record({**info, "concurrency": 4})) == "320-640"  # four uploads at once: the batch's rate
    assert fraction_text(Record({"fraction_of_socket_limit": 0.5})) == "0.50"
    assert fraction_text(Record({"fraction_of_socket_limit": 1.02, "limit_check": WITHIN_NOISE})) == "1.02~"
    assert fraction_text(Record({"fraction_of_socket_limit": 1.5, "limit_check": BEATEN})) == "1.50!"
    assert fraction_text(Record({})) == "-"


@pytest.mark.slow
def test_the_memory_cap_turns_files_into_a_memory_error_of_the_client(final, data_files):
    datafile = data_files.get(64 * MiB)
    client = ClientProcess(memory_limit=150 * MiB)  # files= builds the body in memory: about 2x the file
    try:
        client.run("request.files", METHODS["request.files"].url(final.url), datafile.path, datafile.size, 60)
        with pytest.raises(UploadFailed, match=r"MemoryError in the client \(memory cap 157286400 bytes\)"):
            client.answer()
        client.run(
            "request.stream-chunked", METHODS["request.stream-chunked"].url(final.url), datafile.path, datafile.size, 60
        )
        answer = client.answer()  # the same process goes on: a streamed upload fits under the cap
        assert answer["bytes"] == datafile.size
        (final.upload_dir / answer["stored_name"]).unlink()
    finally:
        client.close()
    assert not client.alive


def test_every_skip_reason_carries_a_code_that_a_report_groups_by():
    assert len({skip.mark for skip in skips.SKIPS.values()}) == len(skips.SKIPS)  # a mark tells its code apart
    for skip in skips.SKIPS.values():
        reason = skip.reason("why, and how to get the cell")
        assert skips.code_of(reason) == skip.code and skips.code_of("Skipped: " + reason) == skip.code
        assert skips.mark_of(skips.code_of(reason)) == skip.mark
    assert skips.code_of("a reason saved before the codes") is None
    assert skips.mark_of(None) == skips.UNKNOWN_MARK


def test_a_sweep_sizes_each_methods_file_to_its_body_length_and_names_that_length():
    swept = cells(options(sizes=[], sweep=tuple(parse_sweep("sweep:64KB±1")), deployments=["werkzeug"], hops=[1]))
    ids = [c.id for c in swept]
    assert ids[:2] == ["request.stream-chunked-werkzeug-1hop-body64KB-1", "request.files-werkzeug-1hop-body64KB-1"]
    for cell in swept:
        center, offset = cell.sweep
        assert framing_of(cell.method.framing, file_name(cell.size)).length(cell.size) == center + offset
        assert cell.integrity_only
    assert {c.size for c in swept if c.method.id == "request.stream-chunked"} == {65535, 65536, 65537}


def test_splits_cut_requests_bodies_only_and_mark_their_ids():
    matrix = cells(options(splits=("library", "delimiters"), clients=("requests", "httpx"), hops=[1], sizes=[MiB]))
    split = [c for c in matrix if c.method.split == "delimiters"]
    assert split and all(c.method.library == "requests" and c.integrity_only for c in split)
    assert "request.files-split-delimiters-uwsgi-1hop-1MB" in [c.id for c in split]
    assert not any(c.integrity_only for c in matrix if c.method.split == "library")


class Lines:
    """The part of pytest's terminal reporter the summary writes to."""

    def __init__(self):
        self.lines = []

    def section(self, title):
        self.lines.append(f"== {title}")

    def line(self, text, **markup):
        self.lines.append(text)


def test_the_terminal_summary_reads_records_and_totals_not_the_session():
    info = {"bytes": 16 * MiB, "concurrency": 4, "median_s": 0.15, "median_ci_low": 0.1, "median_ci_high": 0.2}
    info["throughput_MBps"] = Record(info).rate()
    over = {"test": "t.py::test_upload[request.form-werkzeug-1hop-16MB]", "reason": "went over"}
    tally = Tally(bytes_sent=64 * MiB, bytes_received=64 * MiB, md5_checked=4, refused=2)
    out = Lines()
    write_table(out, Finished({"t.py::test_upload[x-16MB]": (5, Record(info))}, tally, [], [over]))
    (row,) = [line for line in out.lines if line.startswith("x-16MB")]
    assert row.split()[1:4] == ["426.7", "320-640", "5"]  # four uploads at once: the rate and its interval agree
    assert "md5 checked: 4, mismatches: 0; bytes sent 67,108,864, stored 67,108,864; " in "\n".join(out.lines)
    assert "worst-case bodies refused as expected: 2" in "\n".join(out.lines)
    assert any("request.form-werkzeug-1hop-16MB: went over" in line for line in out.lines)
