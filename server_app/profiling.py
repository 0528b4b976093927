"""Opt-in profiling of one request: cProfile and tracemalloc, reported in the JSON answer.

Two switches, both needed: the server allows it (config PROFILING true, set by
``python -m server_app --allow-profiling``), and the request asks
for it with the header ``X-Upload-Profile: 1``. Without PROFILING no hook is even registered,
so normal requests (and every benchmarked upload) run exactly as without this module; the
header alone switches nothing on.

A profiled request runs its handler under cProfile (the current thread only) with tracemalloc
tracing. The rendered text (the cumulative cProfile listing, then the top tracemalloc lines) is
added to the JSON answer: as ``profile`` by the final hop, and by a relay as ``profile`` in its
own entry of ``via`` (via[0], which the relay inserted). A relay forwards the header to the
next hop only when it profiles the request itself.
"""

import cProfile
import io
import os
import pstats
import threading
import time
import tracemalloc

from flask import current_app, g, request

HEADER = "X-Upload-Profile"
CONFIG_KEY = "PROFILING"
CPROFILE_LINES = 30
TRACEMALLOC_LINES = 10

# tracemalloc is process-wide: start it for the first profiled request in flight and stop it
# after the last, unless it was already tracing (PYTHONTRACEMALLOC) before any of them.
_lock = threading.Lock()
_tracing = {"requests": 0, "ours": False}


def init_app(app):
    """Register the profiling hooks, only if the app's config allows profiling."""
    if not app.config[CONFIG_KEY]:
        return
    app.before_request(_start)
    app.after_request(_attach)
    app.teardown_request(_stop)


def active() -> bool:
    """Whether the current request is being profiled (always False unless profiling is allowed)."""
    return g.get("upload_profile") is not None


def _start_tracemalloc():
    with _lock:
        if _tracing["requests"] == 0:
            _tracing["ours"] = not tracemalloc.is_tracing()
            if _tracing["ours"]:
                tracemalloc.start()
            else:
                tracemalloc.reset_peak()
        _tracing["requests"] += 1


def _stop_tracemalloc():
    with _lock:
        _tracing["requests"] -= 1
        if _tracing["requests"] == 0 and _tracing["ours"]:
            tracemalloc.stop()
            _tracing["ours"] = False


def _start():
    if request.headers.get(HEADER, "").strip() != "1":
        return
    _start_tracemalloc()
    profiler = cProfile.Profile()
    state = {"profiler": profiler, "started": time.perf_counter(), "text": None, "error": None, "stopped": False}
    try:
        profiler.enable()  # profiles this thread only (Python < 3.12)
    except ValueError as exc:  # Python >= 3.12: another profiler is already active
        state["profiler"] = None
        state["error"] = str(exc)
    g.upload_profile = state


def _finish(state):
    """Stop profiling the request (once) and return the rendered text."""
    if state["stopped"]:
        return state["text"] or "(profile not rendered)"
    state["stopped"] = True
    profiler = state["profiler"]
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - state["started"]
    try:
        # Snapshot before rendering anything, so that the report's own allocations are not in it.
        memory = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot().filter_traces(_NOT_OURS)
    finally:
        _stop_tracemalloc()
    state["text"] = render(profiler, elapsed, memory, snapshot, state["error"])
    return state["text"]


# Allocations of the profiling machinery itself are not the request's.
_NOT_OURS = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, cProfile.__file__),
    tracemalloc.Filter(False, pstats.__file__),
    tracemalloc.Filter(False, __file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def render(profiler, elapsed, memory, snapshot, error=None) -> str:
    """Return the cumulative cProfile listing, then the top tracemalloc lines, as text."""
    role = "relay" if current_app.config.get("NEXT_HOP") else "final"
    out = io.StringIO()
    out.write(
        f"# {request.method} {request.path}  pid {os.getpid()}  role {role}  "
        f"Content-Type {request.mimetype or '-'}  Content-Length {request.content_length}  "
        f"stream {type(request.stream).__module__}.{type(request.stream).__qualname__}  "
        f"{elapsed:.3f} s under the profiler\n\n"
    )
    out.write(f"## cProfile (this request's thread), sorted by cumulative time, top {CPROFILE_LINES}\n")
    if profiler is None:
        out.write(f"(cProfile not available: {error})\n")
    else:
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(CPROFILE_LINES)
    current, peak = memory
    out.write(
        f"## tracemalloc (whole process): peak {peak / 1024:.1f} KiB traced during the request, "
        f"{current / 1024:.1f} KiB still traced at its end; top {TRACEMALLOC_LINES} lines by size "
        "still allocated at its end\n"
    )
    stats = snapshot.statistics("lineno")[:TRACEMALLOC_LINES]
    for stat in stats:
        out.write(f"{stat}\n")
    if not stats:
        out.write("(nothing traced)\n")
    return out.getvalue()


def _attach(response):
    state = g.get("upload_profile")
    if state is None:
        return response
    text = _finish(state)
    answer = response.get_json(silent=True) if response.is_json and not response.is_streamed else None
    if not isinstance(answer, dict):
        return response
    via = answer.get("via")
    if isinstance(via, list) and via and isinstance(via[0], dict) and via[0].get("pid") == os.getpid():
        via[0]["profile"] = text  # this server is a relay: its own entry of via
    else:
        answer["profile"] = text
    response.set_data(current_app.json.dumps(answer))
    return response


def _stop(exc=None):
    # An unhandled exception skips after_request: stop the profiler and tracemalloc here.
    state = g.get("upload_profile")
    if state is not None and not state["stopped"]:
        _finish(state)
