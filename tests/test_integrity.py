"""What a mismatch says: how many bytes were lost or added, where, and the bytes around the first difference."""

import pytest

from fixtures.data.datafiles import DataFiles
from fixtures.data.integrity import IntegrityError, difference, verify_file

SENT = bytes(range(32, 127)) * 3 + b"end\r"


@pytest.mark.parametrize(
    "stored, said",
    [
        pytest.param(SENT[:-1], "1 byte lost at the end (sent …", id="lost-at-end"),
        pytest.param(SENT[2:], "2 bytes lost at the start", id="lost-at-start"),
        pytest.param(SENT[:100] + SENT[103:], "3 bytes lost inside, at offset 100", id="lost-inside"),
        pytest.param(b"\r\n" + SENT, "2 bytes added at the start", id="added-at-start"),
        pytest.param(SENT + b"\r", "1 byte added at the end", id="added-at-end"),
        pytest.param(SENT[:50] + b"X" + SENT[51:], "bytes changed from offset 50", id="changed"),
        pytest.param(SENT[:50] + b"XY", "differs from offset 50 on", id="differs"),
    ],
)
def test_the_difference_says_what_was_lost_or_added_and_where(tmp_path, stored, said):
    sent_path, stored_path = tmp_path / "sent", tmp_path / "stored"
    sent_path.write_bytes(SENT)
    stored_path.write_bytes(stored)
    assert difference(sent_path, stored_path).startswith(said)


def test_a_lost_cr_at_the_end_shows_the_bytes_around_it(tmp_path):
    sent_path, stored_path = tmp_path / "sent", tmp_path / "stored"
    sent_path.write_bytes(SENT)
    stored_path.write_bytes(SENT[:-1])
    assert difference(sent_path, stored_path) == "1 byte lost at the end (sent …z{|}~end\\x0d, stored …z{|}~end)"


def test_a_short_stored_file_fails_with_the_difference_and_is_deleted(tmp_path):
    datafile = DataFiles(tmp_path / "data").get(1 << 10, "ends-cr")
    stored = tmp_path / "stored"
    stored.write_bytes(datafile.path.read_bytes()[:-1])
    with pytest.raises(IntegrityError) as failed:
        verify_file(stored, datafile, reported=(1 << 10) - 1)
    assert str(failed.value).startswith("ends-cr 1KB: sent 1024 bytes, stored 1023, server reported 1023: 1 byte lost")
    assert not stored.exists()


def test_a_whole_file_passes(tmp_path):
    datafile = DataFiles(tmp_path / "data").get(1 << 10, "crlf-text")
    stored = tmp_path / "stored"
    stored.write_bytes(datafile.path.read_bytes())
    assert verify_file(stored, datafile, reported=1 << 10) == 1 << 10
    assert not stored.exists()


def test_a_stored_file_is_deleted_the_way_its_chain_says_whether_whole_or_not(tmp_path):
    datafile = DataFiles(tmp_path / "data").get(1 << 10, "crlf-text")
    deleted = []

    def delete(path):
        deleted.append(path.name)
        path.unlink()

    whole, short = tmp_path / "whole", tmp_path / "short"
    whole.write_bytes(datafile.path.read_bytes())
    short.write_bytes(datafile.path.read_bytes()[:-1])
    assert verify_file(whole, datafile, delete=delete) == 1 << 10
    with pytest.raises(IntegrityError):
        verify_file(short, datafile, delete=delete)
    assert deleted == ["whole", "short"] and not whole.exists() and not short.exists()
