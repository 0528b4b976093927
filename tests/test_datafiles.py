"""Data files: seeded, cached on disk with their md5, regenerated only when missing or wrong-sized."""

import hashlib

from fixtures.data.datafiles import DataFiles

SIZE = 3 << 20


def test_file_has_the_size_and_the_md5_of_its_content(tmp_path):
    datafile = DataFiles(tmp_path).get(SIZE)
    content = datafile.path.read_bytes()
    assert len(content) == SIZE
    assert hashlib.md5(content).hexdigest() == datafile.md5
    assert datafile.path.name == "3MB-file.bin"


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = DataFiles(tmp_path / "a").get(SIZE)
    second = DataFiles(tmp_path / "b").get(SIZE)
    other = DataFiles(tmp_path / "c", seed=7).get(SIZE)
    assert first.md5 == second.md5
    assert other.md5 != first.md5


def test_bytes_look_random(tmp_path):
    content = DataFiles(tmp_path).get(1 << 20).path.read_bytes()
    assert len(set(content)) == 256
    assert content.count(b"\n") < 2 * len(content) / 256  # about one newline in 256 bytes


def test_second_request_neither_regenerates_nor_rehashes(tmp_path):
    DataFiles(tmp_path).get(SIZE)
    again = DataFiles(tmp_path)
    datafile = again.get(SIZE)
    assert again.generated == [] and again.hashed == []
    assert hashlib.md5(datafile.path.read_bytes()).hexdigest() == datafile.md5


def test_wrong_size_is_regenerated(tmp_path):
    datafile = DataFiles(tmp_path).get(SIZE)
    with open(datafile.path, "r+b") as f:
        f.truncate(SIZE - 1)
    again = DataFiles(tmp_path)
    assert again.get(SIZE).md5 == datafile.md5
    assert again.generated == [SIZE]


def test_missing_file_is_regenerated(tmp_path):
    datafile = DataFiles(tmp_path).get(SIZE)
    datafile.path.unlink()
    again = DataFiles(tmp_path)
    assert again.get(SIZE).md5 == datafile.md5
    assert again.generated == [SIZE]


def test_missing_md5_is_rehashed_not_regenerated(tmp_path):
    datafile = DataFiles(tmp_path).get(SIZE)
    sidecar = datafile.path.with_name(datafile.path.name + ".md5.json")
    sidecar.unlink()
    again = DataFiles(tmp_path)
    assert again.get(SIZE).md5 == datafile.md5
    assert (again.generated, again.hashed) == ([], [SIZE])
    assert sidecar.exists()


def test_no_partial_file_is_left(tmp_path):
    DataFiles(tmp_path).get(SIZE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3MB-file.bin", "3MB-file.bin.md5.json"]
