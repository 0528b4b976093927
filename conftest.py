"""upload-bench: the pytest plugin (fixtures/plugin.py) and the server factory it starts servers with."""

import pytest

pytest.register_assert_rewrite("fixtures")

pytest_plugins = ["fixtures.server_plugin", "fixtures.plugin"]
