"""Trim a run of the suite to what the comparison reads: python tests/data/trim_run.py RUN.json OUT.json"""

import json
import sys

EXTRA = ("bytes", "size", "method", "deployment", "hops", "limit_rounds")
STATS = ("min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iterations", "ops", "data")
CPU = ("brand_raw", "count", "arch")


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
                "extra_info": {key: bench["extra_info"].get(key) for key in EXTRA},
                "stats": {key: (round(value, 9) if key != "data" else [round(t, 9) for t in value])
                          for key, value in bench["stats"].items() if key in STATS},
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
