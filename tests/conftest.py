"""Support for the suite's own tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_suite(tmp_path, upload_options):
    """Run pytest on this project in a subprocess with its own cache and temp dirs."""

    def run(*args, timeout=600):
        command = [
            sys.executable, "-m", "pytest", "-p", "no:randomly",
            "-o", f"cache_dir={tmp_path / 'cache'}",
            f"--basetemp={tmp_path / 'basetemp'}",
            f"--upload-data-dir={upload_options.data_dir}",
            *args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

    return run
