"""Copy a run with one method made slower: python -m tests.data.slow_method RUN.json METHOD FACTOR OUT.json

METHOD is a method's name as the run records it (extra_info "method", e.g. "request.stream (chunked copy)").
The copy is what a run would have recorded had every round of that method taken FACTOR times as long: the
test of a comparison's power (tests/test_trust.py, docs/trust.md).
"""

import argparse
import copy
import json
import sys

SCALED_STATS = ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev", "ld15iqr", "hd15iqr")


def scaled(bench: dict, factor: float) -> dict:
    """Return a copy of a benchmark whose every round, and so every time statistic, is ``factor`` times longer."""
    bench = copy.deepcopy(bench)
    stats = bench["stats"]
    stats["data"] = [t * factor for t in stats["data"]]
    for key in SCALED_STATS:
        if key in stats:
            stats[key] *= factor
    return bench


def slowed(run: dict, method: str, factor: float) -> dict:
    """Return a copy of a run in which every round of one method took ``factor`` times as long."""
    if not any(bench["extra_info"].get("method") == method for bench in run["benchmarks"]):
        methods = sorted({b["extra_info"].get("method") for b in run["benchmarks"]} - {None})
        raise ValueError(f"no benchmark of method {method!r} in the run: it has {', '.join(map(repr, methods))}")
    changed = copy.deepcopy(run)
    changed["benchmarks"] = [
        scaled(b, factor) if b["extra_info"].get("method") == method else b for b in changed["benchmarks"]
    ]
    return changed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.data.slow_method", description=__doc__.splitlines()[0])
    parser.add_argument("source", metavar="RUN.json")
    parser.add_argument("method", metavar="METHOD")
    parser.add_argument("factor", metavar="FACTOR")
    parser.add_argument("target", metavar="OUT.json")
    args = parser.parse_args()
    with open(args.source) as f:
        run = json.load(f)
    try:
        changed = slowed(run, args.method, float(args.factor))
    except ValueError as exc:  # an unknown method, or a factor that is not a number
        sys.exit(f"error: {exc}")
    with open(args.target, "w") as f:
        json.dump(changed, f, separators=(",", ":"))
