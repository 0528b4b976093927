"""File contents: each shape holds its bytes where a parser reads them, the same for the same seed."""

import hashlib

import pytest

from fixtures.data.contents import (
    AUTO,
    CONTENTS,
    NEAR_DELIMITER,
    RANDOM,
    SHAPES,
    WINDOW,
    WINDOW_EVERY,
    contents_for,
)
from fixtures.data.datafiles import DataFiles

SIZE = 3 * WINDOW_EVERY * 11 + 5  # not a multiple of any block or window


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in CONTENTS])
def test_a_content_has_its_size_tail_and_md5(tmp_path, name):
    content = CONTENTS[name]
    datafile = DataFiles(tmp_path).get(content.size_for(SIZE), name)
    data = datafile.path.read_bytes()
    assert len(data) == content.size_for(SIZE) and datafile.content == name
    assert data.endswith(content.tail[-len(data) :] if data else b"")
    assert hashlib.md5(data).hexdigest() == datafile.md5


def test_the_same_seed_gives_the_same_shape_and_random_is_unchanged(tmp_path):
    first = DataFiles(tmp_path / "a").get(SIZE, "near-delimiter")
    assert DataFiles(tmp_path / "b").get(SIZE, "near-delimiter").md5 == first.md5
    assert DataFiles(tmp_path / "c", seed=7).get(SIZE, "near-delimiter").md5 != first.md5
    random = DataFiles(tmp_path / "a").get(SIZE)
    assert random.path.name == f"{SIZE}B-file.bin" and random.content == RANDOM


def test_near_delimiter_windows_straddle_every_multiple_of_the_read_sizes(tmp_path):
    data = DataFiles(tmp_path).get(SIZE, "near-delimiter").path.read_bytes()
    crossings = set()
    for multiple in range(WINDOW_EVERY, SIZE - WINDOW, WINDOW_EVERY):
        window = data[multiple - WINDOW // 2 : multiple + WINDOW // 2]
        assert window.count(b"\r\n--") >= WINDOW // len(NEAR_DELIMITER)
        crossings |= {k for k in range(1, 4) if data[multiple - k : multiple - k + 4] == b"\r\n--"}
    assert crossings == {1, 2, 3}  # a read that ends at a multiple splits a delimiter's start at each offset
    assert data[: WINDOW_EVERY - WINDOW].count(b"\r\n--") < 3  # random ground between the windows


def test_crlf_text_is_dense_with_line_ends(tmp_path):
    data = DataFiles(tmp_path).get(SIZE, "crlf-text").path.read_bytes()
    assert data.count(b"\r") > SIZE / 20 and data.count(b"\n") > SIZE / 20 and b"--" in data


def test_auto_is_random_at_every_size_and_the_shapes_at_the_smallest():
    pairs = contents_for((AUTO,), [1024, 4096])
    assert (RANDOM, 1024) in pairs and (RANDOM, 4096) in pairs
    assert {name for name, size in pairs if name != RANDOM} == set(SHAPES)
    assert all(size in (0, 1, 1024) for name, size in pairs if name != RANDOM)
    assert ("empty", 0) in pairs and ("one-byte", 1) in pairs
    assert contents_for(("empty",), [1024, 4096]) == [("empty", 0)]  # a fixed size once
