"""upload-bench: options and the fixture modules."""

import pytest

pytest.register_assert_rewrite("fixtures")

from fixtures.datafiles import DataFiles
from fixtures.diskspace import check_free_space
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
    options = parse_options(config)
    config.stash[upload_options_key] = options
    problem = check_free_space(options.data_dir, options.sizes, max(options.hops),
                               DataFiles(options.data_dir).path_for, config.option.basetemp)
    if problem and not config.option.collectonly:
        raise pytest.UsageError(problem)
