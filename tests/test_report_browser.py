"""The HTML report opened in headless Chromium: no console errors, every chart drawn at a real size.

Needs a Chromium (Debian: `apt install chromium`); skipped with the reason when there is none.
A copy of the report gets a small probe script that records error events and the size of every
chart once the page has loaded; Chromium prints the resulting DOM, and its log shows any console
message. The report itself has no script.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aura_sentinel.pipeline import ScoreSettings, score_file
from aura_sentinel.report import make_report

from conftest import REPO

MODELS = REPO / "models"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PROBE = """<script>
window.probeErrors = [];
window.addEventListener("error", (event) => {
  window.probeErrors.push(String(event.message || (event.target && event.target.id) || "error"));
}, true);
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("figure img")].map((image) => {
    const box = image.getBoundingClientRect();
    return {id: image.parentElement.id, natural: image.naturalWidth, width: box.width,
            height: box.height, complete: image.complete};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({errors: window.probeErrors, charts: charts,
                                    viewport: document.documentElement.clientWidth,
                                    page: document.documentElement.scrollWidth});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium installed (Debian: apt install chromium)")


@pytest.mark.parametrize("width", [1280, 390])  # a laptop and a phone
def test_report_renders_in_chromium_without_errors(
    tmp_path: Path, customers_csv: Path, width: int
) -> None:
    chromium = _chromium()
    results = tmp_path / "results.csv"
    score_file(customers_csv, MODELS, results, ScoreSettings())
    report_path = tmp_path / "report.html"
    make_report(results, MODELS, report_path)
    probed = tmp_path / "probed.html"
    probed.write_text(
        report_path.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1),
        encoding="utf-8",
    )
    run = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},900",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert found, "the page did not finish loading"
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["errors"] == []
    assert probe["page"] <= probe["viewport"], "the page scrolls sideways"
    assert len(probe["charts"]) == 7
    for chart in probe["charts"]:
        assert chart["complete"] and chart["natural"] > 0, chart
        assert chart["width"] > 100 and chart["height"] > 50, chart
        assert chart["width"] <= probe["viewport"], (chart, probe["viewport"])
