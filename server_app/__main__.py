"""Serve server_app: python -m server_app --port N --upload-dir D [--next-hop URL]."""

import argparse
import shlex
import sys
from pathlib import Path

from .config import IDLE_TIMEOUT, WORKER_TIMEOUT, ConfigError, settings
from .deployments import DEPLOYMENTS, ServeOptions, serve

# config key: (argparse dest, the flag that sets it)
FLAGS = {
    "UPLOAD_DIR": ("upload_dir", "--upload-dir"),
    "NEXT_HOP": ("next_hop", "--next-hop"),
    "UPLOAD_LIMIT": ("max_content_length", "--max-content-length"),
    "PROFILING": ("allow_profiling", "--allow-profiling"),
    "DURABLE": ("durable", "--durable"),
    "DEPLOYMENT": ("deployment", "--deployment"),
    "TEST_ENDPOINTS": ("test_endpoints", "--test-endpoints"),
    "IDLE_TIMEOUT": ("idle_timeout", "--idle-timeout"),
    "APP": ("app", "--app"),
    "APP_PATH": ("app_path", "--app-path"),
    "FORWARD_ANY_PATH": ("forward_any_path", "--forward-any-path"),
    "RELAY_READ_TIMEOUT": ("worker_timeout", "--worker-timeout"),
}


def _directory(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory path, got an empty string")
    return Path(text).resolve()


def _server_args(text):
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} cannot be split as a shell would: {exc}") from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m server_app", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--upload-dir", type=_directory, required=True, help="where uploads are stored")
    parser.add_argument(
        "--next-hop",
        default=None,
        help="base URL of the next server: this one then relays every upload there",
    )
    parser.add_argument("--deployment", default="werkzeug", choices=sorted(DEPLOYMENTS))
    parser.add_argument(
        "--max-content-length",
        type=int,
        default=None,
        help="refuse bodies over this many bytes with 413, by their Content-Length "
        "(request.stream is left as the server gives it)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the server keeps control sockets and pid files (default: UPLOAD_DIR.state)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=int,
        default=WORKER_TIMEOUT,
        help="seconds a worker may spend on one request, and a relay may wait for the next hop's answer "
        f"(default: {WORKER_TIMEOUT})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=int,
        default=IDLE_TIMEOUT,
        help="seconds a body may go without a byte before it is dropped (408), and a relay's next hop "
        f"may take to connect or to take a block of the body (default: {IDLE_TIMEOUT})",
    )
    parser.add_argument(
        "--allow-profiling",
        action="store_true",
        help="profile (cProfile + tracemalloc) requests that carry the header X-Upload-Profile: 1 "
        "and add the result to the answer; without it the header is ignored",
    )
    parser.add_argument(
        "--uwsgi-socket",
        type=int,
        default=None,
        metavar="PORT",
        help="uWSGI only: also listen on PORT in the uwsgi protocol, for nginx's uwsgi_pass (HTTP stays on --port)",
    )
    parser.add_argument(
        "--server-args",
        type=_server_args,
        default=(),
        metavar="ARGS",
        help="the deployment's own settings, one string as a shell would split it, given to the server after "
        "the suite's (e.g. '--workers 4 --worker-class gthread' for gunicorn); not for werkzeug",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="fsync each stored upload and its directory before answering (a 200 means the bytes are on the disk)",
    )
    parser.add_argument(
        "--app",
        default=None,
        metavar="MODULE:NAME",
        help="serve this WSGI app of your own instead of server_app (NAME() calls a factory); GET /health is "
        "answered before it, every other request goes to it untouched",
    )
    parser.add_argument("--app-path", type=_directory, default=None, help="the directory --app is imported from")
    parser.add_argument(
        "--forward-any-path",
        action="store_true",
        help="as a relay (--next-hop): forward a POST or PUT of any path with its query and headers, and answer "
        "with the next hop's answer as it came (in front of an app of your own)",
    )
    parser.add_argument(
        "--test-endpoints",
        action="store_true",
        help="add POST /test/allocate?mb=N, which holds N MiB: for testing the memory measurement",
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port (1-65535)")
    if args.uwsgi_socket is not None and not (args.deployment.startswith("uwsgi") and 0 < args.uwsgi_socket < 65536):
        parser.error(
            f"--uwsgi-socket {args.uwsgi_socket}: a TCP port (1-65535), for the uwsgi deployments only "
            f"(this is {args.deployment})"
        )
    # The flags are the only switches: nothing inherited from the environment turns anything on.
    try:
        args.config = settings({key: getattr(args, dest) for key, (dest, _) in FLAGS.items()})
    except ConfigError as exc:
        parser.error(f"{FLAGS[exc.key][1]}: {exc}" if exc.key in FLAGS else str(exc))
    if args.app:  # a clear usage error here, not a worker that fails to boot after the exec
        from .hosting import HostError, load

        try:
            load(args.app, args.app_path)
        except HostError as exc:
            parser.error(f"--app: {exc}")
    return args


def main(argv=None):
    args = parse_args(argv)
    print(
        f"server_app: {args.deployment} on http://{args.host}:{args.port} "
        + (f"serving {args.app} " if args.app else "")
        + f"upload_dir={args.upload_dir} next_hop={args.next_hop}"
        + (" profiling=allowed" if args.allow_profiling else ""),
        flush=True,
    )
    state_dir = args.state_dir or args.upload_dir.with_name(args.upload_dir.name + ".state")
    options = ServeOptions(
        args.host,
        args.port,
        state_dir.resolve(),
        args.worker_timeout,
        args.idle_timeout,
        args.config["UPLOAD_LIMIT"],
        args.uwsgi_socket,
        args.server_args,
    )
    serve(args.deployment, options, args.config)


if __name__ == "__main__":
    sys.exit(main())
