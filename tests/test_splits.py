"""Where the body is cut, the framing a client puts around the file, and sweeps of body lengths."""

import hashlib
import io
from pathlib import Path

import pytest
import requests
from requests_toolbelt import MultipartEncoder

from fixtures.data.datafiles import file_name
from fixtures.data.sizes import SizeError, parse_sweep
from fixtures.option_values import size_list
from fixtures.uploads.framing import ENCODER, FILES, RAW, file_size_for, framing_of
from fixtures.uploads.splits import SPLITS, cuts, pieces, send_split

PREFIX, SUFFIX = b"--head--\r\n\r\n", b"\r\n--tail--\r\n"


def test_delimiters_cut_at_every_offset_from_the_files_last_bytes_to_the_end():
    at = cuts("delimiters", 1000, 100, 960, seed=0)
    assert set(range(956, 1000)) <= set(at) and set(range(97, 104)) <= set(at)
    assert all(0 < c < 1000 for c in at)


def test_reads_cut_around_every_multiple_and_seeded_cuts_repeat_with_their_seed():
    at = cuts("reads", 3 * 8192 + 10, 0, 3 * 8192 + 10, seed=0)
    assert at == [8191, 8192, 8193, 16383, 16384, 16385, 24575, 24576, 24577]
    assert cuts("seeded", 5000, 0, 5000, 1) == cuts("seeded", 5000, 0, 5000, 1) != cuts("seeded", 5000, 0, 5000, 2)


def test_pieces_rebuild_the_body_and_end_at_the_cuts(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(range(256)) * 5)
    at = [1, 11, 12, 13, 700, len(PREFIX) + 1280 + 2]
    made = list(pieces(PREFIX, path, SUFFIX, at))
    assert b"".join(p for p, _ in made) == PREFIX + path.read_bytes() + SUFFIX
    ends, offset = [], 0
    for piece, cut in made:
        offset += len(piece)
        if cut:
            ends.append(offset)
    assert ends == at


@pytest.mark.parametrize("client", [FILES, ENCODER])
def test_the_framing_is_the_libraries_own_length(client):
    name = "130923B-file.bin"
    if client == FILES:
        body = requests.Request("POST", "http://h/", files={"file": (name, io.BytesIO(b"abc"))}).prepare().body
    else:
        body = MultipartEncoder(fields={"file": (name, io.BytesIO(b"abc"), "application/octet-stream")}).to_string()
    assert framing_of(client, name).length(3) == len(body)
    assert framing_of(RAW, name).length(3) == 3


def test_a_file_is_sized_so_that_its_body_has_the_swept_length():
    for length in (65536 + 3, 131072 - 80, 1 << 20):
        size = file_size_for(FILES, length, file_name)
        assert framing_of(FILES, file_name(size)).length(size) == length


def test_a_sweep_is_every_offset_and_a_bad_one_names_what_is_allowed():
    assert parse_sweep("sweep:64KB±2") == [(65536, d) for d in (-2, -1, 0, 1, 2)]
    assert parse_sweep("sweep:1KB+-0") == [(1024, 0)]
    chosen = size_list("256KB,sweep:64KB±1")
    assert chosen.fixed == [256 << 10] and len(chosen.sweep) == 3
    assert size_list("sweep:64KB±1").fixed == []
    for bad in ("sweep:64KB", "sweep:64KB±5000", "sweep:10B±20"):
        with pytest.raises(SizeError, match="sweep:SIZE±N"):
            parse_sweep(bad)


@pytest.mark.parametrize("split", [pytest.param(s, id=s) for s in SPLITS])
@pytest.mark.parametrize("client, endpoint", [(RAW, "stream-chunked"), (FILES, "files"), (ENCODER, "multipart")])
def test_a_cut_body_is_stored_whole(final, tmp_path, split, client, endpoint):
    path = tmp_path / "70000B-file.bin"
    path.write_bytes((b"\r\n--\r" + bytes(range(256))) * 269 + b"\r")
    answer = send_split(f"{final.url}/upload/{endpoint}", path, path.stat().st_size, 30, split=split, client=client)
    stored = Path(final.upload_dir) / answer["stored_name"]
    try:
        assert hashlib.md5(stored.read_bytes()).hexdigest() == hashlib.md5(path.read_bytes()).hexdigest()
    finally:
        stored.unlink()
