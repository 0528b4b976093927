"""Make a virtualenv whose gunicorn reads a body 8 KiB per recv() again: python -m tests.data.gunicorn_small_reads DEST

gunicorn's sync worker read a body 8 KiB per recv() (gunicorn issue 2596: about ten times slower than it could on a
30 MB body); the release installed here reads up to 1 MiB per recv() when it knows how much of the body is left
(SocketUnreader.max_body_chunk). DEST gets this checkout's dependencies from its pyproject (the deployments) with
the same gunicorn, and that one constant set back to 8 KiB, byte-compiled again: a duet against it
(--upload-against-python=DEST) times that change alone, with nobody's code of ours in it (docs/duet.md).
"""

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LARGE = "    max_body_chunk = 1024 * 1024\n"
SMALL = "    max_body_chunk = 8192  # as before the fix of gunicorn issue 2596 (tests/data/gunicorn_small_reads.py)\n"


def make(dest: Path, patch: bool = True) -> Path:
    """Create the virtualenv at dest and patch its gunicorn (unless told not to); return its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True)
    python = dest / "bin" / "python"
    gunicorn = f"gunicorn=={metadata.version('gunicorn')}"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{ROOT}[deployments]", gunicorn], check=True)
    unreader = Path(
        subprocess.run(
            [str(python), "-c", "import gunicorn.http.unreader as u; print(u.__file__)"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    if not patch:
        return python
    source = unreader.read_text()
    if source.count(LARGE) != 1:
        raise SystemExit(f"{unreader} has no line {LARGE.strip()!r}: this gunicorn reads bodies some other way")
    unreader.write_text(source.replace(LARGE, SMALL))
    subprocess.run([str(python), "-m", "compileall", "-q", str(unreader)], check=True)  # its stale .pyc replaced
    return python


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.data.gunicorn_small_reads", description=__doc__)
    parser.add_argument("dest", type=Path, help="where the virtualenv is made (e.g. .upload-versions/gunicorn-8k)")
    parser.add_argument(
        "--as-is", action="store_true", help="leave gunicorn as it is: the same virtualenv, for an A/A control"
    )
    args = parser.parse_args(argv)
    if args.dest.exists():
        parser.error(f"{args.dest} exists: give a path that does not")
    print(make(args.dest, patch=not args.as_is))


if __name__ == "__main__":
    main()
