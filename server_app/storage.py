"""Store uploads under server-generated names, atomically."""

import os
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

STORED_NAME = re.compile(r"upload-[0-9a-f]{32}")
PARTIAL_SUFFIX = ".partial"


class StoredUpload:
    """A finished upload: its server-generated name, path and size."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self.bytes = path.stat().st_size


def sync_directory(directory: Path):
    """Flush a directory's entries (a rename into it) to the disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def new_upload(upload_dir: Path, check=None, durable=False):
    """Yield a file to write an upload into; publish it under its final name only on success.

    The body is written to a hidden ``.partial`` file and renamed when complete, so an
    aborted upload (client gone, parse error, exception) leaves nothing in upload_dir.
    ``check(size)``, called with the bytes written before the rename, may raise to refuse the
    body (short, empty): a refused body is never visible under a public name.
    ``durable`` fsyncs the file before the rename and the directory after it, so that once the
    block ends (and the server answers) the upload survives a crash of the machine.
    The result object is filled in after the ``with`` block ends.
    """
    name = f"upload-{uuid.uuid4().hex}"
    final = upload_dir / name
    partial = upload_dir / f".{name}{PARTIAL_SUFFIX}"
    result = {}
    try:
        with open(partial, "xb") as out:
            yield out, result
            if check is not None:
                out.flush()
                check(out.tell())
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(partial, final)
        if durable:
            sync_directory(upload_dir)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    result["stored"] = StoredUpload(final)


def stored_path(upload_dir: Path, name: str) -> Path:
    """Return the path of a stored upload, or raise ValueError for any other name."""
    if not STORED_NAME.fullmatch(name):
        raise ValueError(f"not an upload name: {name!r}")
    return upload_dir / name
