"""A duet that answers: which way its verdict reads (--upload-baseline), and how small a change each cell could
have seen (paired_mde)."""

import json
import math
import random
import subprocess
import sys

import pytest
from scipy.stats import wilcoxon

from fixtures.run import duet
from fixtures.run.detectable import detectable_ratio
from fixtures.run.duet import FASTER, INCONCLUSIVE, SLOWER, UNCHANGED, judge, table_lines
from fixtures.run.rounds import RoundsRule
from fixtures.run.stats import paired_ratio, signed_rank_critical
from fixtures.run.verdicts import DUET_MIN_EFFECT, past_effect
from tests.conftest import noisy, upload_args
from tests.data.slow_endpoint import SLOWED_ENDPOINT, SLOWED_PATH, STARTED
from tests.data.slow_endpoint import make as make_slowed_checkout
from tests.test_duet import DUET_CELL, cell, cells_of


@pytest.mark.slow
def test_a_baseline_duet_reads_this_checkout_relative_to_the_baseline_and_gates_on_it(run_matrix, tmp_path):
    slowed = tmp_path / "slowed"
    make_slowed_checkout(slowed, 3.0)  # the baseline is the slow one: this checkout is faster than it
    result, run = run_matrix(
        *DUET_CELL, *upload_args(methods="request.stream-chunked", baseline=slowed, fail_on="slower", cell_time=1)
    )
    assert result.returncode == 0, result.stdout[-3000:]  # faster than the baseline is no regression of this checkout
    [cell] = cells_of(run).values()
    assert cell["verdict"] == FASTER and cell["paired_ratio_of"] == "A/B" and cell["paired_ratio_ci_high"] < 1
    assert run["upload_bench"]["duet"]["ratio"] == "A/B"
    assert "duet verdicts (A (this checkout) relative to the baseline B (" in result.stdout
    assert "A/B time (95% CI)" in result.stdout


def test_the_baseline_turns_the_ratio_and_the_verdict_round():
    a = [1.0 + i / 100 for i in range(20)]
    against, baseline = cell(a, 1.3, seed=1), cell(a, 1.3, seed=1)  # B takes 1.3 times as long as A
    baseline.way = duet.direction("main", baseline=True)
    judge([against, baseline])
    assert against.verdict == SLOWER and against.ratio == pytest.approx(1.3, rel=0.05)
    assert baseline.verdict == FASTER and baseline.ratio == pytest.approx(1 / against.ratio)
    assert (baseline.low, baseline.high) == pytest.approx((1 / against.high, 1 / against.low))
    assert baseline.way.reading == "A (this checkout) relative to the baseline B (main)"
    assert any(
        line.startswith("duet verdicts (A (this checkout) relative to the baseline B (main))")
        for line in table_lines([baseline])
    )


@pytest.mark.parametrize(
    "pairs, alpha, wild, least",
    [
        pytest.param(20, 0.01, 0.0, 0.7, id="20 pairs at p 0.01"),
        pytest.param(20, 0.01, 0.15, 0.7, id="20 pairs at p 0.01, 15% of them wild"),
        # the floor of 292 cells: every pair must point the same way, and 14 pairs stand for a cell's noise roughly
        # (a normal approximation from their spread is flagged 46% of the time at its ratio, with or without wild)
        pytest.param(14, 0.05 / 292, 0.0, 0.7, id="the floor of 292 cells"),
        pytest.param(14, 0.05 / 292, 0.15, 0.5, id="the floor of 292 cells, 15% of them wild"),
    ],
)
def test_a_cells_detectable_ratio_is_flagged_with_the_power_it_promises(pairs, alpha, wild, least):
    rng = random.Random(3)

    def noise():
        return [math.exp(rng.gauss(0, 0.05 if rng.random() >= wild else 0.25)) for _ in range(pairs)]

    a = [1.0] * pairs
    seen = sorted(detectable_ratio(a, noise(), alpha) for _ in range(40))
    detectable = seen[len(seen) // 2]  # a typical cell's, from its own pairs
    assert 1.02 < detectable < 1.40
    flagged_share = sum(flags(a, [detectable * x for x in noise()], alpha) for _ in range(300)) / 300
    assert least < flagged_share < 0.97  # 80% asked
    assert detectable_ratio(a[:3], noise()[:3], alpha) == math.inf  # 3 pairs cannot reach it


@pytest.mark.parametrize(
    "first, spread, wild",
    [
        pytest.param(14, 0.08, 0.0, id="a cell that ran its floor"),
        pytest.param(6, 0.03, 0.0, id="a cell that settled after 6 pairs"),
        pytest.param(14, 0.05, 0.15, id="a cell that ran its floor, 15% of its pairs wild"),
    ],
)
def test_the_rules_detectable_ratio_is_flagged_by_the_rule_itself_with_the_power_it_promises(first, spread, wild):
    alpha = duet.pass_level(292)
    rule = RoundsRule(cell_time=0.0, size=8 << 20, pairs=duet.pairs_floor(292), level=alpha)  # a duet's first pass
    rng = random.Random(5)

    def pair():
        return math.exp(rng.gauss(0, spread if rng.random() >= wild else 0.25))

    def flagged_by_the_rule(shift):  # B's pairs as the rule asks for them, judged as the duet judges them
        a, b = [], []
        while not a or rule.more(a, 0.0, against=b):
            a.append(1.0)
            b.append(shift * pair())
        return flags(a, b, alpha)

    seen = sorted(
        detectable_ratio([1.0] * first, [pair() for _ in range(first)], alpha, rule.minimum, rule.pursuit_pairs)
        for _ in range(9)
    )
    detectable = seen[len(seen) // 2]  # a typical cell's, from its own pairs
    assert detectable < detectable_ratio([1.0] * 14, [pair() for _ in range(14)], alpha)  # the floor alone sees less
    share = sum(flagged_by_the_rule(detectable) for _ in range(100)) / 100
    assert 0.6 < share < 0.99  # 80% asked: the shortcuts (no settling, no loss of sight between) cost little


def flags(a, b, alpha: float) -> bool:
    """Return whether the duet flags these pairs at this level: p passes it and B/A is past the minimum effect."""
    paired = paired_ratio(a, b)
    return paired.p <= alpha and past_effect(paired.ratio, DUET_MIN_EFFECT)


def test_the_signed_rank_critical_value_is_where_scipys_p_passes():
    for pairs, alpha in ((8, 0.01), (14, 0.05 / 292), (33, 0.01), (50, 0.05 / 292), (60, 0.001)):
        critical = signed_rank_critical(pairs, alpha)
        passing, short = signs_with_sum(pairs, critical), signs_with_sum(pairs, critical - 1)
        assert wilcoxon(passing).pvalue <= alpha < wilcoxon(short).pvalue


def signs_with_sum(pairs: int, total: int) -> list:
    """Return the ranks 1..pairs, those summing to total positive and the others negative (W+ = total)."""
    signed, rest = [], total
    for rank in range(pairs, 0, -1):
        signed.append(rank if rank <= rest else -rank)
        rest -= max(signed[-1], 0)
    return signed


def test_every_judged_cell_says_what_it_could_have_seen_and_the_summary_splits_the_inconclusive():
    a = [1.0 + i / 100 for i in range(20)]
    steady, noisy = cell(a, 1.0, seed=1, name="steady", jitter=0.005), cell(a, 1.0, seed=2, name="noisy", jitter=0.4)
    judge([steady, noisy])
    # never below the minimum effect, which B/A itself must pass: a little above it, however steady the pairs
    assert 1 + DUET_MIN_EFFECT <= steady.detectable < 1 + DUET_MIN_EFFECT + 0.005
    assert noisy.detectable > 1.25 and noisy.verdict == INCONCLUSIVE and steady.verdict == UNCHANGED
    assert steady.record()["paired_mde"] == steady.detectable
    lines = table_lines([steady, noisy])
    assert "1 only beyond ×1.25: noisy" in lines[-2]
    assert lines[-1].startswith("inconclusive: 0 could have flagged a change of ×1.1 and did not, 1 could not have;")
    assert "the 95% interval of 0 lies within ×1.1 either way" in lines[-1]


def test_a_cell_that_settled_before_its_floor_is_asked_what_its_floor_would_have_seen():
    a = [1.0 + i / 100 for i in range(20)]
    early = cell(a[:6], 1.0, seed=1, name="early", jitter=0.005)  # 6 pairs: settled, but cannot pass 0.05 / 3
    cut = cell(a[:6], 1.0, seed=2, name="cut", jitter=0.4)
    full = cell(a, 1.0, seed=3, name="full", jitter=0.005)
    judge([early, cut, full])
    assert (early.verdict, early.detectable, cut.verdict) == (UNCHANGED, math.inf, INCONCLUSIVE)
    assert full.detectable < math.inf
    summary = table_lines([early, cut, full])[-2]
    assert "; 2 could flag none (too few pairs: 1 of them settled unchanged first)" in summary
    early.floor, early.horizon = 14, 42  # as the rounds rule gives them: what its floor would have seen
    judge([early, cut, full])
    assert 1 + DUET_MIN_EFFECT <= early.detectable < 1.10


# Run in the slowed clone: its client posts to a real HTTP server that records which request paths carried the stamp.
STAMPED_PATHS = """
import http.server, json, sys, threading
from fixtures.uploads.clients import _post_response
stamped = []
class Record(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if sys.argv[1] in self.headers:
            stamped.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
threading.Thread(target=server.serve_forever, daemon=True).start()
for endpoint in sys.argv[2:]:
    _post_response(f"http://127.0.0.1:{server.server_port}/upload/{endpoint}", 5, lambda: 0, data=b"body")
server.shutdown()
print(json.dumps(stamped))
"""


def test_the_slowed_clone_stamps_only_its_slowed_endpoints_requests(tmp_path):
    slowed = tmp_path / "slowed"
    make_slowed_checkout(slowed, 0.15)
    endpoints = [SLOWED_ENDPOINT, "stream-64k", "get-data"]
    done = subprocess.run(
        [sys.executable, "-c", STAMPED_PATHS, STARTED, *endpoints], cwd=slowed, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # a stamp on the others' requests too would make every cell of a power duet differ by its bytes
    assert json.loads(done.stdout) == [SLOWED_PATH]


def test_a_few_pairs_within_the_minimum_effect_are_not_called_unchanged():
    [few] = judge([cell(noisy(3, 8), 1.0, 8, jitter=0.001)])
    [enough] = judge([cell(noisy(12, 9), 1.0, 9, jitter=0.001)])
    assert few.high <= 1 + DUET_MIN_EFFECT and few.verdict == INCONCLUSIVE and "not 95%" in few.why
    assert enough.verdict == UNCHANGED
