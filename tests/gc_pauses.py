"""Time the session's full garbage collections: add ``-p tests.gc_pauses`` to a run of the suite.

A cell keeps Python's collector off during its rounds (fixtures/run/cell.py): a collection of the session's
heap, which grows with the collected tests and the rounds kept, would otherwise land inside whichever upload
tripped it. This says how many full collections the run made and how long each took; docs/notes/duet-runs.md
("The collector") gives what it found.
"""

import gc
import time

_started = []
PAUSES = []  # seconds of each full collection


def _time(phase, info):
    if info["generation"] != 2:
        return
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        PAUSES.append(time.perf_counter() - _started.pop())


def pytest_configure(config):
    gc.callbacks.append(_time)


def pytest_unconfigure(config):
    if _time in gc.callbacks:
        gc.callbacks.remove(_time)


def pytest_terminal_summary(terminalreporter):
    if not PAUSES:
        terminalreporter.write_line("gc: no full collection in this run")
        return
    shortest, longest = min(PAUSES) * 1000, max(PAUSES) * 1000
    terminalreporter.write_line(
        f"gc: {len(PAUSES)} full collections of the session's heap ({len(gc.get_objects())} objects at the end), "
        f"{shortest:.1f}-{longest:.1f} ms each"
    )
