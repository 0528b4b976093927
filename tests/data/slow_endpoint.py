"""Make a clone of this checkout whose chunked-copy endpoint is slower: python -m tests.data.slow_endpoint DEST [FACTOR]

The clone (of HEAD: commit what you want in it first) gets one commit: at the end of /upload/stream-chunked
the endpoint sleeps FACTOR (default 0.3) times the time the request has taken so far, so that the upload
takes about 1 + FACTOR times as long. The request's time is counted from when the client started it: the
clone's client stamps each request to that endpoint with STARTED (its wall clock: client and servers share this
machine's), and the clone's relay passes the stamp on. Only that endpoint's: a stamp on every request made the
clone's requests some 40 bytes longer than this checkout's, a change of its own in every other cell. Counted from
the endpoint's own start instead, the sleep would miss the time a server spends before the app runs: waitress
receives the whole body first, so a cell on it moved by a few percent, not 30. A duet against the clone
(--upload-against=DEST) is the test of the duet's power with a real code change (tests/test_duet.py, docs/duet.md).
"""

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
STARTED = "X-Upload-Started"
SLOWED_ENDPOINT = "stream-chunked"  # server_app's /upload/<endpoint> that the clone slows
SLOWED_PATH = f"/upload/{SLOWED_ENDPOINT}"  # as its requests' URLs end
# (file, text that must occur once, what replaces it)
RECEIVING = "server_app/receiving.py"
ENDPOINT = """    return _copy_stream(current_app.config["BLOCK_SIZE"], "stream-chunked")
"""
SLOWED = """    answer = _copy_stream(current_app.config["BLOCK_SIZE"], "stream-chunked")
    started = float(request.headers.get("{started}", time.time()))
    time.sleep({factor!r} * max(time.time() - started, 0.0))
    return answer
"""
IMPORTS = "import ssl\n"
RELAY = """    headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
"""
STAMP = """    timeout = (min(connect_timeout or CONNECT_TIMEOUT, budget), budget)
"""


def edits(factor: float) -> list:
    """Return the (file, old, new) edits that slow the clone's chunked copy by factor x the request's time."""
    return [
        (RECEIVING, IMPORTS, IMPORTS + "import time\n"),
        (RECEIVING, ENDPOINT, SLOWED.format(started=STARTED, factor=factor)),
        (
            "server_app/relaying.py",
            RELAY,
            RELAY + f'    if "{STARTED}" in request.headers:\n'
            f'        headers["{STARTED}"] = request.headers["{STARTED}"]\n',
        ),
        (
            "fixtures/uploads/clients.py",
            STAMP,
            STAMP + f'    if url.endswith("{SLOWED_PATH}"):\n'
            f'        kwargs["headers"] = {{**(kwargs.get("headers") or {{}}), "{STARTED}": repr(time.time())}}\n',
        ),
    ]


def apply(root: Path, factor: float):
    """Edit the checkout at root in place."""
    for name, old, new in edits(factor):
        path = root / name
        source = path.read_text()
        if source.count(old) != 1:
            raise ValueError(f"{name} has no single {old.strip()[:60]!r} to change: update tests/data/slow_endpoint.py")
        path.write_text(source.replace(old, new))


def make(dest: Path, factor: float) -> str:
    """Clone HEAD into dest, commit the slowed endpoint there; return the commit."""
    if not factor > 0:
        raise ValueError(f"factor {factor!r}: expected a positive number, e.g. 0.3")
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(dest)], check=True)
    apply(dest, factor)
    git = ["git", "-C", str(dest), "-c", "user.name=upload-bench", "-c", "user.email=upload-bench@localhost"]
    subprocess.run(
        [
            *git,
            "commit",
            "--quiet",
            "-am",
            f"stream-chunked sleeps {factor} x the request's time (from the client's start) at its end",
        ],
        check=True,
    )
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.data.slow_endpoint", description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="where the clone is made (must not exist)")
    parser.add_argument("factor", type=float, nargs="?", default=0.3, help="the sleep, times the request's time")
    args = parser.parse_args()
    try:
        print(make(args.dest, args.factor))
    except (ValueError, subprocess.CalledProcessError) as exc:
        sys.exit(f"error: {exc}")
