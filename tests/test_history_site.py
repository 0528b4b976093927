"""The history site read in a real browser (headless Chromium through Selenium), and its command's errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from fixtures.history import fill
from fixtures.history.__main__ import main
from fixtures.processes.ownership import cmdline
from tests.conftest import wait_for
from tests.history_runs import CELLS, SLOWED, commit_of, name_of, write_runs

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("UPLOAD_BENCH_ARTIFACTS", ROOT / "test-artifacts")) / "history"
WRITELINES = "test_upload[request.stream-writelines-werkzeug-1hop-8MB]"
GET_CHROMIUM = (
    "install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does as root)"
)


def chromedriver():
    return shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).is_file()), None
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Start headless Chromium for the module; skip, saying how to get it, where it is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason=f"no selenium: pip install selenium; {GET_CHROMIUM}")
    from selenium.webdriver.chrome.service import Service

    driver_path = chromedriver()
    if driver_path is None or not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip(f"no chromium or chromedriver: {GET_CHROMIUM}")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Chromium makes a directory of its own under TMPDIR and leaves it there: under the run's, it goes with it
    service = Service(driver_path, env={**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("chromium"))})
    driver = webdriver.Chrome(service=service, options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Write the site of ten synthetic runs, SLOWED 1.5 times slower from the sixth; return its directory."""
    base = tmp_path_factory.mktemp("history")
    write_runs(base / "runs")
    assert main([str(base / "runs"), "--output-dir", str(base / "site")]) == 0
    return base / "site"


def open_page(browser, path: Path):
    browser.get(path.as_uri())
    assert errors(browser) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


def errors(browser) -> list:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def visible_rows(browser) -> list:
    return [
        row.get_attribute("data-method")
        for row in browser.find_elements("css selector", "tr.benchmark")
        if row.is_displayed()
    ]


def test_the_index_lists_the_benchmarks_and_filters_them(browser, site):
    open_page(browser, site / "index.html")
    names = [a.text for a in browser.find_elements("css selector", "tr.benchmark td:first-child a")]
    assert sorted(names) == sorted(name_of(m, d) for m, d in CELLS)
    browser.save_screenshot(str(ARTIFACTS / "index.png"))
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "filter-method")).select_by_visible_text("request.stream-chunked")
    assert visible_rows(browser) == ["request.stream-chunked"]
    Select(browser.find_element("id", "filter-method")).select_by_index(0)
    assert len(visible_rows(browser)) == len(CELLS)


def test_the_step_is_listed_at_its_commit(browser, site):
    open_page(browser, site / "index.html")
    [change] = browser.find_elements("css selector", "li.change")
    assert change.get_attribute("data-range") == f"{commit_of(5)}..{commit_of(6)}"
    assert "slower" in change.get_attribute("class")
    assert [a.text for a in change.find_elements("css selector", "a")] == [SLOWED]


def test_a_benchmark_page_shows_a_point_per_run(browser, site):
    open_page(browser, site / "index.html")
    browser.find_element("link text", SLOWED).click()
    assert errors(browser) == []
    assert browser.execute_script("return document.getElementById('plot').data[0].y.length") == 10
    assert len(browser.find_elements("css selector", "tr.point")) == 10
    assert browser.execute_script("return document.getElementById('plot').layout.shapes.length") == 1
    browser.save_screenshot(str(ARTIFACTS / "benchmark.png"))
    [time_button] = [b for b in browser.find_elements("css selector", ".updatemenu-button") if b.text == "time"]
    time_button.click()
    title = browser.execute_script("return document.getElementById('plot').layout.yaxis.title.text")
    assert title.startswith("seconds")


def test_runs_of_two_machines_are_two_lines(tmp_path):
    write_runs(tmp_path / "runs", count=4, node="bench-a")
    write_runs(tmp_path / "runs" / "b", count=4, node="bench-b")
    assert main([str(tmp_path / "runs"), "--output-dir", str(tmp_path / "site")]) == 0
    index = (tmp_path / "site" / "index.html").read_text()
    assert "bench-a (Test CPU, 2 CPUs); werkzeug 3.1.0: 4 runs" in index
    assert "bench-b (Test CPU, 2 CPUs); werkzeug 3.1.0: 4 runs" in index
    assert len(list((tmp_path / "site" / "benchmarks").glob("*.html"))) == 2 * len(CELLS)


def test_by_version_orders_runs_by_release_not_by_time(tmp_path):
    paths = write_runs(tmp_path / "runs", count=10, step_at=9, werkzeug=lambda n: f"3.{n}.0")
    # run n recorded werkzeug 3.n.0; the ninth moves last as 3.11.0, so the two slow runs are 3.10.0 and 3.11.0,
    # which text order would put right after 3.1.0
    for path in paths:
        run = json.loads(path.read_text())
        if run["commit_info"]["id"] == commit_of(9):
            for bench in run["benchmarks"]:
                bench["extra_info"]["werkzeug_version"] = "3.11.0"
            path.write_text(json.dumps(run))
    assert main([str(tmp_path / "runs"), "--output-dir", str(tmp_path / "site"), "--by", "werkzeug"]) == 0
    index = (tmp_path / "site" / "index.html").read_text()
    assert "data-range='3.8.0..3.10.0'" in index


@pytest.mark.parametrize(
    "arguments, message",
    [
        pytest.param(["no-such-dir"], "no-such-dir: no such file or directory", id="missing-path"),
        pytest.param(["RUNS", "--by", "nosuchpackage"], "no run records a nosuchpackage version", id="by-unknown"),
        pytest.param(["RUNS", "--output-dir", "RUNS"], "is not a history site", id="output-over-data"),
        pytest.param(["run", "no-such-ref..HEAD"], "'no-such-ref..HEAD' names no commit", id="bad-range"),
    ],
)
def test_bad_input_is_named(tmp_path, capsys, arguments, message):
    write_runs(tmp_path / "runs", count=2)
    arguments = [a.replace("RUNS", str(tmp_path / "runs")) for a in arguments]
    assert main(arguments) == 2
    assert message in capsys.readouterr().err
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2  # nothing of the input was touched


def git_commit(ref: str) -> str:
    return subprocess.run(["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True).stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("against_parent", [pytest.param(False, id="alone"), pytest.param(True, id="against-parent")])
def test_run_saves_a_run_of_the_commit_and_removes_its_worktree(tmp_path, against_parent):
    command = [sys.executable, "-m", "fixtures.history", "run", "HEAD", "--storage", str(tmp_path / "saved")]
    command += ["--against-parent"] * against_parent
    command += ["--", "tests/test_upload_benchmarks.py::test_upload", "-k", "request.files-werkzeug-1hop"]
    done = subprocess.run([*command, "--upload-sizes=256KB"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [saved] = list((tmp_path / "saved").rglob("0001_*.json"))
    run = json.loads(saved.read_text())
    assert run["commit_info"]["id"] == git_commit("HEAD")
    duet = run["upload_bench"].get("duet")
    assert (duet["sides"]["B"]["commit"] if duet else None) == (git_commit("HEAD^") if against_parent else None)
    assert not fill.WORKTREES.exists() or not any(fill.WORKTREES.iterdir())


@pytest.mark.slow
def test_sigterm_stops_a_commits_run_and_leaves_nothing(tmp_path):
    command = [sys.executable, "-m", "fixtures.history", "run", "HEAD", "--storage", str(tmp_path / "saved"), "--"]
    command += ["tests/test_upload_benchmarks.py::test_upload", "-k", "writelines-werkzeug-1hop", "--upload-sizes=8MB"]
    parent = psutil.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        servers = wait_for(
            # cmdline() of ownership: a child that has just exited (a zombie) reads as "", not an error
            lambda: [p for p in parent.children(recursive=True) if "server_app" in cmdline(p.pid)],
            "a server of the commit's run",
        )
        tree = [parent, *parent.children(recursive=True)]
        parent.terminate()
        assert parent.wait(timeout=90) != 0
        gone, alive = psutil.wait_procs(tree, timeout=30)
        assert alive == [] and servers
        assert not fill.WORKTREES.exists() or not any(fill.WORKTREES.iterdir())
        assert (
            "upload-history"
            not in subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
        )
    finally:
        for process in [parent, *parent.children(recursive=True)] if parent.is_running() else []:
            process.kill()


def test_the_werkzeug_releases_history_names_the_23_step(browser, tmp_path, monkeypatch):
    """The real runs of tests/data/history-werkzeug (see its README): the writelines collapse at 2.3.0; its
    screenshots (test-artifacts/history/werkzeug-*.png) are docs/history-werkzeug-*.png."""
    monkeypatch.chdir(ROOT)
    assert main(["tests/data/history-werkzeug", "--by", "werkzeug", "--output-dir", str(tmp_path / "site")]) == 0
    open_page(browser, tmp_path / "site" / "index.html")
    ranges = {
        a.text: change.get_attribute("data-range")
        for change in browser.find_elements("css selector", "li.change.slower")
        for a in change.find_elements("css selector", "a")
    }
    assert ranges[WRITELINES] == "2.2.3..2.3.0"
    browser.save_screenshot(str(ARTIFACTS / "werkzeug-index.png"))
    browser.find_element("link text", WRITELINES).click()
    assert errors(browser) == []
    [log_button] = [b for b in browser.find_elements("css selector", ".updatemenu-button") if b.text == "log"]
    log_button.click()
    assert browser.execute_script("return document.getElementById('plot').layout.yaxis.type") == "log"
    browser.save_screenshot(str(ARTIFACTS / "werkzeug-writelines.png"))


def test_the_commits_history_opens_with_no_step(browser, tmp_path, monkeypatch):
    """The real runs of tests/data/history-commits: eight commits that changed nothing measured."""
    monkeypatch.chdir(ROOT)
    assert main(["tests/data/history-commits", "--output-dir", str(tmp_path / "site")]) == 0
    open_page(browser, tmp_path / "site" / "index.html")
    assert len(browser.find_elements("css selector", "tr.benchmark")) == 22
    assert browser.find_elements("css selector", "li.change") == []
    browser.find_element("css selector", "tr.benchmark a").click()
    assert errors(browser) == []
    assert browser.execute_script("return document.getElementById('plot').data[0].y.length") == 10


def test_a_site_is_replaced_and_another_directory_never(tmp_path, capsys):
    write_runs(tmp_path / "runs", count=4)
    site, other = tmp_path / "site", tmp_path / "other"
    assert main([str(tmp_path / "runs"), "--output-dir", str(site)]) == 0
    (site / "stale.html").write_text("from an earlier site")
    assert main([str(tmp_path / "runs"), "--output-dir", str(site)]) == 0
    assert not (site / "stale.html").exists() and (site / "index.html").is_file()
    other.mkdir()
    (other / "index.html").write_text("<html>someone's page</html>")
    assert main([str(tmp_path / "runs"), "--output-dir", str(other)]) == 2
    assert "is not a history site" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["index.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "runs", "site"]  # nothing half built beside


def test_runs_of_two_environments_at_one_commit_are_two_lines(tmp_path):
    write_runs(tmp_path / "runs", count=4)
    write_runs(tmp_path / "runs" / "old", count=4, werkzeug=lambda n: "2.2.3")
    assert main([str(tmp_path / "runs"), "--output-dir", str(tmp_path / "site")]) == 0
    index = (tmp_path / "site" / "index.html").read_text()
    assert "werkzeug 3.1.0: 4 runs" in index and "werkzeug 2.2.3: 4 runs" in index
    assert "li class='change" not in index  # the two lines are never joined into one with a step between them


def test_the_runs_beside_a_virtual_environment_are_read_and_its_packages_are_not(tmp_path, capsys):
    """As fixtures.versions keeps them: .upload-versions/werkzeug-X/ holds the environment and the runs."""
    release = tmp_path / ".upload-versions" / "werkzeug-3.1.0"
    write_runs(release, count=2)
    (release / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (release / "lib" / "site-packages" / "pkg").mkdir(parents=True)
    (release / "lib" / "site-packages" / "pkg" / "data.json").write_text("{}")
    assert main([str(tmp_path / ".upload-versions"), "--output-dir", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out
    assert f"{len(CELLS)} benchmarks of 2 runs" in printed and "skipped" not in printed
