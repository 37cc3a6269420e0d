"""`report`: its numbers equal those computed directly, it leads with the answer, it says every
assumption, and the HTML is self-contained and safe."""

from __future__ import annotations

import base64
import dataclasses
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from matplotlib.patches import Rectangle
from test_dqn import SMALL

from aura_sentinel.bundle import load_bundle
from aura_sentinel.demo import generate_customers
from aura_sentinel.drift import ColumnDistribution
from aura_sentinel.leakage import LeakWarning
from aura_sentinel.metrics import roc_auc
from aura_sentinel.pipeline import ScoreSettings, score_file
from aura_sentinel.record import record_path
from aura_sentinel.report import make_report
from aura_sentinel.report.charts import policy_gain_figure
from aura_sentinel.report.content import Report, _common_drivers
from aura_sentinel.report.sections import Section, report_sections
from aura_sentinel.report.settings import DQN_SETTINGS, SIMULATOR_SETTINGS
from aura_sentinel.retention.config import DQNConfig, PolicySettings
from aura_sentinel.retention.simulator import SimulatorSettings
from aura_sentinel.sensitive import SensitiveColumn
from aura_sentinel.training import TrainOptions, train

from conftest import run_cli

NASTY = '<script>alert("x")</script> & [bold]'
CHARTS = ("histogram", "calibration", "roc", "gain", "drivers", "actions", "policies")
SCORING = ScoreSettings(high=0.5, medium=0.25)
"""Thresholds low enough for the small model of this module to have HIGH-risk customers."""
RAW_SETTING_NAMES = (
    "discount_actions",
    "action_effects",
    "churn_horizon_months",
    "max_recent_interventions",
    "epsilon_decay_fraction",
    "target_update_interval",
)


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
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bundle trained for this module, its money labelled EUR."""
    folder = tmp_path_factory.mktemp("models")
    data = folder / "training.csv"
    generate_customers(800, seed=3).write_csv(data)
    options = TrainOptions(folds=3, currency="EUR", policy_settings=PolicySettings(dqn=SMALL))
    train(data, folder / "models", options)
    return folder / "models"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, customers: pl.DataFrame, models: Path) -> Path:
    folder = tmp_path_factory.mktemp("report")
    data = folder / "customers.parquet"
    customers.write_parquet(data)
    results = folder / "results.csv"
    score_file(data, models, results, SCORING)
    return results


@pytest.fixture(scope="module")
def made(scored: Path, models: Path) -> tuple[Report, str]:
    html = scored.with_name("report.html")
    report, _ = make_report(scored, models, html)
    return report, html.read_text(encoding="utf-8")


def _section(sections: list[Section], key: str) -> Section:
    return next(section for section in sections if section.key == key)


def _text(section: Section) -> str:
    parts = [*section.lead]
    for table in section.tables:
        parts += [table.caption, *table.headers, *(cell for row in table.rows for cell in row)]
    return "\n".join(parts)


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
        for level, count in line.by_risk.items():
            assert count == (rows.get_column("RiskLevel") == level).sum()
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
    customers: pl.DataFrame, models: Path, made: tuple[Report, str]
) -> None:
    report, _ = made
    bundle = load_bundle(models)
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


def test_category_drivers_are_counted_from_the_top_drivers(
    scored: Path, made: tuple[Report, str]
) -> None:
    report, _ = made
    high = pl.read_csv(scored).filter(pl.col("RiskLevel") == "HIGH")
    named = [driver for text in high.get_column("TopDrivers") for driver in text.split("; ")]
    categories = [(driver, count) for driver, count in report.high_risk_drivers if "=" in driver]
    assert categories
    for driver, count in categories:
        assert count == named.count(driver)


def test_numeric_drivers_are_grouped_into_the_training_quantile_bins() -> None:
    tenure = ColumnDistribution(
        name="tenure",
        kind="number",
        edges=(6.0, 20.0),
        levels=(),
        shares=(0.3, 0.3, 0.4),
        missing_share=0.0,
        low=0.0,
        high=72.0,
    )
    texts = [
        "tenure=1; Contract=Month-to-month",
        "tenure=5; Contract=Month-to-month",
        "tenure=6; MonthlyCharges=70.5",
        "tenure=19; tenure=(blank)",
        "tenure=80; MonthlyCharges=70.5",
    ]
    drivers = dict(_common_drivers(pl.Series("TopDrivers", texts), (tenure,)))
    assert drivers["tenure 1-5"] == 2  # the bin from 0 up to 6, named by the values in it
    assert drivers["tenure 6-19"] == 2
    assert drivers["tenure 80 (above the training range)"] == 1
    assert drivers["Contract=Month-to-month"] == 2
    assert drivers["tenure=(blank)"] == 1
    assert drivers["MonthlyCharges=70.5"] == 2  # no distribution in the bundle: raw values
    assert sum(drivers.values()) == 10


def test_the_report_names_no_single_number_of_a_binned_feature(
    models: Path, made: tuple[Report, str]
) -> None:
    report, _ = made
    binned = {
        item.name for item in load_bundle(models).manifest.distributions if item.kind == "number"
    }
    for driver, _ in report.high_risk_drivers:
        name, _, value = driver.partition("=")
        assert not (name in binned and value.replace(".", "", 1).isdigit()), driver


def test_sections_lead_with_the_answer_and_end_with_versions(made: tuple[Report, str]) -> None:
    report, html = made
    keys = [section.key for section in report_sections(report)]
    assert keys[0] == "answer" and keys[-1] == "versions"
    assert keys.index("why") < keys.index("policy") < keys.index("model") < keys.index("checks")
    answer = _section(report_sections(report), "answer")
    assert any("plan" in table.caption.lower() for table in answer.tables)
    positions = [html.index(f'<section id="{key}"') for key in keys]
    assert positions == sorted(positions)
    assert html.index("Library versions") > html.index("Cross-validated metrics")


def test_the_terminal_report_has_the_same_order(scored: Path, models: Path, tmp_path: Path) -> None:
    result = run_cli(
        "report", str(scored), "--models", str(models), "--html", str(tmp_path / "r.html")
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("The plan") < out.index("Cross-validated metrics") < out.index("Library")
    assert "[bold]" in out and "Risk by Contract" in out


def test_money_headers_carry_the_unit(made: tuple[Report, str]) -> None:
    report, _ = made
    assert report.money_unit == "EUR"
    sections = report_sections(report)
    plan = next(table for table in _section(sections, "answer").tables if "plan" in table.caption)
    assert "spend (EUR)" in plan.headers and "expected gain (EUR)" in plan.headers
    assert any("(EUR)" in header for header in _section(sections, "policy").tables[0].headers)
    assert "EUR" in _section(sections, "answer").lead[1]
    months = dataclasses.replace(report, money_unit="months of charge")
    answer = _section(report_sections(months), "answer")
    assert "spend (months of charge)" in answer.tables[-1].headers
    assert any("months of charge" in sentence for sentence in answer.lead)


def test_the_policy_chart_shows_the_gain_over_no_action_from_zero(
    made: tuple[Report, str],
) -> None:
    report, _ = made
    assert report.policy is not None
    values = report.policy.evaluation.values
    axes = policy_gain_figure(report).axes[0]
    widths = sorted(patch.get_width() for patch in axes.patches if isinstance(patch, Rectangle))
    gains = sorted(
        value - values["no_action"] for name, value in values.items() if name != "no_action"
    )
    np.testing.assert_allclose(widths, gains)
    assert axes.get_xlim()[0] <= 0.0
    if min(gains) >= 0:  # nothing below zero: the axis starts at zero
        assert axes.get_xlim()[0] == 0.0
    assert "no action" in axes.get_xlabel() and "(EUR)" in axes.get_xlabel()


def test_every_setting_has_a_label_in_words() -> None:
    simulator = {item.name for item in dataclasses.fields(SimulatorSettings)}
    dqn = {item.name for item in dataclasses.fields(DQNConfig)}
    assert simulator <= set(SIMULATOR_SETTINGS)
    assert dqn <= set(DQN_SETTINGS)


def test_settings_are_shown_in_words_not_field_names(made: tuple[Report, str]) -> None:
    report, html = made
    policy = _text(_section(report_sections(report), "policy"))
    for name in RAW_SETTING_NAMES:
        assert name not in policy and name not in html
    assert "monthly discount factor for future profit" in policy
    assert "assumed" in policy.lower()


def test_the_action_effects_are_said_to_be_assumed(made: tuple[Report, str]) -> None:
    report, _ = made
    sections = report_sections(report)
    for key in ("answer", "policy"):
        assert any("assumed" in sentence for sentence in _section(sections, key).lead)


def test_results_without_logged_actions_have_no_realised_result(made: tuple[Report, str]) -> None:
    report, html = made
    assert report.outcomes is not None and report.realised is None
    assert "Realised churn" not in html and "LoggedAction" not in html


def test_logged_actions_of_an_assumed_plan_are_said_to_be_observational(
    scored: Path, models: Path, tmp_path: Path
) -> None:
    results = pl.read_csv(scored)
    logged = results.with_columns(pl.col("ActionID").cast(pl.String).alias("LoggedAction"))
    copy = tmp_path / "results.csv"
    logged.write_csv(copy)
    report, sections = make_report(copy, models, tmp_path / "r.html")
    assert report.realised is not None
    assert report.realised.not_followed.customers == 0  # every logged id is the recommended one
    assert report.realised.followed.customers == results.height
    churned = int((results.get_column("Churn") == "Yes").sum())
    assert report.realised.followed.churned == churned
    policy = " ".join(_section(sections, "policy").lead)
    assert "observational unless the log's actions were randomised" in policy


def test_a_leak_warning_stands_next_to_the_metrics(made: tuple[Report, str]) -> None:
    report, _ = made
    leak = LeakWarning("Churn Score", 0.94, 0.62, "suspiciously strong")
    leaky = dataclasses.replace(report, card=dataclasses.replace(report.card, leaks=(leak,)))
    model = _section(report_sections(leaky), "model")
    captions = [table.caption for table in model.tables]
    metrics = captions.index("Cross-validated metrics")
    assert "leak" in captions[metrics + 1].lower()
    row = model.tables[metrics + 1].rows[0]
    assert row[:4] == ["Churn Score", "0.940", "62%", "suspiciously strong"]
    assert "--exclude 'Churn Score'" in row[4]
    assert any("leak" in reading[2] for reading in model.tables[metrics].rows)
    answer = _section(report_sections(leaky), "answer")
    assert any("Churn Score" in sentence for sentence in answer.lead)
    clean = _section(report_sections(report), "model")
    assert not any("leak" in table.caption.lower() for table in clean.tables)


def test_sensitive_attributes_are_listed_used_or_not(made: tuple[Report, str]) -> None:
    report, _ = made
    columns = (
        SensitiveColumn("gender", "gender", used=True, contribution_share=0.031, rank=5),
        SensitiveColumn("Age", "age", used=False, contribution_share=0.0, rank=None),
    )
    flagged = dataclasses.replace(report, card=dataclasses.replace(report.card, sensitive=columns))
    model = _section(report_sections(flagged), "model")
    table = next(table for table in model.tables if "ensitive" in table.caption)
    assert table.rows == [["gender", "gender", "yes", "5", "3.1%"], ["Age", "age", "no", "-", "-"]]


def test_the_drift_table_is_largest_first_and_marks_large_shifts(
    made: tuple[Report, str],
) -> None:
    report, _ = made
    drifted = dataclasses.replace(
        report,
        drift=[("state:monthly_charges", 3.2), ("tenure", 0.12), ("Contract", 0.01)],
        out_of_range={"state:monthly_charges": 1100, "state:tenure": 0},
    )
    checks = _section(report_sections(drifted), "checks")
    drift = next(table for table in checks.tables if "Drift" in table.caption)
    assert [row[0] for row in drift.rows] == ["state:monthly_charges", "tenure", "Contract"]
    assert [row[2] for row in drift.rows] == ["LARGE", "moderate", "stable"]
    assert any("state:monthly_charges" in sentence for sentence in checks.lead)
    outside = next(table for table in checks.tables if "range" in table.caption)
    assert outside.rows == [["state:monthly_charges", "1,100"]]


def test_the_scoring_runs_drift_reaches_the_report(made: tuple[Report, str]) -> None:
    report, html = made
    assert report.drift  # the run record's PSI per column
    psi = [value for _, value in report.drift]
    assert psi == sorted(psi, reverse=True)
    assert "Drift from the training data" in html


def test_state_fields_from_defaults_are_stated(made: tuple[Report, str]) -> None:
    report, _ = made
    assumed = dataclasses.replace(
        report,
        defaulted=("tenure",),
        state_columns={**report.state_columns, "tenure": None},
    )
    sections = report_sections(assumed)
    assert any("tenure" in sentence for sentence in _assumed(sections))
    checks = _section(sections, "checks")
    table = next(table for table in checks.tables if "came from" in table.caption)
    assert any(row[1].startswith("none: default") for row in table.rows if "tenure" in row[0])
    assert report.state_columns["tenure"] == "tenure"  # read from the table: not said to be assumed
    assert not any("tenure" in sentence for sentence in _assumed(report_sections(report)))


def _assumed(sections: list[Section]) -> list[str]:
    """The answer's sentences that name the state fields which came from defaults."""
    return [line for line in _section(sections, "answer").lead if "default values" in line]


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


def test_same_results_give_the_same_html(
    scored: Path, models: Path, made: tuple[Report, str], tmp_path: Path
) -> None:
    _, html = made
    again = tmp_path / "again.html"
    make_report(scored, models, again)
    assert again.read_text(encoding="utf-8") == html


def test_parquet_results_give_the_same_numbers(
    customers: pl.DataFrame, models: Path, made: tuple[Report, str], tmp_path: Path
) -> None:
    report, _ = made
    data = tmp_path / "customers.parquet"
    customers.write_parquet(data)
    results = tmp_path / "results.parquet"
    score_file(data, models, results, SCORING)
    again, _ = make_report(results, models, tmp_path / "r.html")
    assert (again.risk.counts, again.risk.histogram) == (report.risk.counts, report.risk.histogram)
    for segment, other_segment in zip(again.risk.segments, report.risk.segments, strict=True):
        assert segment[:2] == other_segment[:2]
        # The CSV holds probabilities to 4 decimals and money to 2; Parquet holds them whole.
        assert segment[2] == pytest.approx(other_segment[2], abs=1e-4)
    for line, other in zip(again.plan, report.plan, strict=True):
        assert (line.action, line.customers) == (other.action, other.customers)
        assert line.spend == pytest.approx(other.spend, abs=0.005 * line.customers)
        assert line.gain == pytest.approx(other.gain, abs=0.005 * line.customers)


def test_a_budget_is_reported_with_what_it_bought(
    customers: pl.DataFrame, models: Path, tmp_path: Path
) -> None:
    data = tmp_path / "customers.parquet"
    customers.write_parquet(data)
    results = tmp_path / "results.csv"
    score_file(data, models, results, ScoreSettings(explain=False), budget=50.0)
    report, sections = make_report(results, models, tmp_path / "r.html")
    assert report.budget == 50.0
    assert report.spend == pytest.approx(pl.read_csv(results).get_column("ActionCost").sum())
    assert report.spend <= 50.0 + 1e-6
    assert report.unconstrained is not None and report.unconstrained[0] > 50.0
    answer = _section(sections, "answer")
    assert any("budget of 50.00 EUR" in sentence for sentence in answer.lead)
    assert not report.global_drivers and any("--no-explain" in note for note in report.notes)


def test_a_missing_column_is_one_line_and_exit_2(
    scored: Path, models: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "results.csv"
    pl.read_csv(scored).drop("ExpectedGain", "ActionCost").write_csv(broken)
    html = tmp_path / "r.html"
    result = run_cli("report", str(broken), "--models", str(models), "--html", str(html))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "ActionCost, ExpectedGain" in result.stderr
    assert "Traceback" not in result.stderr and not html.exists()


def test_a_text_in_a_number_column_names_the_row(
    scored: Path, models: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "results.csv"
    frame = pl.read_csv(scored).with_columns(pl.col("ActionCost").cast(pl.String))
    frame.with_columns(pl.lit("lots").alias("ActionCost")).write_csv(broken)
    result = run_cli(
        "report", str(broken), "--models", str(models), "--html", str(tmp_path / "r.html")
    )
    assert result.returncode == 2
    assert "ActionCost" in result.stderr and "row 1" in result.stderr


def test_results_of_another_bundle_are_refused(scored: Path, models: Path, tmp_path: Path) -> None:
    other = tmp_path / "models"
    shutil.copytree(models, other)
    manifest = other / "bundle.json"
    manifest.write_text(manifest.read_text().replace('"seed": 42', '"seed": 43', 1))
    result = run_cli(
        "report", str(scored), "--models", str(other), "--html", str(tmp_path / "r.html")
    )
    assert result.returncode == 2
    assert "scored with" in result.stderr and "--models" in result.stderr


def test_quiet_prints_nothing_and_writes_the_html(
    scored: Path, models: Path, tmp_path: Path
) -> None:
    html = tmp_path / "r.html"
    result = run_cli("report", str(scored), "--models", str(models), "--html", str(html), "--quiet")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
    assert html.stat().st_size > 10_000


def test_a_report_needs_an_html_name(scored: Path) -> None:
    result = run_cli("report", str(scored), "--html", str(scored))
    assert result.returncode == 2 and ".html" in result.stderr


def test_without_a_run_record_the_report_still_works(
    scored: Path, models: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "results.csv"
    shutil.copy(scored, copy)
    assert not record_path(copy).exists()
    report, sections = make_report(copy, models, tmp_path / "r.html")
    assert report.customers > 0 and report.budget is None
    assert any("no run record" in note for note in report.notes)
    assert report.drift is None
    assert any("No drift figures" in sentence for sentence in _section(sections, "checks").lead)


def test_without_contract_the_segments_are_tenure_groups(
    scored: Path, models: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "results.csv"
    results = pl.read_csv(scored)
    results.drop("Contract").write_csv(copy)
    report, _ = make_report(copy, models, tmp_path / "r.html")
    assert report.risk.segment_name == "Tenure"
    sizes = {name: sum(counts.values()) for name, counts, _ in report.risk.segments}
    tenure = results.get_column("Tenure")
    assert sizes["0-12 months"] == (tenure <= 12).sum()
    assert sizes["over 48 months"] == (tenure > 48).sum()
    assert sum(sizes.values()) == results.height


def test_without_a_segment_column_the_report_says_so(
    scored: Path, models: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "results.csv"
    pl.read_csv(scored).drop("Contract", "Tenure").write_csv(copy)
    report, sections = make_report(copy, models, tmp_path / "r.html")
    assert report.risk.segment_name is None
    why = _section(sections, "why")
    assert not any(table.caption.startswith("Risk by") for table in why.tables)
    assert any("segment" in sentence.lower() for sentence in why.lead)
