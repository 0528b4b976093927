"""--upload-profile: cProfile + tracemalloc on every hop, only when the server allows it."""

import hashlib
import tracemalloc

import pytest
import requests

from fixtures.data.datafiles import DataFile
from fixtures.processes.chains import Chain
from fixtures.run.profiles import ProfileMissing, profile_name, profile_upload, write_profiles
from fixtures.uploads.methods import METHODS
from server_app import create_app
from server_app.config import ENV_VAR, ConfigError, to_environment
from server_app.deployments import DEPLOYMENTS
from server_app.profiling import HEADER
from tests.conftest import files_in

BODY = bytes(range(256)) * 8192  # 2 MiB
MD5 = hashlib.md5(BODY).hexdigest()
OCTET = {"Content-Type": "application/octet-stream"}
PROFILE = {HEADER: "1"}
ALLOW = ["--allow-profiling"]


def assert_is_profile(text):
    assert "sorted by cumulative time" in text
    assert "ncalls" in text and "tottime" in text and "cumtime" in text
    assert "## tracemalloc" in text
    tracemalloc_part = text.split("## tracemalloc", 1)[1]
    assert "size=" in tracemalloc_part and "count=" in tracemalloc_part  # tracemalloc statistic lines


@pytest.fixture
def datafile(tmp_path):
    path = tmp_path / "2MB-file.bin"
    path.write_bytes(BODY)
    return DataFile(path, len(BODY), MD5)


# --- the Flask test client -------------------------------------------------------------------


def make_client(tmp_path, **config):
    return create_app({"UPLOAD_DIR": tmp_path / "uploads", "TESTING": True, **config}).test_client()


def test_profiling_app_adds_a_profile_only_with_the_header(tmp_path):
    client = make_client(tmp_path, PROFILING=True)
    was_tracing = tracemalloc.is_tracing()
    plain = client.post("/upload/stream-chunked", data=BODY, headers=OCTET)
    assert plain.status_code == 200 and "profile" not in plain.json
    profiled = client.post("/upload/stream-chunked", data=BODY, headers={**OCTET, **PROFILE})
    assert profiled.status_code == 200
    answer = profiled.json
    assert answer["bytes"] == len(BODY)
    assert_is_profile(answer["profile"])
    assert "stream_chunked" in answer["profile"]
    assert "role final" in answer["profile"]
    assert tracemalloc.is_tracing() == was_tracing  # stopped again after the request
    for name in (plain.json["stored_name"], answer["stored_name"]):
        assert hashlib.md5((tmp_path / "uploads" / name).read_bytes()).hexdigest() == MD5


@pytest.mark.parametrize("config", [{}, {"PROFILING": False}], ids=["default", "false"])
def test_without_profiling_config_the_header_is_ignored_and_no_hook_is_registered(tmp_path, monkeypatch, config):
    monkeypatch.setenv("UPLOAD_BENCH_PROFILING", "1")  # a stray variable: nothing reads it
    app = create_app({"UPLOAD_DIR": tmp_path / "uploads", "TESTING": True, **config})
    assert app.config["PROFILING"] is False
    hooks = [f for funcs in (*app.before_request_funcs.values(), *app.after_request_funcs.values()) for f in funcs]
    assert [f for f in hooks if f.__module__ == "server_app.profiling"] == []  # nothing added to any request
    answer = app.test_client().post("/upload/stream-chunked", data=BODY, headers={**OCTET, **PROFILE}).json
    assert answer["bytes"] == len(BODY) and "profile" not in answer


def test_profiling_is_allowed_by_the_json_variable_of_the_exec_deployments(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, to_environment({"UPLOAD_DIR": tmp_path / "uploads", "PROFILING": True}))
    client = create_app().test_client()  # what server_app.wsgi does
    answer = client.post("/upload/stream-chunked", data=BODY, headers={**OCTET, **PROFILE}).json
    assert_is_profile(answer["profile"])


@pytest.mark.parametrize("value", ["1", "true", 1, None])
def test_profiling_takes_only_a_real_boolean(tmp_path, monkeypatch, value):
    with pytest.raises(ConfigError, match=rf"^config: PROFILING={value!r} is not allowed: expected true or false"):
        create_app({"UPLOAD_DIR": tmp_path / "uploads", "PROFILING": value})
    monkeypatch.setenv(ENV_VAR, f'{{"UPLOAD_DIR": "{tmp_path / "uploads"}", "PROFILING": "on"}}')
    with pytest.raises(ConfigError, match=f"^{ENV_VAR}: PROFILING='on' is not allowed: expected true or false"):
        create_app()


def test_header_value_other_than_1_does_not_profile(tmp_path):
    client = make_client(tmp_path, PROFILING=True)
    answer = client.post("/upload/stream-chunked", data=BODY, headers={**OCTET, HEADER: "yes"}).json
    assert "profile" not in answer


def test_an_error_answer_still_carries_the_profile_and_tracing_stops(tmp_path):
    client = make_client(tmp_path, PROFILING=True)
    was_tracing = tracemalloc.is_tracing()
    response = client.post("/upload/stream-chunked", data=b"", headers={**OCTET, **PROFILE})
    assert response.status_code == 400
    assert_is_profile(response.json["profile"])
    assert tracemalloc.is_tracing() == was_tracing


def test_an_unhandled_exception_still_stops_the_profiler_and_tracing(tmp_path):
    app = create_app({"UPLOAD_DIR": tmp_path / "uploads", "PROFILING": True})

    def boom():
        raise RuntimeError("boom")

    app.add_url_rule("/boom", view_func=boom, methods=["POST"])
    was_tracing = tracemalloc.is_tracing()
    response = app.test_client().post("/boom", headers=PROFILE)
    assert response.status_code == 500
    assert tracemalloc.is_tracing() == was_tracing


# --- file names ------------------------------------------------------------------------------


def test_profile_names_follow_the_seed():
    assert profile_name("application/octet-stream", 268435456) == "application-octet-stream_268435456-bytes.txt"
    assert profile_name("multipart/form-data; boundary=abc", 268435606) == "multipart-form-data_268435606-bytes.txt"
    assert profile_name("application/octet-stream", 5, hop=2) == "application-octet-stream_5-bytes-hop2.txt"


def test_write_profiles_numbers_hops_from_the_entry(tmp_path):
    answer = {"profile": "final", "via": [{"pid": 1, "profile": "entry"}, {"pid": 2, "profile": "middle"}]}
    paths = write_profiles(answer, "application/octet-stream", 10, 3, tmp_path)
    assert [p.name for p in paths] == [f"application-octet-stream_10-bytes-hop{n}.txt" for n in (1, 2, 3)]
    assert [p.read_text() for p in paths] == ["entry", "middle", "final"]
    [single] = write_profiles({"profile": "only"}, "multipart/form-data; boundary=x", 12, 1, tmp_path)
    assert single.name == "multipart-form-data_12-bytes.txt" and single.read_text() == "only"


def test_write_profiles_refuses_an_answer_without_every_hops_profile(tmp_path):
    with pytest.raises(ProfileMissing, match="hop.s. 1 of 2"):
        write_profiles({"profile": "final", "via": [{"pid": 1}]}, "application/octet-stream", 10, 2, tmp_path)
    with pytest.raises(ProfileMissing, match="relay"):
        write_profiles({"profile": "final"}, "application/octet-stream", 10, 2, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- real servers ----------------------------------------------------------------------------


def spawn_chain(server_factory, deployment, extra_args):
    """Spawn final, then a relay in front of it; return [relay, final]."""
    final = server_factory.spawn(deployment, extra_args=extra_args)
    try:
        relay = server_factory.spawn(deployment, next_hop=final.url, extra_args=extra_args)
    except BaseException:
        server_factory.stop(final)
        raise
    return [relay, final]


@pytest.mark.parametrize("deployment", ["werkzeug", "gunicorn"])
def test_profiled_upload_through_two_hops_writes_a_profile_per_hop(server_factory, tmp_path, datafile, deployment):
    if not DEPLOYMENTS[deployment].available():
        pytest.skip(f"{deployment} is not installed")
    servers = spawn_chain(server_factory, deployment, ALLOW)
    try:
        chain = Chain(servers)
        out = tmp_path / "benchmark"
        paths = profile_upload(METHODS["request.stream-chunked"], chain, datafile, 60, out)
        # profile_upload verified the md5 at the final hop and deleted the stored file
        assert [p.name for p in paths] == [
            "application-octet-stream_2097152-bytes-hop1.txt",
            "application-octet-stream_2097152-bytes-hop2.txt",
        ]
        assert sorted(p.name for p in out.iterdir()) == [p.name for p in paths]
        hop1, hop2 = (p.read_text() for p in paths)
        for text in (hop1, hop2):
            assert_is_profile(text)
        assert "role relay" in hop1 and "relaying.py" in hop1 and "(relay)" in hop1
        assert "role final" in hop2 and "stream_chunked" in hop2
        assert files_in(servers[0]) == [] and files_in(servers[1]) == []

        # the same servers answer unprofiled uploads without any profile
        answer = requests.post(f"{chain.url}/upload/stream-chunked", data=BODY, headers=OCTET, timeout=30).json()
        assert "profile" not in answer and "profile" not in answer["via"][0]
        stored = servers[1].upload_dir / answer["stored_name"]
        assert hashlib.md5(stored.read_bytes()).hexdigest() == MD5
        stored.unlink()
    finally:
        for server in servers:
            server_factory.stop(server)


def test_profiled_multipart_upload_is_named_by_its_content_length(server_factory, tmp_path, datafile):
    final = server_factory.spawn(extra_args=ALLOW)
    try:
        paths = profile_upload(METHODS["request.files"], Chain([final]), datafile, 60, tmp_path)
        [path] = paths
        with open(datafile.path, "rb") as f:  # what requests.post(files=...) of the timed rounds sends
            prepared = requests.Request("POST", final.url, files={"file": (datafile.path.name, f)}).prepare()
        length = int(prepared.headers["Content-Length"])
        assert length > len(BODY)
        assert path.name == f"multipart-form-data_{length}-bytes.txt"
        text = path.read_text()
        assert_is_profile(text)
        assert f"Content-Length {length}" in text
        assert "formparser" in text  # Werkzeug's multipart parsing shows in the cumulative listing
        assert files_in(final) == []
    finally:
        server_factory.stop(final)


@pytest.mark.parametrize("deployment", ["werkzeug", "gunicorn"])
def test_without_allow_profiling_the_header_is_ignored(server_factory, tmp_path, datafile, monkeypatch, deployment):
    if not DEPLOYMENTS[deployment].available():
        pytest.skip(f"{deployment} is not installed")
    # even if a configuration that allows it is inherited: only --allow-profiling allows it
    monkeypatch.setenv("UPLOAD_BENCH_PROFILING", "1")
    monkeypatch.setenv(ENV_VAR, to_environment({"UPLOAD_DIR": tmp_path / "stray", "PROFILING": True}))
    servers = spawn_chain(server_factory, deployment, [])
    try:
        relay, final = servers
        answer = requests.post(
            f"{relay.url}/upload/stream-chunked", data=BODY, headers={**OCTET, **PROFILE}, timeout=30
        ).json()
        assert answer["bytes"] == len(BODY)
        assert "profile" not in answer and "profile" not in answer["via"][0]
        stored = final.upload_dir / answer["stored_name"]
        assert hashlib.md5(stored.read_bytes()).hexdigest() == MD5
        stored.unlink()
        with pytest.raises(ProfileMissing, match="--allow-profiling"):
            profile_upload(METHODS["request.stream-chunked"], Chain(servers), datafile, 60, tmp_path / "out")
        assert files_in(final) == []  # the upload was still verified and deleted
        assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    finally:
        for server in servers:
            server_factory.stop(server)


def test_a_relay_that_ignores_the_header_does_not_forward_it(server_factory):
    final = server_factory.spawn(extra_args=ALLOW)
    relay = None
    try:
        relay = server_factory.spawn(next_hop=final.url)
        answer = requests.post(
            f"{relay.url}/upload/stream-chunked", data=BODY, headers={**OCTET, **PROFILE}, timeout=30
        ).json()
        assert "profile" not in answer and "profile" not in answer["via"][0]
        (final.upload_dir / answer["stored_name"]).unlink()
    finally:
        if relay:
            server_factory.stop(relay)
        server_factory.stop(final)
