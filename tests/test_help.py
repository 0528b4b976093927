"""pytest's own help, with the plugin loaded: the first command a newcomer types."""

import re
import subprocess
import sys

import pytest

from fixtures import ROOT


@pytest.mark.parametrize("flag", [pytest.param("--help", id="long"), pytest.param("-h", id="short")])
def test_help_lists_every_upload_option_with_its_default(flag, pytestconfig):
    done = subprocess.run([sys.executable, "-m", "pytest", flag], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = set(re.findall(r"^\s+(--upload-[a-z-]+)", done.stdout, re.MULTILINE))
    ours = {"--" + dest.replace("_", "-") for dest in vars(pytestconfig.option) if dest.startswith("upload_")}
    assert ours and listed == ours
    for name in ("--upload-sizes", "--upload-hops", "--upload-rounds"):  # defaults that are values, not "off"
        entry = done.stdout.split(name, 1)[1].split("\n  --", 1)[0]
        assert "default:" in " ".join(entry.split()), f"{name} has no default in --help: {entry}"
