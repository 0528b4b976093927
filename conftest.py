"""upload-bench: options and the fixture modules."""

import pytest

pytest.register_assert_rewrite("fixtures")

from fixtures.options import add_options, parse_options, upload_options_key

pytest_plugins = [
    "fixtures.options",
    "fixtures.datafiles",
    "fixtures.servers",
    "fixtures.matrix",
    "fixtures.results",
]


def pytest_addoption(parser):
    add_options(parser)


def pytest_configure(config):
    config.stash[upload_options_key] = parse_options(config)
