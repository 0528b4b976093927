"""Size parsing: MB means MiB, presets, and bad values as usage errors."""

import re

import pytest

from fixtures.data.sizes import SizeError, label, parse_size, parse_sizes
from tests.conftest import refusal


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("256MB", 268435456, id="256MB-is-MiB"),
        pytest.param("1GB", 1 << 30, id="1GB"),
        pytest.param("2gb", 2 << 30, id="lower-case"),
        pytest.param("64KB", 65536, id="KB"),
        pytest.param("100B", 100, id="bytes"),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_seed_preset_is_the_seed_sizes():
    assert parse_sizes("seed") == [256 << 20, 512 << 20, 1 << 30, 2 << 30]


def test_sizes_are_sorted_and_deduplicated():
    assert parse_sizes("1GB,16MB,1024MB") == [16 << 20, 1 << 30]


@pytest.mark.parametrize("text", ["12XB", "0", "0MB", "-1MB", "1.5GB", "MB", "", "256"])
def test_bad_size_names_value_and_accepted_forms(text):
    with pytest.raises(SizeError) as excinfo:
        parse_sizes(text)
    assert "expected a positive whole number" in str(excinfo.value)
    assert "B, KB, MB, GB" in str(excinfo.value)


@pytest.mark.parametrize(
    "size, expected", [(256 << 20, "256MB"), (1 << 30, "1GB"), (1536 << 20, "1536MB"), (100, "100B")]
)
def test_label(size, expected):
    assert label(size) == expected


@pytest.mark.parametrize(
    "option, shown",
    [
        pytest.param("--upload-sizes=12XB", "'12XB'", id="size-12XB"),
        pytest.param("--upload-sizes=-1MB", "'-1MB'", id="size-negative"),
        pytest.param("--upload-rounds=0", "'0'", id="rounds-0"),
        pytest.param("--upload-methods=request.magic", "'request.magic'", id="unknown-method"),
        pytest.param("--upload-deployments=apache", "'apache'", id="unknown-deployment"),
        pytest.param("--upload-hops=0", "'0'", id="hops-0"),
        pytest.param("--upload-timeout=soon", "'soon'", id="timeout-not-a-number"),
        pytest.param("--upload-rounds=-2", "'-2'", id="rounds-negative"),
        pytest.param("--upload-client-memory-limit=lots", "'lots'", id="memory-limit"),
        pytest.param("--upload-data-dir=/proc/upload-bench", "'/proc/upload-bench'", id="data-dir-not-writable"),
    ],
)
def test_bad_option_is_refused_naming_it_and_its_value(option, shown):
    refused = refusal(option)
    assert shown in refused
    assert option.split("=")[0] in refused


@pytest.mark.slow
def test_a_refused_option_ends_the_run_with_exit_4_and_its_message(run_suite):
    result = run_suite("--collect-only", "-q", "--upload-sizes=12XB", timeout=120)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "'12XB'" in result.stderr and "--upload-sizes" in result.stderr


@pytest.mark.slow
def test_short_disk_space_stops_the_run_naming_need_and_free(run_suite):
    result = run_suite("--benchmark-only", "--upload-sizes=1MB,100TB", "-q", timeout=120)
    assert result.returncode == 4
    assert "not enough free disk space" in result.stderr
    assert re.search(r"needs \d+\.\d TiB .* but \d+\.\d GiB is free", result.stderr), result.stderr
