"""Keep a server's arguments and environment at the size its launcher padded them to, across its exec.

A duet pads every process it starts to one size (fixtures.processes.placement): their bytes sit at the top
of a new process's stack, and a side whose paths are longer would otherwise run with everything below
shifted. A deployment that execs its server (gunicorn, uWSGI, waitress) starts it with other arguments
and environment; resizing the padding keeps the size the launcher chose. No padding: nothing changes.
"""

import os
import sys

PAD_VARIABLE = "UPLOAD_BENCH_PAD"


def starting_bytes(args, env) -> int:
    """Return the bytes execve copies of these arguments and this environment (each string and its NUL)."""
    return sum(len(os.fsencode(str(a))) + 1 for a in args) + sum(
        len(os.fsencode(k)) + len(os.fsencode(v)) + 2 for k, v in env.items()
    )


def padded_size():
    """Return the bytes this process started with when its launcher padded them, else None."""
    return starting_bytes(sys.orig_argv, os.environ) if PAD_VARIABLE in os.environ else None


def pad(env: dict, args, total: int) -> dict:
    """Return env with a padding that brings args and env to ``total`` bytes (or no padding, if over)."""
    env = {k: v for k, v in env.items() if k != PAD_VARIABLE}
    taken = starting_bytes(args, env) + len(PAD_VARIABLE) + 2
    env[PAD_VARIABLE] = "." * max(total - taken, 0)
    return env
