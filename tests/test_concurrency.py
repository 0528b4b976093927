"""Uploads at once: a batch of client processes through one chain, each upload checked, the batch's figures."""

import re

import pytest

from fixtures.report.document import write_report
from fixtures.run.concurrency import RssSampler
from tests.conftest import ONE_ROUND_AT_1MB, RUN_JSON, UPLOAD_CELLS, upload_args


def test_sampler_sums_every_process_of_the_chain_at_once(final):
    sampler = RssSampler([final]).start()
    summed = sampler.stop()
    assert summed >= sum(p.memory_info().rss for p in final.processes()) * 0.9 > 0


@pytest.mark.slow
def test_batch_run_checks_every_upload_and_records_the_batchs_figures(run_matrix, tmp_path):
    result, run = run_matrix(
        *ONE_ROUND_AT_1MB,
        *upload_args(concurrency="1,3", deployments="werkzeug", hops=1, methods="request.stream-chunked"),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    infos = {b["name"]: b["extra_info"] for b in run["benchmarks"]}
    batch = infos["test_upload[request.stream-chunked-werkzeug-1hop-x3-1MB]"]
    assert batch["concurrency"] == 3 and batch["uploads"] == 3 and batch["uploads_failed"] == 0  # the timed round's
    assert 0 < batch["upload_p50_s"] <= batch["upload_p95_s"] <= batch["upload_max_s"]
    assert batch["server_peak_rss_summed"] >= batch["server_peak_rss"] > 0
    single = infos["test_upload[request.stream-chunked-werkzeug-1hop-1MB]"]
    assert single["concurrency"] == 1 and single["uploads"] == 1
    summary = run["upload_bench"]
    assert (
        summary["md5_checked"] == 2 * 2 + 2 + 2 * 3 and summary["md5_mismatches"] == 0
    )  # baselines, 1, 3: warm-up + round
    assert summary["bytes_received"] == summary["bytes_sent"] == summary["md5_checked"] << 20
    report = write_report([tmp_path / RUN_JSON], tmp_path / "report").read_text()
    assert re.search(r"\| 1MB \| request\.stream \(chunked copy\) \| werkzeug \| 1 \| [\d.]+ \| .* \| 0 \|", report)
    assert (tmp_path / "report" / "concurrency.png").stat().st_size > 0
    assert "| At once |" in report


@pytest.mark.slow
def test_a_batch_whose_uploads_fail_says_how_many_and_why(run_matrix):
    result, run = run_matrix(
        *UPLOAD_CELLS,
        *upload_args(
            rounds=1,
            sizes="2MB",
            concurrency=3,
            deployments="werkzeug",
            hops=1,
            methods="request.stream-writelines",
            timeout=1,
        ),
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert re.search(r"[123] of 3 uploads at once failed: [123]× over the budget", result.stdout), result.stdout[-3000:]
