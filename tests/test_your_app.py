"""Your app as the final hop (--upload-app): served by every deployment, behind relays, its uploads checked byte for
byte without touching it, and what it cannot be run with refused by name."""

import shutil
import subprocess

import pytest

from fixtures.data.app_integrity import STORED, UNCHECKED
from fixtures.uploads.app_request import AppRequest, app_method_of, app_methods
from tests.conftest import ROOT, parsed, refusal, upload_args

EXAMPLE = ROOT / "examples" / "upload_app.py"
VARIANTS = ROOT / "tests" / "data" / "app_variants.py"
ONE_ROUND = ("tests/test_upload_benchmarks.py::test_upload", "--benchmark-only", "--upload-rounds=1")
EXAMPLE_OPTIONS = (
    "--upload-app=upload_app:app",
    "--upload-app-endpoint=/api/documents/{name}",
    "--upload-app-body=multipart:document",
    "--upload-app-form=owner=bench",
    "--upload-app-header=X-Api-Token: example-token",
)


def app_copy(tmp_path, source):
    """Copy an app into a folder of its own: what it stores lands beside it, under stored/."""
    folder = tmp_path / "app"
    folder.mkdir()
    shutil.copy(source, folder)
    return folder


def app_cells(run) -> list:
    return [b["extra_info"] for b in run["benchmarks"] if b["extra_info"].get("app")]


@pytest.mark.slow
def test_the_example_app_runs_under_every_deployment_with_every_upload_checked(run_matrix, tmp_path):
    folder = app_copy(tmp_path, EXAMPLE)
    deployments = "werkzeug,gunicorn,uwsgi,waitress"
    result, run = run_matrix(
        *ONE_ROUND,
        *upload_args(sizes="256KB", deployments=deployments, hops=1, contents="random"),
        *EXAMPLE_OPTIONS,
        f"--upload-app-path={folder}",
        f"--upload-app-stored={folder / 'stored'}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    cells = app_cells(run)
    # 4 deployments x 2 methods (relays in front of an app: the read-back test; the shapes that break parsers: the
    # lossy app's)
    assert len(cells) == 8
    assert {c["deployment"] for c in cells} == set(deployments.split(","))
    assert all(c["md5_verified"] == 1 and c["app_integrity"] == STORED for c in cells)
    assert {c["method"] for c in cells} == {"your app (files=)", "your app (MultipartEncoder)"}
    assert cells[0]["app_headers"] == ["X-Api-Token"] and cells[0]["app_form"] == {"owner": "bench"}
    summary = run["upload_bench"]
    assert summary["md5_checked"] == 2 * len(cells) and summary["md5_mismatches"] == 0  # a warm-up and a round each
    assert summary["bytes_sent"] == summary["bytes_received"]
    assert not (folder / "stored").exists()  # each upload's file deleted once checked, then the app's folder


@pytest.mark.slow
def test_an_app_that_loses_a_byte_fails_the_run_naming_the_shape_and_the_bytes(run_matrix, tmp_path):
    folder = app_copy(tmp_path, VARIANTS)
    result, run = run_matrix(
        *ONE_ROUND,
        *upload_args(sizes="256KB", deployments="werkzeug", hops=1, contents="random,ends-cr"),
        "--upload-app=app_variants:app",
        "--upload-app-endpoint=/lossy",
        f"--upload-app-path={folder}",
        f"--upload-app-stored={folder / 'stored'}",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    failed = {f["test"].split("[")[1].rstrip("]"): f["reason"] for f in run["upload_bench"]["failed"]}
    assert set(failed) == {"app-files-ends-cr-werkzeug-1hop-256KB", "app-multipartencoder-ends-cr-werkzeug-1hop-256KB"}
    reason = failed["app-files-ends-cr-werkzeug-1hop-256KB"]
    assert "sent 262144 bytes, stored 262143" in reason and "lost at the end" in reason, reason
    assert not (folder / "stored").exists()  # the lossy file deleted, and the folder the app made in the run


@pytest.mark.slow
@pytest.mark.parametrize(
    "check, endpoint, passes",
    [
        pytest.param("--upload-app-read-back=/blobs/{name}", "/blobs/{name}", True, id="read-back"),
        pytest.param("--upload-app-digest=file.md5:md5", "/blobs/{name}", True, id="digest"),
        pytest.param("--upload-app-digest=file.md5:md5", "/misreported/{name}", False, id="digest-wrong"),
        pytest.param(None, "/blobs/{name}", True, id="unchecked"),
    ],
)
def test_what_an_app_stored_is_read_back_or_its_digest_checked_and_no_check_is_said(
    run_matrix, tmp_path, check, endpoint, passes
):
    folder = app_copy(tmp_path, VARIANTS)
    result, run = run_matrix(
        *ONE_ROUND,
        *upload_args(sizes="256KB", deployments="gunicorn", hops=2),
        "--upload-app=app_variants:app",
        f"--upload-app-endpoint={endpoint}",
        "--upload-app-body=raw",
        "--upload-app-method=PUT",
        f"--upload-app-path={folder}",
        *([check] if check else []),
    )
    assert result.returncode == (0 if passes else 1), result.stdout[-3000:]
    if not passes:  # its one cell failed in its warm-up: no benchmark ran, so pytest-benchmark writes no JSON
        assert "md5 checked: 1, mismatches: 1" in result.stdout
        assert "md5 mismatch for 256KB: sent " in result.stdout and ", the app says it stored " in result.stdout
        return
    summary = run["upload_bench"]
    if check is None:
        assert summary["md5_checked"] == 0 and summary["unchecked"] >= 2
        assert "integrity NOT checked for" in result.stdout
        assert {c["app_integrity"] for c in app_cells(run)} == {UNCHECKED}
        assert "integrity not checked" in result.stdout.split("upload-bench: throughput")[1]
    else:
        assert summary["md5_checked"] >= 2 and summary["md5_mismatches"] == 0 and "unchecked" not in summary


def git(*args, cwd):
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.mark.slow
def test_a_duet_of_the_apps_revisions_flags_a_slowed_one_and_nothing_in_an_unchanged_one(run_matrix, tmp_path):
    repository = tmp_path / "service"
    (repository / "app").mkdir(parents=True)
    shutil.copy(EXAMPLE, repository / "app")
    (repository / ".gitignore").write_text("app/stored/\n")
    git("init", "-q", cwd=repository)
    git("add", "-A", cwd=repository)
    git("commit", "-qm", "as it was", cwd=repository)
    source = repository / "app" / "upload_app.py"
    slowed = "    time.sleep(0.02)  # a revision that makes every upload 20 ms slower\n    document.save("
    source.write_text("import time\n" + source.read_text().replace("    document.save(", slowed))
    git("commit", "-qam", "slower", cwd=repository)
    duet = (
        *ONE_ROUND[:2],
        *upload_args(sizes="256KB", deployments="gunicorn", hops=1, contents="random"),
        *EXAMPLE_OPTIONS,
        f"--upload-app-path={repository / 'app'}",
        f"--upload-app-stored={repository / 'app' / 'stored'}",
    )
    result, run = run_matrix(*duet, "--upload-app-baseline=HEAD~1")  # the slowed revision, against the one before
    assert result.returncode == 0, result.stdout[-3000:]
    assert "duet verdicts (A (your app as it is) relative to the baseline B (your app at HEAD~1)): 2 slower" in (
        result.stdout
    )
    assert run["upload_bench"]["duet"]["sides"]["B"]["app_ref"] == "HEAD~1"
    result, run = run_matrix(*duet, "--upload-app-against=HEAD")  # the same revision on both sides
    assert result.returncode == 0, result.stdout[-3000:]
    verdicts = {c["verdict"] for c in run["upload_bench"]["duet"]["cells"]}
    assert "slower" not in verdicts and "faster" not in verdicts
    listed = subprocess.run(["git", "worktree", "list"], cwd=repository, capture_output=True, text=True).stdout
    assert len(listed.splitlines()) == 1  # B's worktree removed, only the repository's own is left
    assert not (repository / "app" / "stored").exists()


@pytest.mark.slow
def test_an_app_that_cannot_be_imported_stops_the_run_as_a_usage_error(run_matrix, tmp_path):
    result, _ = run_matrix(*ONE_ROUND, "--upload-app=no_such_module:app", f"--upload-app-path={tmp_path}")
    assert result.returncode == 4, result.stdout[-3000:]
    said = result.stdout + result.stderr
    assert "--upload-app=no_such_module:app: werkzeug does not start with it" in said
    assert "module 'no_such_module' cannot be imported" in said


@pytest.mark.parametrize(
    "args, named",
    [
        pytest.param(["--upload-app-stored=x"], "--upload-app-stored describe(s) your app", id="without-app"),
        pytest.param(["--upload-app=app"], "MODULE:NAME of a WSGI app", id="no-name"),
        pytest.param(["--upload-app=a:b", "--upload-app-body=multipart"], "multipart:FIELD", id="no-field"),
        pytest.param(["--upload-app=a:b", "--upload-app-endpoint=files"], "a path from '/'", id="relative-endpoint"),
        pytest.param(["--upload-app=a:b", "--upload-app-header=token"], "'NAME: VALUE'", id="header"),
        pytest.param(["--upload-app=a:b", "--upload-app-digest=x:crc"], "ALGORITHM one of md5", id="digest"),
        pytest.param(["--upload-app=a:b", "--upload-concurrency=1,2"], "--upload-concurrency above 1", id="batch"),
        pytest.param(["--upload-app=a:b", "--upload-against=HEAD"], "--upload-against, --upload-baseline", id="duet"),
        pytest.param(
            ["--upload-app=a:b", "--upload-app-body=raw", "--upload-app-form=a=1"], "has no form fields", id="raw-form"
        ),
        pytest.param(
            ["--upload-app=a:b", "--upload-app-baseline=no-such-ref"], "not a branch, tag or commit", id="ref"
        ),
        pytest.param(
            ["--upload-app=a:b", "--upload-app-baseline=HEAD", "--upload-app-against=HEAD"], "give one side B", id="two"
        ),
    ],
)
def test_what_an_app_run_cannot_be_is_refused_naming_it(args, named):
    refused = refusal(*args)
    assert named in refused


def test_an_app_request_reaches_the_client_process_whole_and_picks_its_methods_by_body():
    request = AppRequest("/f/{name}", "multipart", "doc", (("a", "1"),), (("X-T", "s"),), "PUT")
    methods = app_methods(request)
    assert list(methods) == ["app-files", "app-multipartencoder"]
    assert app_method_of(methods["app-files"].job).request == request  # the job string carries it whole
    assert methods["app-files"].url("http://h:1", "n") == "http://h:1/f/n"
    assert list(app_methods(AppRequest(body="raw"))) == ["app-data", "app-chunked"]
    assert app_method_of("request.files") is None
    options = parsed("--upload-app=m:app", "--upload-app-body=multipart:doc", f"--upload-app-path={ROOT}")
    assert options.app.request.field == "doc" and options.app.integrity == UNCHECKED
