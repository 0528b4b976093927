"""Move bytes from a socket into a file inside the kernel: os.splice through a pipe.

Used by the socket baseline's receiver (fixtures.processes.baselines) and by the stream-splice endpoint,
so that the limit and the method closest to it move bytes the same way.
"""

import errno
import fcntl
import os
import select
import socket

# Measured with sendfile over loopback into a file at 256 MB: a 1 MiB pipe (the default
# /proc/sys/fs/pipe-max-size) was fastest; 64 KiB (the default pipe), 256 KiB and 4 MiB were slower.
PIPE_SIZE = 1 << 20
# SPLICE_F_MOVE and SPLICE_F_MORE made no difference we could measure (MOVE is a no-op in current
# kernels, MORE only matters when splicing into a socket), so none are passed.
FLAGS = 0


def available() -> bool:
    """Return whether this Python and platform have os.splice (Linux, Python 3.10 and later)."""
    return hasattr(os, "splice")


def _pipe():
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:  # above /proc/sys/fs/pipe-max-size for an unprivileged user: keep the default
        pass
    return read_end, write_end


def _wait_readable(sock: socket.socket):
    """Wait until a socket with a timeout (non-blocking underneath) has data, or raise TimeoutError."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    timeout = sock.gettimeout()
    if not poller.poll(None if timeout is None else timeout * 1000):
        raise TimeoutError(errno.ETIMEDOUT, f"no data within the socket's {timeout} s timeout")


def splice_into(sock: socket.socket, out_fd: int, count: int = None) -> int:
    """Move count bytes (None: until end of stream) from sock to out_fd; return how many moved.

    Fewer than count means the peer ended the stream early. Bytes go socket -> pipe -> file
    without entering this process's memory; out_fd is written at its current position.
    """
    read_end, write_end = _pipe()
    moved = 0
    try:
        while count is None or moved < count:
            want = PIPE_SIZE if count is None else min(PIPE_SIZE, count - moved)
            try:
                in_pipe = os.splice(sock.fileno(), write_end, want, flags=FLAGS)
            except BlockingIOError:
                _wait_readable(sock)
                continue
            if not in_pipe:
                break
            while in_pipe:
                written = os.splice(read_end, out_fd, in_pipe, flags=FLAGS)
                in_pipe -= written
                moved += written
    finally:
        os.close(read_end)
        os.close(write_end)
    return moved
