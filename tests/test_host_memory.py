"""Whether a machine gives free memory back to its host, read from a sysfs laid out in a temporary directory."""

import pytest

from fixtures.processes.host_memory import PAGE_BYTES, free_page_reporting, memory_line

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
