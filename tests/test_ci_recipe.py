"""The CI recipe (examples/ci/github-actions.yml, docs/ci.md): its commands run here as its steps would, with this
repository standing in for your app's checkout, the pull request's base branch for HEAD and tiny sizes."""

import json
import shlex
import subprocess
import sys

import pytest
import yaml

from fixtures.run.duet import REGRESSION_EXIT
from fixtures.run.verdicts import SLOWER
from tests.conftest import ROOT, SUITE_ENV

WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
TINY = ("--upload-sizes=256KB", "--upload-deployments=gunicorn", "--upload-hops=1", "--upload-contents=random")


def steps() -> list:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["uploads"]["steps"]


def here(word: str, out) -> str:
    """Return a word of the workflow as it runs here: your app's checkout (../app/) is this repository, the other
    files of the workspace (../) go to the test's folder."""
    if "../app/" in word:
        return word.replace("../app/", f"{ROOT}/")
    return word.replace("../", f"{out}/")


def command(step, out) -> list:
    """Return a step's command as it runs here: GitHub fills in its expressions first (the base branch is HEAD)."""
    run = step["run"].replace("origin/${{ github.base_ref }}", "HEAD")
    return [here(word, out) for word in shlex.split(run)]


def test_the_workflow_runs_on_pull_requests_and_keeps_its_evidence_whatever_the_gate_says():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key 'on' as true
    gate = next(s for s in steps() if s.get("run", "").startswith("pytest "))
    report = next(s for s in steps() if s.get("run", "").startswith("python -m fixtures.report"))
    upload = next(s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "--upload-fail-on=slower" in gate["run"] and "--upload-app-baseline=" in gate["run"]
    assert report["if"] == upload["if"] == "always()"  # the JSON and the report, also of a failed gate
    assert set(upload["with"]["path"].split()) == {"duet.json", "report/"}


@pytest.mark.slow
def test_the_gate_and_the_report_run_as_the_workflow_gives_them(tmp_path):
    gate, report = [s for s in steps() if str(s.get("run", "")).startswith(("pytest", "python -m fixtures.report"))]
    ran = subprocess.run(
        [sys.executable, "-m", *command(gate, tmp_path), *TINY, "-p", "no:randomly", "-o", f"cache_dir={tmp_path}"],
        cwd=ROOT,
        env=SUITE_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # the same revision on both sides: a cell may still come out slower by chance (the duet's false discovery
    # rate), and then the gate must say so by its exit status, as it would on a pull request
    assert ran.returncode in (0, REGRESSION_EXIT), ran.stdout[-3000:] + ran.stderr[-2000:]
    duet = json.loads((tmp_path / "duet.json").read_text())["upload_bench"]["duet"]
    slower = [c for c in duet["cells"] if c["verdict"] == SLOWER]
    assert (ran.returncode == REGRESSION_EXIT) == bool(slower)
    assert "duet verdicts (A (your app as it is) relative to the baseline B (your app at HEAD))" in ran.stdout
    written = subprocess.run(
        [sys.executable, *command(report, tmp_path)[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert written.returncode == 0, written.stderr[-3000:]
    assert (tmp_path / "report" / "report.md").is_file()
    assert not (ROOT / "examples" / "stored").exists()  # what the app stored, checked and deleted, and its folder
