"""The end of a duet pair: both sides' stored files checked at once, a wrong one raised once both are counted."""

import os
import threading

import pytest

from fixtures.data.datafiles import DataFile, md5_of
from fixtures.data.integrity import IntegrityError, verify_file
from fixtures.run.cell_duet import DuetSide


class StoredFile:
    """A side's transfer as the pair check sees it: what a round stored is a real file, checked by verify_file.
    Its check waits for the other side's, so that only checks running at the same time get past it."""

    def __init__(self, datafile, together):
        self.datafile = datafile
        self.together = together
        self.threads = []

    def verify(self, stored) -> int:
        self.threads.append(threading.get_ident())
        self.together.wait()
        return verify_file(stored, self.datafile)


class Pair(DuetSide):
    """What _check_pair reads and writes of a cell's run; _verify keeps the cell's bookkeeping of a check."""

    def __init__(self):
        self._unchecked, self._pair_open, self._failed_side = [], True, "A"
        self.verified = self.against_verified = 0
        self.integrity = []

    def _verify(self, transfer, receipt, counted=True, check=None) -> int:
        try:
            return int(counted and check.result() > 0)
        except IntegrityError as exc:
            self.integrity.append(f"side {self._failed_side}: {exc}")
            raise


@pytest.fixture
def datafile(tmp_path):
    """Return a random 1 MiB data file."""
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(1 << 20))
    return DataFile(path, 1 << 20, md5_of(path))


def stored_copy(datafile, path, flip=None):
    """Store a copy of the data file at path, with the byte at ``flip`` changed."""
    data = bytearray(datafile.path.read_bytes())
    if flip is not None:
        data[flip] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_a_pairs_two_stored_files_are_checked_at_once_and_deleted(datafile, tmp_path):
    together = threading.Barrier(2, timeout=30)  # a deadlock guard: one check alone never gets past it
    a, b = StoredFile(datafile, together), StoredFile(datafile, together)
    pair = Pair()
    pair._unchecked = [
        (a, stored_copy(datafile, tmp_path / "a.bin"), True, "A"),
        (b, stored_copy(datafile, tmp_path / "b.bin"), True, "B"),
    ]
    pair._check_pair()
    assert (pair.verified, pair.against_verified) == (1, 1)
    assert a.threads != b.threads  # each on its own thread, both inside verify at once (the barrier)
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "b.bin").exists()
    assert (pair._unchecked, pair._pair_open) == ([], False)


def test_a_wrong_byte_of_either_side_is_raised_after_both_are_counted_and_deleted(datafile, tmp_path):
    together = threading.Barrier(2, timeout=30)
    pair = Pair()
    pair._unchecked = [
        (StoredFile(datafile, together), stored_copy(datafile, tmp_path / "a.bin", flip=4711), True, "A"),
        (StoredFile(datafile, together), stored_copy(datafile, tmp_path / "b.bin"), True, "B"),
    ]
    with pytest.raises(IntegrityError, match="md5 mismatch"):
        pair._check_pair()
    assert (pair.verified, pair.against_verified) == (0, 1)  # B's good file is counted though A's came first
    assert len(pair.integrity) == 1 and pair.integrity[0].startswith("side A: ")
    assert not list(tmp_path.glob("?.bin"))
    assert pair._failed_side == "A"
