"""Histories with known steps, for the tests of fixtures.history: saved runs of made-up commits, one of whose
benchmarks gets slower at a known run, and series of levels with this machine's measured noise."""

import json
import math
import random
from pathlib import Path

import numpy as np

from fixtures.history.points import Run, load, points_of

DATA = Path(__file__).parent / "data"
SERIES = 20  # runs in a synthetic series, the step between the 10th and the 11th

MiB = 2**20
# (method, deployment): the benchmarks of every synthetic run, at 8MB over one hop
CELLS = (("request.files", "werkzeug"), ("request.stream-chunked", "werkzeug"), ("request.files", "gunicorn"))
SLOWED = "test_upload[request.stream-chunked-werkzeug-1hop-8MB]"


def name_of(method: str, deployment: str) -> str:
    return f"test_upload[{method}-{deployment}-1hop-8MB]"


def commit_of(number: int) -> str:
    return f"{number:07x}".ljust(40, "c")


def write_runs(
    directory: Path, count=10, step_at=6, factor=1.5, noise=0.03, node="bench-a", seed=0, werkzeug=lambda n: "3.1.0"
) -> list:
    """Write count runs NNNN_<commit>.json of commits 1, 2, ... (by commit time) into directory; from run
    step_at on, SLOWED takes factor times as long; run n recorded werkzeug(n). Return the paths."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(1, count + 1):
        benchmarks = []
        for method, deployment in CELLS:
            name = name_of(method, deployment)
            slow = factor if name == SLOWED and number >= step_at else 1.0
            limits = [0.01 * math.exp(rng.gauss(0, noise)) for _ in range(7)]
            data = [t * 10 * slow * math.exp(rng.gauss(0, noise)) for t in limits]
            median = sorted(data)[len(data) // 2]
            benchmarks.append(
                {
                    "group": None,
                    "name": name,
                    "fullname": f"tests/test_upload_benchmarks.py::{name}",
                    "extra_info": {
                        "bytes": 8 * MiB,
                        "size": "8MB",
                        "method": method,
                        "deployment": deployment,
                        "hops": 1,
                        "limit_rounds": limits,
                        "werkzeug_version": werkzeug(number),
                    },
                    "stats": {"median": median, "min": min(data), "max": max(data), "rounds": len(data), "data": data},
                }
            )
        run = {
            "machine_info": {"node": node, "cpu": {"brand_raw": "Test CPU", "count": 2}},
            "commit_info": {"id": commit_of(number), "time": f"2026-01-{number:02d}T00:00:00+00:00", "dirty": False},
            "datetime": f"2026-02-{number:02d}T00:00:00+00:00",
            "version": "5.1.0",
            "benchmarks": benchmarks,
        }
        path = directory / f"{number:04d}_{commit_of(number)[:7]}.json"
        path.write_text(json.dumps(run), encoding="utf-8")
        paths.append(path)
    return paths


def measured_noise(first: str, second: str) -> np.ndarray:
    """Return what one run's level deviates by: the differences of two runs of one commit, over sqrt(2)."""
    levels = [{p.name: p.level for p in points_of(Run(DATA / n, load(DATA / n)))} for n in (first, second)]
    return np.array([(levels[1][k] - levels[0][k]) / math.sqrt(2) for k in levels[0] if k in levels[1]])


def synthetic(noise, seed: int, step: float = 1.0) -> np.ndarray:
    """A series of SERIES levels whose deviations are drawn from the measured ones; slower by step from the middle."""
    rng = np.random.default_rng(seed)
    values = rng.choice(noise, SERIES) * rng.choice([-1, 1], SERIES)
    values[SERIES // 2 :] -= math.log(step)
    return values
