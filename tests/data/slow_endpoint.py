"""Make a clone of this checkout whose chunked-copy endpoint is slower: python -m tests.data.slow_endpoint DEST [FACTOR]

The clone (of HEAD: commit what you want in it first) gets one commit: at the end of /upload/stream-chunked
the endpoint sleeps FACTOR (default 0.3) times the time the request has taken so far, so that the endpoint
takes about 1 + FACTOR times as long. A duet against it (--upload-against=DEST) is the test of the duet's
power with a real code change (tests/test_duet.py, README "Did this change make uploads slower?").
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
IMPORTS = "import ssl\n"
ENDPOINT = '''    return _copy_stream(current_app.config["BLOCK_SIZE"], "stream-chunked")
'''


def slowed_source(source: str, factor: float) -> str:
    """Return receiving.py with the chunked-copy endpoint sleeping factor x its own time at its end."""
    if source.count(ENDPOINT) != 1 or source.count(IMPORTS) != 1:
        raise ValueError("server_app/receiving.py has no single chunked-copy endpoint to slow down")
    slowed = ("    started = time.perf_counter()\n"
              f"    answer = {ENDPOINT.strip().removeprefix('return ')}\n"
              f"    time.sleep({factor!r} * (time.perf_counter() - started))\n"
              "    return answer\n")
    return source.replace(IMPORTS, IMPORTS + "import time\n").replace(ENDPOINT, slowed)


def make(dest: Path, factor: float) -> str:
    """Clone HEAD into dest, commit the slowed endpoint there; return the commit."""
    if not factor > 0:
        raise ValueError(f"factor {factor!r}: expected a positive number, e.g. 0.3")
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(dest)], check=True)
    receiving = dest / "server_app" / "receiving.py"
    receiving.write_text(slowed_source(receiving.read_text(), factor))
    git = ["git", "-C", str(dest), "-c", "user.name=upload-bench", "-c", "user.email=upload-bench@localhost"]
    subprocess.run([*git, "commit", "--quiet", "-am", f"stream-chunked sleeps {factor} x its own time at its end"],
                   check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.splitlines()[0])
    try:
        print(make(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) == 3 else 0.3))
    except (ValueError, subprocess.CalledProcessError) as exc:
        sys.exit(f"error: {exc}")
