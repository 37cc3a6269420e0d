"""`report`: its numbers equal those computed directly, and the HTML is self-contained and safe."""

from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xgboost as xgb

from aura_sentinel.bundle import load_bundle
from aura_sentinel.demo import generate_customers
from aura_sentinel.metrics import roc_auc
from aura_sentinel.pipeline import ScoreSettings, score_file
from aura_sentinel.record import record_path
from aura_sentinel.report import make_report
from aura_sentinel.report.content import Report

from conftest import REPO, run_cli

MODELS = REPO / "models"
NASTY = '<script>alert("x")</script> & [bold]'
CHARTS = ("histogram", "calibration", "roc", "gain", "drivers", "actions", "policies")


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    frame = generate_customers(1200, seed=5)
    contract = pl.col("Contract")
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 0)
        .then(pl.lit(NASTY))
        .otherwise(contract)
        .alias("Contract")
    )


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, customers: pl.DataFrame) -> Path:
    folder = tmp_path_factory.mktemp("report")
    data = folder / "customers.parquet"
    customers.write_parquet(data)
    results = folder / "results.csv"
    score_file(data, MODELS, results, ScoreSettings())
    return results


@pytest.fixture(scope="module")
def made(scored: Path) -> tuple[Report, str]:
    html = scored.with_name("report.html")
    report, _ = make_report(scored, MODELS, html)
    return report, html.read_text(encoding="utf-8")


def test_counts_shares_and_money_equal_the_results_file(
    scored: Path, made: tuple[Report, str]
) -> None:
    report, _ = made
    results = pl.read_csv(scored)
    assert report.customers == results.height
    for level in ("HIGH", "MEDIUM", "LOW"):
        assert report.risk.counts[level] == (results.get_column("RiskLevel") == level).sum()
    assert sum(sum(counts) for counts in report.risk.histogram.values()) == results.height
    for line in report.plan:
        rows = results.filter(pl.col("RecommendedAction") == line.action)
        assert line.customers == rows.height
        assert line.spend == pytest.approx(rows.get_column("ActionCost").sum())
        assert line.gain == pytest.approx(rows.get_column("ExpectedGain").sum())
    assert report.mean_probability == pytest.approx(results.get_column("ChurnProbability").mean())


def test_segments_are_contract_by_risk_level(scored: Path, made: tuple[Report, str]) -> None:
    report, _ = made
    results = pl.read_csv(scored)
    assert report.risk.segment_name == "Contract"
    for name, counts, mean in report.risk.segments:
        rows = results.filter(pl.col("Contract") == name)
        assert sum(counts.values()) == rows.height
        assert counts["HIGH"] == (rows.get_column("RiskLevel") == "HIGH").sum()
        assert mean == pytest.approx(rows.get_column("ChurnProbability").mean())


def test_outcome_figures_equal_a_direct_computation(scored: Path, made: tuple[Report, str]) -> None:
    report, _ = made
    results = pl.read_csv(scored)
    churned = (results.get_column("Churn") == "Yes").to_numpy().astype(float)
    probability = results.get_column("ChurnProbability").to_numpy()
    outcomes = report.outcomes
    assert outcomes is not None and not outcomes.in_sample
    assert outcomes.roc_auc == pytest.approx(roc_auc(churned, probability))
    riskiest = np.argsort(-probability, kind="stable")
    for share in (0.1, 0.2):
        top = riskiest[: round(share * churned.size)]
        capture = churned[top].sum() / churned.sum()
        assert outcomes.curves.capture_at(share) == pytest.approx(capture, abs=1e-6)
        assert outcomes.curves.lift_at(share) == pytest.approx(capture / share, abs=1e-5)
    deciles = np.array_split(riskiest[::-1], 10)
    observed = [churned[group].mean() for group in deciles]
    np.testing.assert_allclose(outcomes.curves.observed, observed, atol=1e-6)


def test_global_drivers_equal_the_mean_absolute_contributions(
    customers: pl.DataFrame, made: tuple[Report, str]
) -> None:
    report, _ = made
    bundle = load_bundle(MODELS)
    matrix = bundle.spec.matrix(customers, "customers")
    data = xgb.DMatrix(matrix, feature_types=bundle.spec.xgboost_types, enable_categorical=True)
    contributions = bundle.booster.predict(data, pred_contribs=True)[:, :-1]
    expected = dict(
        zip(bundle.spec.names, np.abs(contributions).mean(axis=0, dtype=np.float64), strict=True)
    )
    assert report.global_drivers
    for name, weight in report.global_drivers:
        assert weight == pytest.approx(float(expected[name]), rel=1e-5)
    weights = [weight for _, weight in report.global_drivers]
    assert weights == sorted(weights, reverse=True)


def test_high_risk_drivers_are_counted_from_the_top_drivers(
    scored: Path, made: tuple[Report, str]
) -> None:
    report, _ = made
    high = pl.read_csv(scored).filter(pl.col("RiskLevel") == "HIGH")
    named = [driver for text in high.get_column("TopDrivers") for driver in text.split("; ")]
    for driver, count in report.high_risk_drivers:
        assert count == named.count(driver)


def test_policy_quality_comes_from_the_bundle(made: tuple[Report, str]) -> None:
    report, _ = made
    policy = load_bundle(MODELS).manifest.policy
    assert report.policy is not None and policy is not None
    assert report.policy.evaluation.values == policy.evaluation.values
    assert report.policy.evaluation.gain_ratio == policy.evaluation.gain_ratio


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.references: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.references += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag == "img":
            self.images.append(dict(attrs))


def test_html_has_every_chart_and_no_external_reference(made: tuple[Report, str]) -> None:
    _, html = made
    parser = _References()
    parser.feed(html)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parser.tags)
    assert all(reference.startswith("data:") for reference in parser.references)
    assert "url(" not in html and "@import" not in html
    for key in CHARTS:
        assert f'id="chart-{key}"' in html
    for image in parser.images:
        assert image["alt"]
        svg = base64.b64decode(str(image["src"]).split(",", 1)[1]).decode("utf-8")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        links = re.findall(r'href="([^"]*)"', svg)
        assert all(link.startswith("#") for link in links)
    assert '<th scope="col">' in html and "<caption>" in html


def test_values_from_the_data_are_escaped(made: tuple[Report, str]) -> None:
    _, html = made
    assert NASTY not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; [bold]" in html


def test_terminal_report_prints_data_literally(scored: Path, tmp_path: Path) -> None:
    result = run_cli(
        "report", str(scored), "--models", str(MODELS), "--html", str(tmp_path / "r.html")
    )
    assert result.returncode == 0, result.stderr
    assert "[bold]" in result.stdout and "Risk by Contract" in result.stdout
    assert "How we know the advice is good" in result.stdout


def test_same_results_give_the_same_html(
    scored: Path, made: tuple[Report, str], tmp_path: Path
) -> None:
    _, html = made
    again = tmp_path / "again.html"
    make_report(scored, MODELS, again)
    assert again.read_text(encoding="utf-8") == html


def test_parquet_results_give_the_same_numbers(
    customers: pl.DataFrame, made: tuple[Report, str], tmp_path: Path
) -> None:
    report, _ = made
    data = tmp_path / "customers.parquet"
    customers.write_parquet(data)
    results = tmp_path / "results.parquet"
    score_file(data, MODELS, results, ScoreSettings())
    again, _ = make_report(results, MODELS, tmp_path / "r.html")
    assert (again.risk.counts, again.risk.histogram) == (report.risk.counts, report.risk.histogram)
    for segment, other_segment in zip(again.risk.segments, report.risk.segments, strict=True):
        assert segment[:2] == other_segment[:2]
        assert segment[2] == pytest.approx(other_segment[2])
    for line, other in zip(again.plan, report.plan, strict=True):
        assert (line.action, line.customers) == (other.action, other.customers)
        assert line.spend == pytest.approx(other.spend) and line.gain == pytest.approx(other.gain)


def test_a_budget_is_reported_with_what_it_bought(customers: pl.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "customers.parquet"
    customers.write_parquet(data)
    results = tmp_path / "results.csv"
    score_file(data, MODELS, results, ScoreSettings(explain=False), budget=500.0)
    report, sections = make_report(results, MODELS, tmp_path / "r.html")
    assert report.budget == 500.0
    assert report.spend == pytest.approx(pl.read_csv(results).get_column("ActionCost").sum())
    assert report.spend <= 500.0 + 1e-6
    assert report.unconstrained is not None and report.unconstrained[0] > 500.0
    plan = next(section for section in sections if section.key == "plan")
    assert any("budget of 500.00" in sentence for sentence in plan.lead)
    assert not report.global_drivers and any("--no-explain" in note for note in report.notes)


def test_a_missing_column_is_one_line_and_exit_2(scored: Path, tmp_path: Path) -> None:
    broken = tmp_path / "results.csv"
    pl.read_csv(scored).drop("ExpectedGain", "ActionCost").write_csv(broken)
    html = tmp_path / "r.html"
    result = run_cli("report", str(broken), "--models", str(MODELS), "--html", str(html))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "ActionCost, ExpectedGain" in result.stderr
    assert "Traceback" not in result.stderr and not html.exists()


def test_a_text_in_a_number_column_names_the_row(scored: Path, tmp_path: Path) -> None:
    broken = tmp_path / "results.csv"
    frame = pl.read_csv(scored).with_columns(pl.col("ActionCost").cast(pl.String))
    frame.with_columns(pl.lit("lots").alias("ActionCost")).write_csv(broken)
    result = run_cli(
        "report", str(broken), "--models", str(MODELS), "--html", str(tmp_path / "r.html")
    )
    assert result.returncode == 2
    assert "ActionCost" in result.stderr and "row 1" in result.stderr


def test_results_of_another_bundle_are_refused(scored: Path, tmp_path: Path) -> None:
    other = tmp_path / "models"
    shutil.copytree(MODELS, other)
    manifest = other / "bundle.json"
    manifest.write_text(manifest.read_text().replace('"seed": 42', '"seed": 43', 1))
    result = run_cli(
        "report", str(scored), "--models", str(other), "--html", str(tmp_path / "r.html")
    )
    assert result.returncode == 2
    assert "scored with" in result.stderr and "--models" in result.stderr


def test_quiet_prints_nothing_and_writes_the_html(scored: Path, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    result = run_cli("report", str(scored), "--models", str(MODELS), "--html", str(html), "--quiet")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
    assert html.stat().st_size > 10_000


def test_a_report_needs_an_html_name(scored: Path) -> None:
    result = run_cli("report", str(scored), "--html", str(scored))
    assert result.returncode == 2 and ".html" in result.stderr


def test_without_a_run_record_the_report_still_works(scored: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results.csv"
    shutil.copy(scored, copy)
    assert not record_path(copy).exists()
    report, _ = make_report(copy, MODELS, tmp_path / "r.html")
    assert report.customers > 0 and report.budget is None
    assert any("no run record" in note for note in report.notes)


def test_without_contract_the_segments_are_tenure_groups(scored: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results.csv"
    results = pl.read_csv(scored)
    results.drop("Contract").write_csv(copy)
    report, _ = make_report(copy, MODELS, tmp_path / "r.html")
    assert report.risk.segment_name == "Tenure"
    sizes = {name: sum(counts.values()) for name, counts, _ in report.risk.segments}
    tenure = results.get_column("Tenure")
    assert sizes["0-12 months"] == (tenure <= 12).sum()
    assert sizes["over 48 months"] == (tenure > 48).sum()
    assert sum(sizes.values()) == results.height
