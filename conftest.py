"""upload-bench: the options, and the session plugin that owns every cell."""

import pytest

pytest.register_assert_rewrite("fixtures")

from fixtures.diskspace import check_free_space
from fixtures.options import add_options, upload_options
from fixtures.session import PLUGIN_NAME, UploadBenchSession

pytest_plugins = ["fixtures.servers", "fixtures.session"]


def pytest_addoption(parser):
    add_options(parser)


def pytest_configure(config):
    try:
        options = upload_options(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = UploadBenchSession(config, options)
    problem = check_free_space(options.data_dir, options.sizes, max(options.hops),
                               session.data_files.path_for, config.option.basetemp)
    if problem and not config.option.collectonly:
        raise pytest.UsageError(problem)
    config.pluginmanager.register(session, PLUGIN_NAME)
