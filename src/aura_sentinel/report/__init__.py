"""The report: numbers from results and bundle, rendered for the terminal and as HTML.

`content` aggregates, `sections` words the findings, `charts` draws, `page` and `terminal` render.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aura_sentinel.bundle import bundle_files
from aura_sentinel.errors import UsageError
from aura_sentinel.io import atomic_write
from aura_sentinel.outputs import check_outputs
from aura_sentinel.record import read_record, record_path
from aura_sentinel.report.content import Report, build_report
from aura_sentinel.report.sections import Section, report_sections

DEFAULT_RESULTS = ("retention_strategy_results.csv", "retention_strategy_results.parquet")
_HTML_SUFFIXES = (".html", ".htm")


def default_results() -> Path:
    """The results `score` writes by default, whichever is here (the newer if both are)."""
    present = [Path(name) for name in DEFAULT_RESULTS if Path(name).is_file()]
    if not present:
        raise UsageError(
            "RESULTS",
            f"no results file given and no {DEFAULT_RESULTS[0]} here",
            "run `aura-sentinel score` first, or give the results file",
        )
    return max(present, key=lambda path: path.stat().st_mtime)


def scoring_models(results: Path) -> Path | None:
    """The bundle folder the results were scored with, when their run record names one here."""
    record, _ = read_record(results) if results.is_file() else (None, None)
    if record is None or not (Path(record.models) / "bundle.json").is_file():
        return None
    return Path(record.models)


def make_report(results: Path, models: Path, html: Path) -> tuple[Report, list[Section]]:
    """Aggregate, draw and write the HTML report atomically; return what the terminal shows."""
    # Matplotlib logs one-off notices (building its font cache on first use) as warnings on
    # stderr; keep stderr for the command's own errors.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    from aura_sentinel.report.charts import report_charts
    from aura_sentinel.report.page import report_html

    if html.suffix.lower() not in _HTML_SUFFIXES:
        raise UsageError(str(html), "is not an .html file", "name the report .html")
    if not results.exists():
        raise UsageError(str(results), "no such file", "check the path, or run `score` first")
    if results.is_dir() and not any(results.glob("*.parquet")):
        raise UsageError(
            str(results), "is a folder without results", "give the results file `score` wrote"
        )
    results_files = sorted(results.glob("*.parquet")) if results.is_dir() else [results]
    reads = [*results_files, record_path(results), *bundle_files(models)]
    check_outputs(reads, [html])
    report = build_report(results, models)
    sections = report_sections(report)
    text = report_html(report, sections, report_charts(report))

    def write(target: Path) -> None:
        target.write_text(text, encoding="utf-8")

    atomic_write(html, write, reads)
    return report, sections
