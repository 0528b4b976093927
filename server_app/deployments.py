"""How server_app is served: one registry entry per deployment."""

import os
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .config import ENV_VAR, IDLE_TIMEOUT, WORKER_TIMEOUT, to_environment
from .padding import PAD_VARIABLE, pad, padded_size

# Deployments whose server hands the app its connection's socket, and the WSGI environ key it is under
# (receiving's stream-splice endpoint needs it; uWSGI and waitress do not hand it over).
SOCKET_KEYS = {"werkzeug": "werkzeug.socket", "gunicorn": "gunicorn.socket"}

APP = "server_app.wsgi:app"  # what the exec'd servers load
# waitress refuses bodies of 1 GiB and more by default (413); allow the seed's sizes and beyond.
MAX_BODY = 1 << 40
# What the in-process Werkzeug server is given besides the address and the app.
WERKZEUG_OPTIONS = {"threaded": True, "use_reloader": False, "use_debugger": False}


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    state_dir: Path  # control sockets, pid files, worker heartbeats: never $HOME
    worker_timeout: int = WORKER_TIMEOUT
    idle_timeout: int = IDLE_TIMEOUT
    body_limit: int = None  # UPLOAD_LIMIT: a server that buffers the body itself is given it too
    uwsgi_socket: int = None  # uWSGI also listens there in its own protocol (nginx's uwsgi_pass)
    server_args: tuple = ()  # the user's own settings of the server (--server-args), after the suite's


# Stand-ins for what differs from server to server, so that recorded settings compare across runs.
RECORDED_OPTIONS = ServeOptions("HOST", "PORT", Path("STATE_DIR"))


@dataclass(frozen=True)
class Deployment:
    name: str
    package: str
    command: Callable = None  # ServeOptions -> argv to exec; None serves in this process
    # What the server does with a chunked body (tests/test_faults.py checks each against a real server):
    reads_chunked: bool = True  # False: it would hand the app an empty body, so the app answers 411
    dechunks: bool = False  # True: it receives the whole body first and hands the app a Content-Length

    def takes_chunked(self, hops: int) -> bool:
        """Whether a chunked body sent to this server, the entry of a chain of ``hops``, reaches the final app:
        the server must read it, and as a relay (which forwards a Content-Length) receive it whole first."""
        return self.reads_chunked and (hops == 1 or self.dechunks)

    def available(self) -> bool:
        try:
            metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return False
        return True

    def version(self) -> str:
        return metadata.version(self.package)

    @property
    def settings(self) -> dict:
        """Return what the server is really given with the default options: its command's flags, parsed."""
        return self.settings_with(())

    def settings_with(self, server_args) -> dict:
        """Return what the server is really given with these settings of the user's (--server-args)."""
        if self.command is None:
            return {"program": "werkzeug.serving.run_simple", **WERKZEUG_OPTIONS}
        return command_settings(self.argv(RECORDED_OPTIONS, tuple(server_args)))

    def argv(self, options: ServeOptions, server_args=None) -> list:
        """Return the command line that serves the app: the suite's settings, then the user's, then the app
        (a later flag wins in gunicorn's, uWSGI's and waitress's parsers)."""
        argv = self.command(options)
        extra = list(options.server_args if server_args is None else server_args)
        return [*argv[:-1], *extra, argv[-1]] if argv[-1] == APP else [*argv, *extra]


def command_settings(argv) -> dict:
    """Return a command line as a dict: program, then --flag values (True for a bare flag), then app."""
    args = list(argv)
    if args[:1] == [sys.executable] and args[1:2] == ["-m"]:
        found = {"program": args[2]}
        args = args[3:]
    else:
        found = {"program": Path(args[0]).name}
        args = args[1:]
    while args:
        token = args.pop(0)
        if not token.startswith("--"):
            found["app"] = token
            continue
        name, equals, value = token[2:].partition("=")
        if not equals:
            value = args.pop(0) if args and not args[0].startswith("--") else True
        found[name] = value
    return found


def _script(name):
    """Return the path of a console script installed beside this Python."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    return str(candidate) if candidate.exists() else name


def gunicorn_command(o: ServeOptions):
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{o.host}:{o.port}",
        "--worker-class",
        "sync",
        "--workers",
        "2",
        "--timeout",
        str(o.worker_timeout),
        "--graceful-timeout",
        "5",
        "--control-socket",
        str(o.state_dir / "gunicorn.ctl"),
        "--worker-tmp-dir",
        str(o.state_dir),
        "--access-logfile",
        "-",
        APP,
    ]


def _uwsgi_common(o: ServeOptions):
    return [
        _script("uwsgi"),
        "--http-socket",
        f"{o.host}:{o.port}",
        "--module",
        APP,
        "--die-on-term",  # otherwise SIGTERM means reload and terminate waits 20 s
        "--need-app",
        "--master",
        "--socket-timeout",
        str(o.idle_timeout),  # a read of the body waits this long, then fails
        "--pidfile",
        str(o.state_dir / "uwsgi.pid"),
        *(["--socket", f"{o.host}:{o.uwsgi_socket}"] if o.uwsgi_socket else []),
    ]


def uwsgi_seed_command(o: ServeOptions):
    return [*_uwsgi_common(o), "--processes", "2", "--threads", "2"]


def uwsgi_command(o: ServeOptions):
    return [*_uwsgi_common(o), "--processes", "2", "--threads", "2", "--buffer-size", "65535"]


def waitress_command(o: ServeOptions):
    return [
        sys.executable,
        "-m",
        "waitress",
        f"--listen={o.host}:{o.port}",
        "--threads=4",
        # waitress receives the whole body before the app runs: the limit must stop it there.
        # (it refuses a body of exactly its max_request_body_size: one more byte is the limit's own size)
        f"--max-request-body-size={o.body_limit + 1 if o.body_limit else MAX_BODY}",
        # a connection that sent nothing for this long while its request was being received is closed,
        # checked every cleanup interval
        f"--channel-timeout={o.idle_timeout}",
        f"--cleanup-interval={max(1, o.idle_timeout // 2)}",
        APP,
    ]


DEPLOYMENTS = {
    d.name: d
    for d in (
        Deployment("werkzeug", "werkzeug"),
        Deployment("gunicorn", "gunicorn", gunicorn_command),
        Deployment("uwsgi-seed", "pyuwsgi", uwsgi_seed_command, reads_chunked=False),
        Deployment("uwsgi", "pyuwsgi", uwsgi_command, reads_chunked=False),
        Deployment("waitress", "waitress", waitress_command, dechunks=True),
    )
}


# the deployments that take settings of the user's (--server-args): those whose server is a command of its own
SETTABLE = tuple(name for name, deployment in DEPLOYMENTS.items() if deployment.command is not None)


def get(name: str) -> Deployment:
    try:
        return DEPLOYMENTS[name]
    except KeyError:
        raise ValueError(f"unknown deployment {name!r}; choose from {', '.join(DEPLOYMENTS)}") from None


def serve(name: str, options: ServeOptions, config: dict):
    """Serve server_app with this configuration (a create_app dict) and the named deployment."""
    deployment = get(name)
    if not deployment.available():
        raise SystemExit(f"deployment {name!r} needs the package {deployment.package!r}, which is not installed")
    options.state_dir.mkdir(parents=True, exist_ok=True)
    if deployment.command is None:
        from werkzeug.serving import run_simple

        from . import create_app
        from .hosting import hosted

        app = hosted(config) if config["APP"] else create_app(config)
        run_simple(options.host, options.port, app, **WERKZEUG_OPTIONS)
        return
    if options.server_args and deployment.command is None:
        raise SystemExit(
            f"--server-args {' '.join(options.server_args)!r}: the {name} server runs in this process and takes no "
            f"command-line settings; give them to one of {', '.join(SETTABLE)}"
        )
    argv = deployment.argv(options)
    started_with = padded_size()  # before the environment grows: the size a duet chose (server_app.padding)
    os.environ[ENV_VAR] = to_environment(config)  # read by server_app.wsgi in the exec'd server
    if started_with is not None:
        os.environ[PAD_VARIABLE] = pad(os.environ, argv, started_with)[PAD_VARIABLE]
    sys.stdout.flush()
    # exec, so that the pid xprocess knows is the server's master process itself
    os.execvp(argv[0], argv)
