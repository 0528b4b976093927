"""--upload-container-image: the servers in an image of their own, this checkout mounted, md5 through them."""

import hashlib
import subprocess
import tarfile
from pathlib import Path

import pytest

from fixtures import ROOT
from fixtures.option_checks import container_image_of
from fixtures.processes import container_image, containers
from fixtures.processes.ownership import own_name
from tests.conftest import UPLOAD_CELLS, upload_args
from tests.test_containers import BODY, MD5, left_by_other_sessions, needs_podman, podman, post_body


@pytest.fixture(scope="module")
def server_image():
    """Build an image of this machine's Python and the servers' packages; remove it at the end."""
    name = own_name("image")
    container_image.build(name, containers.owned_image_labels(name))
    yield name
    subprocess.run(["podman", "rmi", "--force", name], capture_output=True, check=False)


@pytest.fixture
def image_podman(server_factory, server_image):
    """Run the factory's containers in the test image for one test."""
    podman = server_factory.podman
    before, podman.image = podman.image, server_image
    yield podman
    podman.image = before


def test_the_image_holds_the_servers_packages_and_not_the_harness():
    names = {container_image._normal(d.metadata["Name"]) for d in container_image.server_distributions()}
    assert {"flask", "werkzeug", "requests", "streaming-form-data", "python-multipart", "multipart", "psutil"} <= names
    assert {"gunicorn", "pyuwsgi", "waitress"} <= names  # the deployments of tests' environments (extras "all")
    assert not names & {"pytest", "scipy", "numpy", "upload-bench", "matplotlib"}  # the harness's, not a server's


@needs_podman
@pytest.mark.parametrize("mode", [pytest.param(m, id=m) for m in ("podman-host-overlay", "podman-bridge-volume")])
@pytest.mark.parametrize("deployment", [pytest.param(d, id=d) for d in ("werkzeug", "uwsgi-seed")])
def test_a_server_in_an_image_runs_this_checkout_read_only_on_the_images_root(
    server_factory, image_podman, server_image, deployment, mode
):
    server = server_factory.spawn(deployment, container=mode)
    try:
        image = podman("inspect", "--format", "{{.ImageName}}", server.container).strip()
        assert image == f"{containers.LOCAL}{server_image}:latest"
        mounts = podman("inspect", "--format", "{{range .Mounts}}{{.Source}}:{{.RW}} {{end}}", server.container)
        assert f"{ROOT}:false" in mounts.split()  # the checkout, read-only
        root = Path(f"/proc/{server.pid}/root")
        assert (root / "etc/passwd").read_text() == container_image.PASSWD  # the image's root, not the host's
        assert (root / ROOT.relative_to("/") / "server_app").is_dir() and not (root / "usr/bin/podman").exists()
        answer = post_body(server.url)
        stored = Path(server.upload_dir) / answer["stored_name"]
        assert answer["bytes"] == len(BODY) and hashlib.md5(stored.read_bytes()).hexdigest() == MD5
        stored.unlink()
    finally:
        server_factory.stop(server)
    assert server.container not in podman("ps", "-a", "--format", "{{.Names}}").split()


@needs_podman
@pytest.mark.slow
def test_a_run_in_an_image_checks_every_upload_and_records_the_image(run_matrix, server_image):
    result, run = run_matrix(
        *UPLOAD_CELLS,
        *upload_args(sizes="256KB", deployments="werkzeug,gunicorn", hops=1, methods="request.files", rounds=1),
        "--upload-containers=podman-host-volume,podman-bridge-overlay",
        f"--upload-container-image={server_image}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert len(run["benchmarks"]) == 4
    image_id = podman("image", "inspect", "--format", "{{.Id}}", server_image).strip()
    for bench in run["benchmarks"]:
        container = bench["extra_info"]["container"]
        assert container["image"] == server_image and container["image_id"] == image_id
        assert bench["extra_info"]["limit_rounds"]  # its limit's receiver ran in the image too
    assert run["upload_bench"]["md5_checked"] == 2 * 4 and run["upload_bench"]["md5_mismatches"] == 0
    assert left_by_other_sessions() == []


@needs_podman
def test_an_image_that_is_not_here_is_a_usage_error_naming_it_and_how_to_build_one(run_suite):
    result = run_suite(
        *UPLOAD_CELLS,
        "--upload-containers=podman-host-volume",
        "--upload-container-image=upload-bench-no-such-image",
        "--collect-only",
    )
    assert result.returncode == 4, result.stdout[-2000:]
    output = result.stdout + result.stderr
    assert "--upload-container-image=upload-bench-no-such-image: no such image here" in output
    assert "python -m fixtures.processes.container_image upload-bench-no-such-image" in output


def test_an_image_without_containers_to_run_is_an_error_naming_what_to_add():
    with pytest.raises(ValueError, match="add --upload-containers=podman"):
        container_image_of("some-image", ("none",), None)
    assert container_image_of(None, ("none",), None) is None


@needs_podman
def test_a_session_removes_an_image_a_killed_test_session_left(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    name, empty = f"upload-bench-{dead.pid}-image", tmp_path / "empty.tar"
    tarfile.open(empty, "w").close()
    label = f"LABEL {containers.OWNER_LABEL}=1"
    subprocess.run(
        ["podman", "import", "--quiet", "--change", label, str(empty), name], check=True, capture_output=True
    )
    try:
        assert name in [n.removeprefix(containers.LOCAL) for n in containers.leftovers()[2]]
        containers.Podman().close()
        assert subprocess.run(["podman", "image", "exists", name], check=False).returncode == 1
    finally:
        subprocess.run(["podman", "rmi", "--force", name], capture_output=True, check=False)
