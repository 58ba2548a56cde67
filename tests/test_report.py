"""benchfleet report: one self-contained page, opened in headless Chromium (the distribution's) with no console
error and no network request; a screenshot of it is kept for the record."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.browser import visit
from tests.test_board import _trees
from tests.treeparts import SYSTEM

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
ROOT = Path(__file__).resolve().parents[1]


def keep_screenshot(shot: Path, name: str) -> Path:
    """The screenshot, kept beside the test run for the record ($BENCHFLEET_TEST_ARTIFACTS, default
    .test-artifacts/ in the checkout, which git ignores)."""
    folder = Path(os.environ.get("BENCHFLEET_TEST_ARTIFACTS", ROOT / ".test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(shot, folder / name))


def test_report_of_trees_and_a_compared_tree_opens_offline_without_errors(recorded_run, tmp_path):
    ours, theirs = _trees(recorded_run, tmp_path)
    shutil.copytree(ours / "closed" / "TestOrg", ours / "closed" / "Evil<script>alert(1)")
    page = tmp_path / "report.html"
    out = subprocess.run([BENCHFLEET, "report", str(ours), "--compare", str(theirs), "--out", str(page),
                          "--title", "Lab & friends"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = page.read_text()
    # self-contained: no script, style, image or font from anywhere (XML namespaces are names, not requests)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<script>alert(1)" not in text and "Evil&lt;script&gt;" in text  # names from trees are escaped
    seen = visit(page, tmp_path / "report.png", filter_text=f"{SYSTEM}_c")
    keep_screenshot(tmp_path / "report.png", "report-trees.png")
    assert seen.console_errors == [] and seen.page_errors == [] and seen.requests == []
    assert seen.title == "Lab & friends"
    # per benchmark: Offline throughput, SingleStream and MultiStream latency; the board and every result
    assert seen.figures >= 3
    assert "Contributor board" in seen.text and "Every result" in seen.text and "Systems" in seen.text
    assert "Quick-mode results are included" in seen.text
    assert seen.filtered_rows == 6  # the filter box leaves system c's three results, of TestOrg and its copy
