"""The benchmark matrix: every cell uploads a real file over a real socket and checks its md5.

The session plugin (fixtures/session.py) owns the servers, data files and totals; a cell's run
(fixtures/run/cell.py) owns its rounds. The baselines are the disk copy and the machine's limit.
"""


def test_baseline(benchmark, request, baseline, bench_session):
    kind, size, link = baseline
    with bench_session.baseline(request.node, benchmark, kind, size, link) as run:
        benchmark.pedantic(run.round, setup=run.setup, teardown=run.teardown, rounds=run.rounds)


def test_upload(benchmark, request, cell, bench_session):
    with bench_session.cell(request.node, benchmark, cell) as run:
        benchmark.pedantic(run.round, setup=run.setup, teardown=run.teardown, rounds=run.rounds)
