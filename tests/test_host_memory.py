"""Whether a machine gives free memory back to its host, read from a sysfs laid out in a temporary directory."""

import pytest

from fixtures.processes.host_memory import HELD_MS, PAGE_BYTES, FreedMemoryHold, free_page_reporting, memory_line

REPORTING = "0000010000"  # features: bit 5, free page reporting, set
NOT_REPORTING = "1111101111"


def _device(root, name, kind, features):
    device = root / "devices" / name
    device.mkdir(parents=True)
    (device / "device").write_text(kind + "\n")
    (device / "features").write_text(features + "\n")


def _order(root, order):
    parameters = root / "parameters"
    parameters.mkdir()
    (parameters / "page_reporting_order").write_text(f"{order}\n")


def test_a_reporting_balloon_gives_back_blocks_of_its_order(tmp_path):
    _device(tmp_path, "virtio0", "0x0001", REPORTING)  # a network device: its bit 5 is another feature
    _device(tmp_path, "virtio1", "0x0005", REPORTING)
    _order(tmp_path, 9)
    found = free_page_reporting(tmp_path / "devices", tmp_path / "parameters")
    assert found == {"block_bytes": PAGE_BYTES << 9}
    assert memory_line({"free_page_reporting": found}).startswith("free blocks of 2 MiB and up given back to the host")


@pytest.mark.parametrize(
    "devices",
    [
        pytest.param([("virtio0", "0x0005", NOT_REPORTING)], id="balloon-without-reporting"),
        pytest.param([("virtio0", "0x0001", REPORTING)], id="no-balloon"),
        pytest.param([], id="no-virtio"),
    ],
)
def test_no_reporting_balloon_gives_nothing_back(tmp_path, devices):
    for device in devices:
        _device(tmp_path, *device)
    _order(tmp_path, 9)
    assert free_page_reporting(tmp_path / "devices", tmp_path / "parameters") is None
    assert memory_line({}) is None


def test_a_reporting_balloon_of_an_unknown_order_still_says_pages(tmp_path):
    _device(tmp_path, "virtio0", "0x0005", REPORTING)
    found = free_page_reporting(tmp_path / "devices", tmp_path / "missing")
    assert found == {"block_bytes": None}
    assert memory_line({"free_page_reporting": found}).startswith("free pages given back to the host")


def _min_free(root, value):
    parameters = root / "parameters"
    parameters.mkdir(exist_ok=True)
    (parameters / "min_free_ms").write_text(f"{value}\n")
    return parameters


def test_a_duet_holds_freed_memory_from_the_host_and_puts_the_kernels_value_back(tmp_path):
    hold = FreedMemoryHold(_min_free(tmp_path, 0))
    assert hold.start() == (HELD_MS, None)
    assert hold.path.read_text() == f"{HELD_MS}\n"
    hold.close()
    assert hold.path.read_text() == "0\n"
    hold.close()  # once put back, a second close changes nothing
    assert hold.path.read_text() == "0\n"


def test_a_longer_hold_found_is_left_as_it_is(tmp_path):
    hold = FreedMemoryHold(_min_free(tmp_path, 60_000))
    assert hold.start() == (60_000, None)
    hold.close()
    assert hold.path.read_text() == "60000\n"


def test_a_kernel_without_the_parameter_holds_nothing_and_a_bad_value_is_named(tmp_path):
    assert FreedMemoryHold(tmp_path / "parameters").start() == (None, None)  # upstream Linux: no min_free_ms
    hold = FreedMemoryHold(_min_free(tmp_path, "soon"))
    held, why = hold.start()
    assert held is None and str(hold.path) in why and "soon" in why
    hold.close()
    assert hold.path.read_text() == "soon\n"
