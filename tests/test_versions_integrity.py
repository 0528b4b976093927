"""The integrity matrix per release: cell ids parsed, failures classified, and the table of two real releases."""

import re
import subprocess
import sys

import pytest

from fixtures.versions.integrity import PACKAGES, corrupted, outcome, parse_cell
from tests.conftest import ROOT

WERKZEUG = PACKAGES["werkzeug"]


def test_a_cell_id_names_its_method_split_content_and_size_or_swept_body_length():
    assert parse_cell("request.files-multipartencoder-split-delimiters-ends-crlf-werkzeug-1hop-256KB", WERKZEUG) == {
        "method": "request.files-multipartencoder",
        "split": "delimiters",
        "content": "ends-crlf",
        "size": "256KB",
        "sweep": False,
    }
    cell = parse_cell("request.files-werkzeug-to-gunicorn-2hops-body64KB-3", WERKZEUG)
    assert (cell["method"], cell["split"], cell["content"], cell["size"], cell["sweep"]) == (
        "request.files",
        "library",
        "random",
        "body64KB-3",
        True,
    )


def test_a_mismatch_is_bytes_lost_or_added_and_anything_else_an_error_as_it_came():
    lost = (
        "request.files: ends-cr 256KB: sent 262144 bytes, stored 262143, server reported 262143: 1 byte lost at the end"
    )
    added = "request.files: 65388B: sent 65388 bytes, stored 65391, server reported 65391: 3 bytes added at the start"
    changed = "md5 mismatch for request.files: zeros 256KB: sent a, stored b: bytes changed from offset 7 (sent …)"
    error = "request.files failed for 0B: HTTP 500 from the server; peak RSS reached: client unknown, server unknown"
    assert [outcome(m) for m in (lost, added, changed)] == ["1 byte lost", "3 bytes added", "bytes changed"]
    assert all(corrupted(m) for m in (lost, added, changed))
    assert outcome(error) == "HTTP 500 from the server" and not corrupted(error)


@pytest.mark.slow
def test_the_table_of_two_werkzeug_releases_shows_the_lost_cr_and_the_cr_added_at_64KB_plus_3(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fixtures.versions",
            "integrity",
            "werkzeug",
            "3.1.4",
            "3.1.9",
            "--sizes=256KB,sweep:64KB±4",
            "--contents=random,ends-cr",
            "--splits=library",
            f"--output-dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]  # corruption is an outcome
    table = (tmp_path / "integrity.md").read_text()
    assert table in result.stdout
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in table.splitlines()
        if line.startswith("| ")
    }
    header = rows["werkzeug"]
    old, new = (dict(zip(header, rows[version], strict=True)) for version in ("3.1.4", "3.1.9"))
    assert re.fullmatch(r"1 byte lost\[\^\d+\]", old["ends-cr"]) and old["random"] == "whole"
    assert new["ends-cr"] == "whole" and new["random"] == "whole"
    sweep = header[-1]
    assert old[sweep] == "whole (9 lengths)"
    assert re.fullmatch(r"1 byte added at body64KB\+3\[\^(\d+)\]", new[sweep])
    note = re.search(r"^\[\^\d+\]: werkzeug 3\.1\.9, `request\.files-werkzeug-1hop-body64KB\+3`.*$", table, re.M)
    assert note and "1 byte added at the end" in note[0] and "--upload-sizes=sweep:64KB±3" in note[0]
