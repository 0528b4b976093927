"""upload-bench: the pytest plugin (fixtures/plugin.py), every hook and fixture of it."""

import pytest

pytest.register_assert_rewrite("fixtures")

pytest_plugins = ["fixtures.plugin"]
