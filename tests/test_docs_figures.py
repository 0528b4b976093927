"""The docs' figures are of one commit: every marked block names it, and the tool refuses what would break that."""

import subprocess
import sys
from types import SimpleNamespace

import pytest

from fixtures import ROOT
from fixtures.docs_figures import check, making
from fixtures.docs_figures.blocks import BlockError, blocks_in, page_name, pages, rewrite
from fixtures.docs_figures.render import BLOCKS, confirmations
from fixtures.report.runs import SUMMARY_KEY


def test_every_block_of_the_pages_is_of_the_commit_the_figures_were_made_at():
    assert check.block_problems(check.record()["commit"]) == []


def test_every_figure_made_is_shown_in_a_page():
    shown = {block.name for path in pages() for block in blocks_in(path.read_text(), page_name(path))}
    assert shown == set(BLOCKS)


def test_the_figures_commit_is_in_this_history():
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: clone the repository to check the figures' commit")
    commit = check.record()["commit"]
    assert subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT).returncode == 0


def test_a_block_without_its_end_is_named_with_its_line():
    text = "intro\n<!-- docs-figures: answer at abcdef1 -->\nold\n"
    with pytest.raises(BlockError, match=r"page.md:2: block 'answer' has no <!-- /docs-figures -->"):
        blocks_in(text, "page.md")


def test_a_block_no_run_makes_is_refused_with_the_known_names():
    text = "<!-- docs-figures: answr -->\n<!-- /docs-figures -->\n"
    with pytest.raises(BlockError, match=r"no figures are made for 'answr' \(line 1\); known: answer"):
        rewrite(text, "page.md", {"answer": "figures"}, "0123456789abcdef")


def test_a_block_is_rewritten_with_the_commit_and_nothing_around_it_changes():
    text = "before\n<!-- docs-figures: answer -->\nold\n<!-- /docs-figures -->\nafter\n"
    new = rewrite(text, "page.md", {"answer": "| a |\n"}, "0123456789abcdef")
    assert new == "before\n<!-- docs-figures: answer at 0123456789ab -->\n| a |\n<!-- /docs-figures -->\nafter\n"
    assert [block.commit for block in blocks_in(new, "page.md")] == ["0123456789ab"]


def test_an_unknown_run_is_a_usage_error_naming_the_runs():
    done = subprocess.run(
        [sys.executable, "-m", "fixtures.docs_figures", "run", "matrix-1GB"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "'matrix-1GB': not a run of the docs' figures; one of matrix-256MB" in done.stderr


def test_runs_are_refused_while_what_is_measured_has_uncommitted_changes(tmp_path, monkeypatch):
    for args in (
        ["init", "-q"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("a page being written is fine\n")
    monkeypatch.setattr(making, "ROOT", tmp_path)
    assert making.clean_commit()  # only the pages changed
    (tmp_path / "server_app.py").write_text("changed\n")
    with pytest.raises(making.MakingError, match=r"of no commit; commit or stash:\n\?\? server_app.py"):
        making.clean_commit()


def test_a_duets_line_says_how_many_cells_ran_again_on_new_servers_and_in_how_much_of_its_time():
    visits = [
        {"test": "test_upload[a]", "pairs": 28, "seconds": 30.0, "confirm": True},
        {"test": "test_upload[b]", "pairs": 4, "seconds": 5.0, "confirm": False},  # in doubt: not counted
        {"test": "test_upload[a]", "pairs": 28, "seconds": 40.4, "confirm": True},  # the same cell confirmed again
    ]
    run = {SUMMARY_KEY: {"duet": {"cells": [], "second_pass": {"visits": visits}}}}
    figures = SimpleNamespace(runs={"change": run, "before": {SUMMARY_KEY: {"duet": {"cells": []}}}})
    assert confirmations(figures, "change") == ", 1 cell(s) run again on new servers in 1 min 10 s of it"
    assert confirmations(figures, "before") == ""  # a run from before confirmations, or one without a second pass
