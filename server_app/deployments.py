"""How server_app is served: one registry entry per deployment."""

import os
import sys
import sysconfig
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

# Uploads of several GiB at tens of MB/s take minutes: no server may cut them short.
DEFAULT_WORKER_TIMEOUT = 3600
# waitress refuses bodies of 1 GiB and more by default (413); allow the seed's sizes and beyond.
MAX_BODY = 1 << 40


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    state_dir: Path  # control sockets, pid files, worker heartbeats: never $HOME
    worker_timeout: int = DEFAULT_WORKER_TIMEOUT


@dataclass(frozen=True)
class Deployment:
    name: str
    package: str
    description: str
    why: str  # why it is configured this way, for the README
    settings: dict = field(default_factory=dict)
    command: Callable = None  # ServeOptions -> argv to exec; None serves in this process

    def available(self) -> bool:
        try:
            metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return False
        return True

    def version(self) -> str:
        return metadata.version(self.package)


def _script(name):
    """Return the path of a console script installed beside this Python."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    return str(candidate) if candidate.exists() else name


def gunicorn_command(o: ServeOptions):
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{o.host}:{o.port}",
        "--worker-class", "sync", "--workers", "2",
        "--timeout", str(o.worker_timeout),
        "--graceful-timeout", "5",
        "--control-socket", str(o.state_dir / "gunicorn.ctl"),
        "--worker-tmp-dir", str(o.state_dir),
        "--access-logfile", "-",
        "server_app.wsgi:app",
    ]


def _uwsgi_common(o: ServeOptions):
    return [
        _script("uwsgi"),
        "--http-socket", f"{o.host}:{o.port}",
        "--module", "server_app.wsgi:app",
        "--die-on-term",  # otherwise SIGTERM means reload and terminate waits 20 s
        "--need-app",
        "--master",
        "--socket-timeout", str(o.worker_timeout),
        "--pidfile", str(o.state_dir / "uwsgi.pid"),
    ]


def uwsgi_seed_command(o: ServeOptions):
    return [*_uwsgi_common(o), "--processes", "2", "--threads", "2"]


def uwsgi_command(o: ServeOptions):
    return [*_uwsgi_common(o), "--processes", "2", "--threads", "2", "--buffer-size", "65535"]


def waitress_command(o: ServeOptions):
    return [
        sys.executable, "-m", "waitress",
        f"--listen={o.host}:{o.port}",
        "--threads=4",
        f"--max-request-body-size={MAX_BODY}",
        f"--channel-timeout={o.worker_timeout}",
        "server_app.wsgi:app",
    ]


DEPLOYMENTS = {
    d.name: d
    for d in (
        Deployment(
            "werkzeug", "werkzeug",
            "Werkzeug development server (flask run), threaded",
            "the seed's `flask run`; threaded, no reloader and no debugger",
            {"threaded": True},
        ),
        Deployment(
            "gunicorn", "gunicorn",
            "gunicorn, sync workers",
            "2 sync workers; --timeout 3600 because the default 30 s kills a worker mid-upload "
            "(HTTP 500); control socket and heartbeat files in the server's state dir, not $HOME",
            {"worker_class": "sync", "workers": 2, "timeout": DEFAULT_WORKER_TIMEOUT},
            gunicorn_command,
        ),
        Deployment(
            "uwsgi-seed", "pyuwsgi",
            "uWSGI as in the seed's uwsgi.ini: master, 2 processes, 2 threads",
            "mirrors the seed's uwsgi.ini; http-socket mode, --die-on-term so SIGTERM stops it",
            {"master": True, "processes": 2, "threads": 2, "http_socket": True},
            uwsgi_seed_command,
        ),
        Deployment(
            "uwsgi", "pyuwsgi",
            "uWSGI tuned for large bodies",
            "see the README's uWSGI section",
            {"master": True, "processes": 2, "threads": 2, "http_socket": True, "buffer_size": 65535},
            uwsgi_command,
        ),
        Deployment(
            "waitress", "waitress",
            "waitress, 4 threads",
            "max_request_body_size raised to 1 TiB (its 1 GiB default answers 413 to a 1 GiB upload); "
            "it buffers the whole body to a temp file before the app sees it",
            {"threads": 4, "max_request_body_size": MAX_BODY},
            waitress_command,
        ),
    )
}


def get(name: str) -> Deployment:
    try:
        return DEPLOYMENTS[name]
    except KeyError:
        raise ValueError(f"unknown deployment {name!r}; choose from {', '.join(DEPLOYMENTS)}") from None


def serve(name: str, options: ServeOptions):
    """Serve server_app (configured from UPLOAD_BENCH_* variables) with the named deployment."""
    deployment = get(name)
    if not deployment.available():
        raise SystemExit(f"deployment {name!r} needs the package {deployment.package!r}, which is not installed")
    options.state_dir.mkdir(parents=True, exist_ok=True)
    if deployment.command is None:
        from werkzeug.serving import run_simple

        from . import create_app

        run_simple(options.host, options.port, create_app(), threaded=True,
                   use_reloader=False, use_debugger=False)
        return
    argv = deployment.command(options)
    sys.stdout.flush()
    # exec, so that the pid xprocess knows is the server's master process itself
    os.execvp(argv[0], argv)
