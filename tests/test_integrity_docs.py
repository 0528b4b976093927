"""The reproducer in docs/integrity.md fails exactly on the Werkzeug releases it is written for."""

import re
import subprocess
import sys
from importlib import metadata

from packaging.version import Version

from fixtures import ROOT

PAGE = ROOT / "docs" / "integrity.md"
MARK = "<!-- reproducer: werkzeug-3.1.5-to-3.1.9 -->"
AFFECTED = (Version("3.1.5"), Version("3.1.9"))  # the releases whose parser adds the CR (docs/integrity.md)


def test_the_documented_reproducer_fails_on_the_releases_it_names_and_passes_on_the_others(tmp_path):
    page = PAGE.read_text()
    assert MARK in page
    code = re.search(r"```python\n(.*?)```", page.split(MARK, 1)[1], re.DOTALL).group(1)
    script = tmp_path / "reproducer.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    installed = Version(metadata.version("werkzeug"))
    affected = AFFECTED[0] <= installed <= AFFECTED[1]
    assert done.returncode == (1 if affected else 0), done.stdout + done.stderr
    assert ("stored 65399" if affected else "stored 65398") in done.stdout
