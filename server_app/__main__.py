"""Serve server_app: python -m server_app --port N --upload-dir D [--next-hop URL]."""

import argparse
import os
import sys
from pathlib import Path

from . import ENV_PREFIX
from .deployments import DEFAULT_WORKER_TIMEOUT, DEPLOYMENTS, ServeOptions, serve


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m server_app", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--upload-dir", type=Path, required=True, help="where uploads are stored")
    parser.add_argument(
        "--next-hop",
        default=os.environ.get(f"{ENV_PREFIX}NEXT_HOP"),
        help="base URL of the next server: this one then relays every upload there "
        f"(default: ${ENV_PREFIX}NEXT_HOP)",
    )
    parser.add_argument("--deployment", default="werkzeug", choices=sorted(DEPLOYMENTS))
    parser.add_argument(
        "--max-content-length", type=int, default=None,
        help="refuse bodies over this many bytes with 413, by their Content-Length (request.stream is left as the server gives it)"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help="where the server keeps control sockets and pid files (default: UPLOAD_DIR.state)",
    )
    parser.add_argument(
        "--worker-timeout", type=int, default=DEFAULT_WORKER_TIMEOUT,
        help=f"seconds a worker may spend on one request (default: {DEFAULT_WORKER_TIMEOUT})",
    )
    parser.add_argument(
        "--allow-profiling", action="store_true",
        help="profile (cProfile + tracemalloc) requests that carry the header X-Upload-Profile: 1 "
        f"and add the result to the answer (sets {ENV_PREFIX}PROFILING=1); without it the header is ignored",
    )
    parser.add_argument(
        "--test-endpoints", action="store_true",
        help="add POST /test/allocate?mb=N, which holds N MiB: for testing the memory measurement",
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port (1-65535)")
    return args


def _switch(name, on):
    # The command-line flag is the only switch: an inherited variable turns nothing on.
    if on:
        os.environ[f"{ENV_PREFIX}{name}"] = "1"
    else:
        os.environ.pop(f"{ENV_PREFIX}{name}", None)


def main(argv=None):
    args = parse_args(argv)
    os.environ[f"{ENV_PREFIX}UPLOAD_DIR"] = str(args.upload_dir.resolve())
    if args.next_hop:
        os.environ[f"{ENV_PREFIX}NEXT_HOP"] = args.next_hop
    if args.max_content_length is not None:
        os.environ[f"{ENV_PREFIX}UPLOAD_LIMIT"] = str(args.max_content_length)
    _switch("TEST_ENDPOINTS", args.test_endpoints)
    _switch("PROFILING", args.allow_profiling)
    print(
        f"server_app: {args.deployment} on http://{args.host}:{args.port} "
        f"upload_dir={args.upload_dir} next_hop={args.next_hop}"
        + (" profiling=allowed" if args.allow_profiling else ""),
        flush=True,
    )
    state_dir = args.state_dir or args.upload_dir.with_name(args.upload_dir.name + ".state")
    serve(args.deployment, ServeOptions(args.host, args.port, state_dir.resolve(), args.worker_timeout))


if __name__ == "__main__":
    sys.exit(main())
