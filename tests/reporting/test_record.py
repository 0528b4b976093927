"""The figures of a cell, defined once (fixtures.run.record): saved runs give the figures they gave before."""

import json
import math

import pytest

from fixtures import ROOT
from fixtures.history.points import Run, points_of
from fixtures.report.model import Benchmark
from fixtures.report.socket_limit import socket_fraction, socket_medians
from fixtures.report.tables import limit_note
from fixtures.run.record import Record, fraction_of_limit, rate

SAVED_RUNS = ("aa-1.json", "power-1.json", "run-1MB-2MB-16rounds.json", "writelines-werkzeug-3.1.8.json")
# What the code before fixtures.run.record computed from those runs: figures_of of each, at 0216044
BEFORE = ROOT / "tests" / "data" / "figures-before-record.json"


def figures_of(name: str) -> dict:
    """Return each benchmark's rate and fraction of the limit, as the report and the history read them."""
    path = ROOT / "tests" / "data" / name
    data = json.loads(path.read_text())
    benchmarks = [Benchmark.from_json(b) for b in data["benchmarks"]]
    limits = socket_medians(benchmarks)
    return {
        "report": {b.name: [b.rate(), socket_fraction(b, limits)] for b in benchmarks},
        "history": {p.name: [p.rate, p.fraction] for p in points_of(Run(path, data))},
    }


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in SAVED_RUNS])
def test_saved_runs_give_the_figures_they_gave_before_the_record(name):
    before = json.loads(BEFORE.read_text())[name]
    now = json.loads(json.dumps(figures_of(name)))
    assert now.keys() == before.keys()
    for reader in before:
        assert now[reader].keys() == before[reader].keys() and before[reader]
        for cell, figures in before[reader].items():
            for was, is_ in zip(figures, now[reader][cell], strict=True):
                assert (was is None and is_ is None) or math.isclose(was, is_, rel_tol=1e-12), (reader, cell)


def test_a_batch_counts_every_upload_of_its_round():
    single = Record({"bytes": 8 << 20, "median_s": 0.5, "median_ci_low": 0.4, "median_ci_high": 1.0})
    batch = Record({**single.info, "concurrency": 4})
    assert single.rate() == rate(8 << 20, 0.5) == 16.0 and batch.rate() == 64.0
    assert single.rate_interval() == (8.0, 20.0) and batch.rate_interval() == (32.0, 80.0)
    assert fraction_of_limit(0.25, 0.5, 4) == 2.0
    assert rate(0, 1.0) is None and fraction_of_limit(None, 1.0) is None and Record({}).rate_interval() is None


def test_the_report_says_which_fractions_are_not_their_own_runs():
    data = json.loads((ROOT / "tests" / "data" / "aa-1.json").read_text())
    benchmarks = [Benchmark.from_json(b) for b in data["benchmarks"]]
    limits = socket_medians(benchmarks)
    borrowed = sum(socket_fraction(b, limits) is not None for b in benchmarks)
    assert borrowed > 200 and f"except for {borrowed} benchmark(s) whose run recorded none" in limit_note(
        benchmarks, limits
    )
    for bench in data["benchmarks"]:
        bench["extra_info"]["fraction_of_socket_limit"] = 0.5
    recorded = [Benchmark.from_json(b) for b in data["benchmarks"]]
    assert limit_note(recorded, socket_medians(recorded)) == ""
