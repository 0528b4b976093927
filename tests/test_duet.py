"""The duet: two sides in one run, rounds in pairs, B/A judged with a paired test; the exit status a CI gates on."""

import json
import math
import os
import random
import signal
import stat
import subprocess
import sys

import pytest

from fixtures.data.datafiles import DataFiles
from fixtures.processes import sides
from fixtures.processes.host_memory import HELD_MS, FreedMemoryHold
from fixtures.processes.ownership import NAME_PREFIX
from fixtures.run import duet
from fixtures.run.duet import FASTER, INCONCLUSIVE, SLOWER, UNCHANGED, DuetCell, judge, pairs_floor
from fixtures.run.stats import median_interval, paired_ratio, smallest_wilcoxon_p
from fixtures.run.verdicts import DUET_MIN_EFFECT
from tests.conftest import ROOT, UPLOAD_CELLS, alive, interrupt_mid_upload, noisy, refusal, server_pids, upload_args
from tests.data.slow_endpoint import make as make_slowed_checkout

SIZE = 8 << 20


def cell(a, factor, seed, name="c", jitter=0.03):
    """Return a duet cell whose B rounds are A's times factor, each pair with its own small jitter."""
    rng = random.Random(seed)
    b = [t * factor * math.exp(rng.gauss(0, jitter)) for t in a]
    return DuetCell(f"tests/test_upload_benchmarks.py::test_upload[{name}]", SIZE, list(a), b)


# the statistics


@pytest.mark.parametrize("cells", [1, 14, 280, 2000])
def test_the_pairs_floor_is_the_fewest_with_which_one_changed_cell_can_pass_the_correction(cells):
    floor = pairs_floor(cells)
    assert smallest_wilcoxon_p(floor) <= duet.DEFAULT_FDR / cells
    assert smallest_wilcoxon_p(floor - 1) > duet.DEFAULT_FDR / cells


def test_a_paired_ratio_sees_a_change_that_the_drift_of_the_pairs_hides():
    a = [0.05 * f for f in (1.0, 1.6, 0.7, 1.3, 0.9, 2.0, 0.8, 1.1, 1.5, 0.6, 1.2, 1.8)]  # the machine drifts ±60%
    paired = paired_ratio(a, [t * 1.1 for t in a])
    assert paired.ratio == pytest.approx(1.1) and paired.low == pytest.approx(1.1)
    assert paired.p == pytest.approx(smallest_wilcoxon_p(12))  # every pair points the same way
    same = paired_ratio(a, a)
    assert (same.ratio, same.p) == (1.0, 1.0)


def test_b_over_a_is_the_estimate_and_interval_that_the_signed_rank_test_inverts():
    rng = random.Random(5)
    a = [1.0] * 20
    covered, narrower = 0, 0
    for _ in range(300):
        b = [1.01 * math.exp(rng.gauss(0, 0.05)) for _ in a]  # p lands on both sides of 0.05
        paired = paired_ratio(a, b)
        assert (paired.low > 1 or paired.high < 1) == (paired.p <= 0.05)
        covered += paired.low <= 1.01 <= paired.high
        median = median_interval([math.log(x) for x in b])
        narrower += math.log(paired.high / paired.low) < median.high - median.low
    assert 0.93 < covered / 300 <= 1  # at least 95% asked, what the exact distribution's steps give
    assert narrower / 300 > 0.75  # than the median's order-statistic interval on the same pairs, in most cells
    few = paired_ratio([1.0] * 5, [1.1, 0.9, 1.2, 1.0, 1.05])  # 5 pairs reach no 95%: the whole range
    assert (few.low, few.high, few.confidence) == pytest.approx((0.9, 1.2, 1 - 2 / 2**5))


def test_judge_flags_the_changed_cell_and_no_unchanged_one():
    a = noisy(16, 0, spread=0.5)
    cells = [cell(a, 1.3, 1, "changed"), cell(a, 0.7, 2, "faster")]
    cells += [cell(noisy(16, seed, spread=0.5), 1.0, seed, f"same-{seed}") for seed in range(10, 40)]
    judge(cells)
    assert [c.verdict for c in cells[:2]] == [SLOWER, FASTER]
    assert {c.verdict for c in cells[2:]} <= {UNCHANGED, INCONCLUSIVE}
    assert cells[0].ratio == pytest.approx(1.3, rel=0.05) and cells[0].low > 1 + DUET_MIN_EFFECT
    assert cells[0].p_adjusted <= duet.DEFAULT_FDR < cells[2].p_adjusted


def test_a_significant_change_below_the_minimum_effect_is_unchanged():
    [small] = judge([cell(noisy(16, 3), 1.02, 3, jitter=0.001)])
    assert small.p_adjusted <= duet.DEFAULT_FDR
    assert small.verdict == UNCHANGED and "smaller than the minimum effect" in small.why


def test_too_few_pairs_for_the_correction_are_inconclusive_and_say_how_many_can():
    cells = [cell(noisy(4, seed), 1.5, seed, f"c{seed}") for seed in range(20)]
    judge(cells)
    assert {c.verdict for c in cells} == {INCONCLUSIVE}
    assert f"at least {pairs_floor(20)} can" in cells[0].why


def test_a_side_over_its_budget_is_slower_or_faster_with_the_rate_it_reached():
    slow_b = DuetCell("t[b]", SIZE, noisy(8, 4), [], b_over_budget=1 << 20)
    slow_a = DuetCell("t[a]", SIZE, [], noisy(8, 5), a_over_budget=2 << 20)
    both = DuetCell("t[both]", SIZE, [], [], a_over_budget=1 << 20, b_over_budget=1 << 20)
    failed = DuetCell("t[failed]", SIZE, noisy(8, 6), noisy(8, 7), failed="md5 mismatch for 8MB")
    judge([slow_b, slow_a, both, failed])
    assert slow_b.verdict == SLOWER and "B went over its budget at 1.00 MB/s" in slow_b.why
    assert slow_b.ratio == pytest.approx(slow_b.rate("A") / 1.0)
    assert slow_a.verdict == FASTER and "A went over its budget at 2.00 MB/s" in slow_a.why
    assert both.verdict == INCONCLUSIVE and "both sides" in both.why
    assert failed.verdict == INCONCLUSIVE and "md5 mismatch" in failed.why


# the sides


def test_a_ref_that_is_neither_a_checkout_nor_a_git_ref_is_refused_by_name(tmp_path):
    with pytest.raises(sides.SideError, match="'no-such-ref-4711' is neither a directory nor a git ref"):
        sides.resolve_ref("no-such-ref-4711")
    with pytest.raises(sides.SideError, match="without server_app/ and fixtures/"):
        sides.resolve_ref(str(tmp_path))
    with pytest.raises(sides.SideError, match="is not a Python interpreter"):
        sides.interpreter(str(tmp_path / "nothing"))


def test_a_side_whose_interpreter_imports_the_code_from_elsewhere_is_refused(tmp_path):
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(checkout)], check=True)
    assert sides.probe(checkout, sys.executable)["server_app"].startswith(str(checkout))
    ignoring = tmp_path / "python"  # a Python that ignores PYTHONPATH (-E) imports the installed checkout instead
    ignoring.write_text(f'#!/bin/sh\nexec {sys.executable} -E "$@"\n')
    ignoring.chmod(ignoring.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(sides.SideError, match="imports server_app from .*, not from the checkout"):
        sides.probe(checkout, str(ignoring))


# whole runs

DUET_CELL = (
    *UPLOAD_CELLS,
    *upload_args(sizes="256KB", deployments="werkzeug", hops=1),
)


def cells_of(run):
    """Return a duet run's cells under upload_bench.duet, by test id."""
    return {c["cell"]: c for c in run["upload_bench"]["duet"]["cells"]}


# The last commit before fixtures/ was grouped into packages: its client process is fixtures.client_process.
BEFORE_THE_MOVE = "de6385e"


def test_a_side_runs_the_client_module_of_its_own_layout(tmp_path):
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "client_process.py").write_text("")
    assert sides.client_modules(tmp_path) == ("fixtures.client_process", "fixtures.methods")
    assert sides.client_modules(ROOT) == ("fixtures.processes.client_process", "fixtures.uploads.methods")


@pytest.mark.slow
def test_a_duet_against_a_commit_from_before_the_move_runs_its_old_layout(run_matrix):
    known = subprocess.run(["git", "cat-file", "-e", f"{BEFORE_THE_MOVE}^{{commit}}"], cwd=ROOT).returncode == 0
    if not known:
        pytest.skip(f"commit {BEFORE_THE_MOVE} is not in this clone's history: clone the repository in full")
    result, run = run_matrix(
        *DUET_CELL,
        "--upload-methods=request.stream-chunked",
        f"--upload-against={BEFORE_THE_MOVE}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    cells = cells_of(run)
    [record] = cells.values()
    assert run["upload_bench"]["duet"]["sides"]["B"]["commit"].startswith(BEFORE_THE_MOVE)
    assert record["pairs"] >= 6 and len(record["against_rounds"]) == record["pairs"]


@pytest.mark.slow
def test_a_duet_against_head_pairs_every_round_checks_both_sides_and_removes_its_worktree(run_matrix):
    hold = FreedMemoryHold()
    found = hold.path.read_text() if hold.path.exists() else None  # this kernel's min_free_ms, where it has one
    result, run = run_matrix(
        *DUET_CELL,
        *upload_args(methods="request.stream-chunked", against="HEAD", duet_seed=7),
        "--benchmark-save-data",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    cells = cells_of(run)
    [record] = cells.values()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert run["upload_bench"]["duet"]["sides"]["B"]["commit"] == head
    placement = run["upload_bench"]["duet"]["placement"]
    assert placement["hash_seed"] == 7 and placement["fixed_layout"], placement  # the duet seed's
    if found is None:
        assert placement["freed_memory_ms"] is None, placement
    elif os.access(hold.path, os.W_OK) or int(found) >= HELD_MS:  # held while the duet ran, as found once it ended
        assert placement["freed_memory_ms"] == max(int(found), HELD_MS), placement
        assert hold.path.read_text() == found
    else:  # not root: the placement says why
        assert placement["freed_memory_ms"] is None and any("freed memory" in why for why in placement["unplaced"])
    assert not set(placement["client_cpus"]) & set(placement["server_cpus"]), placement
    floor = run["upload_bench"]["duet"]["pairs_floor"]
    assert floor == pairs_floor(1) and record["pairs"] >= floor
    [bench] = [b for b in run["benchmarks"] if b["extra_info"].get("verdict")]
    if record["pairs"] < 8:  # the fewest rounds of a small bare cell: a duet cell stops sooner only when settled
        assert bench["extra_info"]["rounds_stopped_by"] == "settled"
    assert len(record["a_rounds"]) == len(record["against_rounds"]) == record["pairs"]
    expected = random.Random(f"7:{record['cell']}")
    assert record["duet_orders"] == "".join("BA" if expected.random() < 0.5 else "AB" for _ in range(record["pairs"]))
    assert bench["stats"]["data"] == pytest.approx(record["a_rounds"], rel=0.05)  # A's rounds, by pedantic's clock
    assert bench["extra_info"]["against_md5_verified"] == record["pairs"] == bench["extra_info"]["md5_verified"]
    assert "upload-bench duet: B against A" in result.stdout
    assert not sides.WORKTREES.exists()  # nor the directory of the worktrees, once empty
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "upload-against" not in worktrees


@pytest.mark.slow
def test_a_duet_flags_a_slowed_endpoint_and_the_gate_exits_6(run_matrix, tmp_path):
    slowed = tmp_path / "slowed"
    make_slowed_checkout(slowed, 3.0)  # the chunked copy sleeps 3x its own time at its end
    result, run = run_matrix(
        *DUET_CELL,
        *upload_args(
            methods="request.stream-chunked,request.stream-64k", against=slowed, fail_on="slower", cell_time=1
        ),
    )  # a second of pairs a cell: a verdict that does not flicker
    assert result.returncode == duet.REGRESSION_EXIT, result.stdout[-3000:]
    cells = cells_of(run)
    changed, other = (
        cells["request.stream-chunked-werkzeug-1hop-256KB"],
        cells["request.stream-64k-werkzeug-1hop-256KB"],
    )
    assert changed["verdict"] == SLOWER and changed["paired_ratio_ci_low"] > 1
    # confirmed on new servers of both sides: the slowed copy is as slow on each lifetime of them
    assert len(changed["paired_ratio_by_lifetime"]) == 2 and min(changed["paired_ratio_by_lifetime"]) > 1.5
    assert run["upload_bench"]["duet"]["second_pass"]["chains_renewed"] == 2
    # the 64 KiB copy runs none of B's sleep. Not its verdict: it was once flagged here at 1.058, confirmed on new
    # servers (docs/notes/duet-runs.md, A flag confirmed on new servers)
    assert other["paired_ratio"] < 1.25 < changed["paired_ratio"], other["verdict_why"]
    assert "flagged slower" in result.stdout and "request.stream-chunked-werkzeug-1hop-256KB: B/A" in result.stdout


@pytest.mark.slow
def test_a_wrong_md5_in_a_duet_still_fails_the_run(run_suite, tmp_path):
    data_dir = tmp_path / "data"
    datafile = DataFiles(data_dir).get(256 << 10)
    sidecar = datafile.path.with_name(datafile.path.name + ".md5.json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "md5": "0" * 32}))
    result = run_suite(
        *DUET_CELL,
        *upload_args(methods="request.stream-chunked", against="HEAD", fail_on="slower", data_dir=data_dir),
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "md5 mismatch for 256KB" in result.stdout and "1 failed" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("--upload-fail-on=slower",), "--upload-fail-on=slower judges a duet"),
        (("--upload-fail-on=faster",), "argument --upload-fail-on: invalid choice: 'faster'"),
        (("--upload-duet-placement=pinned",), "argument --upload-duet-placement: invalid choice: 'pinned'"),
        (("--upload-against=no-such-ref-4711",), "'no-such-ref-4711' is neither a directory nor a git ref"),
        (("--upload-against-python=/nonexistent/python",), "is not a Python interpreter"),
        (("--upload-against=HEAD", "--upload-target=http://127.0.0.1:9"), "cannot be used with --upload-target"),
    ],
)
def test_bad_duet_options_are_refused_by_name(args, message):
    assert message in refusal(*DUET_CELL, *args)


# real duets of this machine (tests/data/README.md)


def rejudged(name):
    """Return the cells of a saved duet judged again from their rounds, and the verdicts the run recorded."""
    saved = json.loads((ROOT / "tests" / "data" / name).read_text())["upload_bench"]["duet"]["cells"]
    cells = [
        DuetCell(
            c["test"],
            c["bytes"],
            c["a_rounds"],
            c["against_rounds"],
            a_over_budget=c["a_MBps"] * (1 << 20) if c["a_over_budget"] else None,
            b_over_budget=c["b_MBps"] * (1 << 20) if c["b_over_budget"] else None,
        )
        for c in saved
    ]
    return judge(cells), {c["cell"]: c["verdict"] for c in saved}


def only_unsure_cells_moved(cells, recorded) -> bool:
    """Tell whether judging a saved duet again kept every cell the run flagged and flagged no other. The runs were
    judged with the interval of the pairs' median; the Hodges-Lehmann interval since moves cells only between
    unchanged and inconclusive."""
    moved = [(recorded[c.name], c.verdict) for c in cells if c.verdict != recorded[c.name]]
    return all({was, now} == {UNCHANGED, INCONCLUSIVE} for was, now in moved)


def test_an_a_a_duet_of_this_machine_flags_at_most_one_cell_in_a_hundred_and_judging_it_again_agrees():
    cells, recorded = rejudged("duet-aa.json")
    assert len(cells) > 200
    flagged = duet.flagged(cells, SLOWER) + duet.flagged(cells, FASTER)
    assert len(flagged) <= 0.01 * len(cells)
    assert [c.name for c in flagged] == ["request.get_data-uwsgi-2hops-256KB"]  # the one docs/notes/duet-runs.md names
    assert only_unsure_cells_moved(cells, recorded)


def test_the_pairs_of_a_saved_a_a_duet_carry_no_drift_from_one_pair_to_the_next():
    # what docs/notes/duet-runs.md says of the saved A/A: its pairs are independent, with no drift from one to the next
    saved = json.loads((ROOT / "tests" / "data" / "duet-aa.json").read_text())["upload_bench"]["duet"]["cells"]
    lags = []
    for c in saved:
        pairs = min(len(c["a_rounds"]), len(c["against_rounds"]))
        logs = [math.log(b / a) for a, b in zip(c["a_rounds"][:pairs], c["against_rounds"][:pairs], strict=True)]
        mean = sum(logs) / len(logs) if logs else 0.0
        centred = [x - mean for x in logs]
        spread = sum(x * x for x in centred)
        if pairs >= 10 and spread > 0:
            lags.append(sum(x * y for x, y in zip(centred, centred[1:], strict=False)) / spread)
    average = sum(lags) / len(lags)
    assert len(lags) > 150
    assert -0.2 < average < 0.0  # n independent pairs give about -1/n; drift would make it positive
    assert round(average, 2) == -0.13  # the figure docs/notes/duet-runs.md gives


def test_a_duet_against_a_slowed_endpoint_flags_its_cells_and_judging_it_again_agrees():
    cells, recorded = rejudged("duet-power-1.3.json")
    assert only_unsure_cells_moved(cells, recorded)
    slower = {c.name for c in duet.flagged(cells, SLOWER)}
    endpoint = {c.name for c in cells if c.name.startswith("request.stream-chunked-")}  # and -generator: one endpoint
    # docs/notes/duet-runs.md says which: all 18 of the endpoint's cells at 8MB, 17 of 18 at 256KB, and three cells of
    # the seed's writelines (B/A 0.951, 0.894 and 1.105), which the clone's edits alone do not move
    assert {c for c in slower & endpoint if c.endswith("-8MB")} == {c for c in endpoint if c.endswith("-8MB")}
    assert len(slower & endpoint) == 35
    others = {c.name for c in duet.flagged(cells, SLOWER) + duet.flagged(cells, FASTER)} - endpoint
    assert others == {
        "request.stream-writelines-werkzeug-1hop-8MB",
        "request.stream-writelines-gunicorn-2hops-8MB",
        "request.stream-writelines-werkzeug-to-gunicorn-2hops-8MB",
    }


@pytest.mark.slow
def test_ctrl_c_in_a_duet_stops_both_sides_and_removes_the_worktree(tmp_path, upload_options):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout[:12]

    hold = FreedMemoryHold()
    found = hold.path.read_text() if hold.path.exists() else None

    def the_worktree(proc):
        """Return the run's worktree (ownership's name: the run's pid, the commit) and whether it exists now, and the
        kernel's min_free_ms then."""
        worktree = sides.WORKTREES / f"{NAME_PREFIX}{proc.pid}-{head}"
        return worktree, worktree.is_dir(), hold.path.read_text() if found is not None else None

    # SIGINT during A's warm-up upload: writelines takes half a minute for 32MB
    output, (worktree, existed, held) = interrupt_mid_upload(
        tmp_path, upload_options, signal.SIGINT, extra=["--upload-against=HEAD"], at_signal=the_worktree
    )
    assert existed, output[-3000:]
    if found is not None and os.access(hold.path, os.W_OK):  # held during the duet, put back after Ctrl-C
        assert int(held) == max(int(found), HELD_MS) and hold.path.read_text() == found
    pids = server_pids(output)
    assert len(pids) == 2, output[-3000:]  # A's server, B's server (from the worktree): a duet has no limit transfer
    assert alive(pids) == []
    assert not worktree.exists()
    assert (
        "upload-against"
        not in subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    )
    assert [p for p in (tmp_path / "basetemp").rglob("*") if p.is_file()] == []


@pytest.mark.slow
def test_a_duet_pairs_cells_behind_nginx_and_batches_of_uploads_too(run_matrix):
    from fixtures.processes import fronts

    if fronts.nginx_binary() is None:
        pytest.skip(fronts.MISSING)
    result, run = run_matrix(
        *UPLOAD_CELLS,
        *upload_args(
            sizes="256KB",
            deployments="gunicorn",
            hops=1,
            methods="request.stream-chunked",
            fronts="none,nginx",
            concurrency="1,2",
            rounds=2,
            against="HEAD",
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    cells = cells_of(run)
    assert len(cells) == 4 and all(c["pairs"] == 2 and c["b_MBps"] for c in cells.values())
    infos = {b["name"]: b["extra_info"] for b in run["benchmarks"] if "verdict" in b["extra_info"]}
    assert sorted((i["front"], i["concurrency"]) for i in infos.values()) == [
        ("nginx", 1),
        ("nginx", 2),
        ("none", 1),
        ("none", 2),
    ]
    assert all(i["against_md5_verified"] == 2 for i in infos.values())  # B's rounds, each batch checked
