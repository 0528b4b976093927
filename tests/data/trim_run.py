"""Trim a run of the suite to what the comparison reads: python tests/data/trim_run.py RUN.json OUT.json"""

import json
import sys

EXTRA = (
    "bytes",
    "size",
    "method",
    "deployment",
    "hops",
    "limit_rounds",
    "flask_version",
    "werkzeug_version",
    "requests_version",
    "urllib3_version",
)
STATS = (
    "min",
    "max",
    "mean",
    "stddev",
    "rounds",
    "median",
    "iqr",
    "q1",
    "q3",
    "iqr_outliers",
    "stddev_outliers",
    "outliers",
    "ld15iqr",
    "hd15iqr",
    "ops",
    "total",
    "iterations",
    "data",
)
CPU = ("brand_raw", "count", "arch")


def _short(value):
    """Keep 5 significant digits of a time (or of each time in a list): 0.1 µs of a 10 ms round."""
    if isinstance(value, list):
        return [_short(v) for v in value]
    return float(f"{value:.5g}") if isinstance(value, float) else value


def trim(run: dict) -> dict:
    machine = dict(run["machine_info"])
    machine["cpu"] = {key: machine.get("cpu", {}).get(key) for key in CPU}
    return {
        "machine_info": machine,
        "commit_info": run.get("commit_info", {}),
        "datetime": run.get("datetime"),
        "version": run.get("version"),
        "benchmarks": [
            {
                "group": bench.get("group"),
                "name": bench["name"],
                "fullname": bench["fullname"],
                "params": bench.get("params"),
                "param": bench.get("param"),
                "options": bench.get("options"),
                "extra_info": {key: _short(bench["extra_info"].get(key)) for key in EXTRA},
                "stats": {key: _short(value) for key, value in bench["stats"].items() if key in STATS},
            }
            for bench in run["benchmarks"]
        ],
    }


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    with open(source) as f:
        trimmed = trim(json.load(f))
    with open(target, "w") as f:
        json.dump(trimmed, f, separators=(",", ":"))
