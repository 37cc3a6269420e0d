"""The column map for the state: the policy reads the user's columns (named with `--column`, a
`[columns]` table, or found by name), stores the map in the bundle, and every summary says what
it assumed: the columns matched by name, the fields that took a default, and the money's unit."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from aura_sentinel import render
from aura_sentinel.bundle import FORMAT_VERSION, load_bundle
from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.retention.config import load_policy_file
from aura_sentinel.retention.evaluation import PolicyEvaluation
from aura_sentinel.retention.state import (
    SOURCE_COLUMNS,
    StateSources,
    build_state,
    monthly_charges,
    resolve_state_sources,
    state_assumptions,
)
from aura_sentinel.training import TrainSummary
from aura_sentinel.units import currency_problem, money_unit

from conftest import run_cli

TELCO = Path(__file__).parents[2] / "shared/data/telco-customer-churn.csv"
# IBM's xlsx export of the Telco customers names these columns so.
XLSX_NAMES = {
    "tenure": "Tenure Months",
    "MonthlyCharges": "Monthly Charges",
    "InternetService": "Internet Service",
    "PhoneService": "Phone Service",
    "MultipleLines": "Multiple Lines",
    "OnlineSecurity": "Online Security",
    "OnlineBackup": "Online Backup",
    "DeviceProtection": "Device Protection",
    "TechSupport": "Tech Support",
    "StreamingTV": "Streaming TV",
    "StreamingMovies": "Streaming Movies",
    "TotalCharges": "Total Charges",
    "SeniorCitizen": "Senior Citizen",
    "PaperlessBilling": "Paperless Billing",
    "PaymentMethod": "Payment Method",
}
SMALL_POLICY = "[dqn]\niterations = 200\nhidden = 16\nlearning_starts = 20\n"
WIDE = 250  # terminal columns for the CLI's tables, so that no header wraps


def _by_name(frame: pl.DataFrame, **given: str) -> StateSources:
    return resolve_state_sources(frame.columns, given, "in.csv")


def _one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in result.stderr, result.stderr


# ---- finding the columns ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "name"),
    [
        ("tenure", "Tenure Months"),
        ("tenure", "tenure"),
        ("tenure", "Tenure"),
        ("tenure", "tenure_months"),
        ("tenure", "TENURE-MONTHS"),
        ("monthly_charges", "Monthly Charges"),
        ("monthly_charges", "monthly_charge"),
        ("internet_service", "Internet Service"),
        ("contract", "contract"),
        ("phone_service", "Phone Service"),
        ("streaming_tv", "Streaming TV"),
        ("days_since_contact", "Days Since Contact"),
    ],
)
def test_a_column_is_found_by_name_ignoring_case_spaces_underscores_and_hyphens(
    role: str, name: str
) -> None:
    sources = _by_name(pl.DataFrame({name: [1], "other": [2]}))
    assert sources.column(role) == name
    assert [found for found in sources.columns.values() if found] == [name]


def test_columns_with_the_default_names_are_not_reported_as_renamed(
    customers: pl.DataFrame,
) -> None:
    sources = _by_name(customers)
    assert sources.column("tenure") == "tenure"
    assert sources.renamed == {}
    assert state_assumptions(sources, 0.3, given=()).matched == ()


def test_a_given_column_wins_over_the_column_named_like_the_field() -> None:
    frame = pl.DataFrame({"tenure": [5.0], "Months Active": [40.0]})
    sources = _by_name(frame, tenure="Months Active")
    assert sources.column("tenure") == "Months Active"
    state = build_state(frame, [0.2], 0.3, sources)
    assert state[0, 3] == 40.0


def test_a_given_column_is_matched_ignoring_case_and_spaces() -> None:
    sources = _by_name(pl.DataFrame({"Tenure Months": [1]}), tenure="tenure months")
    assert sources.column("tenure") == "Tenure Months"


def test_a_given_column_the_table_lacks_is_refused_naming_it_the_field_and_near_names() -> None:
    with pytest.raises(DataError, match=r"'Tenur Months'.*tenure.*nearest: 'Tenure Months'"):
        _by_name(pl.DataFrame({"Tenure Months": [1]}), tenure="Tenur Months")


def test_an_unknown_field_is_refused_listing_the_fields() -> None:
    with pytest.raises(UsageError, match="unknown state field 'tenur'") as error:
        _by_name(pl.DataFrame({"x": [1]}), tenur="x")
    assert "monthly_charges" in error.value.fix


def test_two_columns_named_like_one_field_are_refused_asking_for_the_column() -> None:
    with pytest.raises(DataError, match="'tenure', 'Tenure Months'") as error:
        _by_name(pl.DataFrame({"tenure": [1], "Tenure Months": [2]}))
    assert "--column tenure=" in error.value.fix


def test_two_columns_named_like_one_field_are_fine_once_one_is_given() -> None:
    sources = _by_name(pl.DataFrame({"tenure": [1], "Tenure Months": [2]}), tenure="tenure")
    assert sources.column("tenure") == "tenure"


def test_one_column_read_for_two_fields_is_refused() -> None:
    with pytest.raises(DataError, match="'MonthlyCharges' would be read for both"):
        _by_name(pl.DataFrame({"MonthlyCharges": [1.0]}), tenure="MonthlyCharges")


# ---- building the state from the map ----------------------------------------------------------


def test_the_state_of_renamed_columns_equals_the_state_of_the_default_names(
    customers: pl.DataFrame,
) -> None:
    renamed = customers.rename({old: new for old, new in XLSX_NAMES.items() if old in customers})
    probability = np.linspace(0, 1, customers.height)
    expected = build_state(customers, probability, 0.3, _by_name(customers))
    np.testing.assert_array_equal(
        build_state(renamed, probability, 0.3, _by_name(renamed)), expected
    )
    np.testing.assert_array_equal(
        monthly_charges(renamed, _by_name(renamed)),
        customers.get_column("MonthlyCharges").to_numpy(),
    )


def test_a_column_of_the_map_that_a_table_lacks_takes_the_default() -> None:
    trained = _by_name(pl.DataFrame({"Tenure Months": [1], "Monthly Charges": [2.0]}))
    scored = pl.DataFrame({"Monthly Charges": [50.0, 70.0]})
    state = build_state(scored, [0.1, 0.2], 0.3, trained)
    assert state[:, 3].tolist() == [12.0, 12.0]
    assert monthly_charges(scored, trained).tolist() == [50.0, 70.0]
    assert trained.missing_from(scored.columns) == {"tenure": "Tenure Months"}
    assumed = state_assumptions(trained, 0.3, missing=trained.missing_from(scored.columns))
    assert assumed.missing == {"tenure": "Tenure Months"}
    assert assumed.defaulted["tenure"] == "12 months"


def test_defaulted_lists_the_fields_without_a_column_with_engagement_derived_from_services() -> (
    None
):
    with_services = _by_name(pl.DataFrame({"Phone Service": ["Yes"], "MonthlyCharges": [1.0]}))
    assert with_services.defaulted == (
        "contract",
        "internet_service",
        "tenure",
        "recent_interventions",
        "days_since_contact",
        "response_rate",
    )
    assert "engagement" in _by_name(pl.DataFrame({"x": [1]})).defaulted


# ---- the policy config's [columns] table ------------------------------------------------------


def test_the_policy_configs_columns_table_is_read(tmp_path: Path) -> None:
    config = tmp_path / "policy.toml"
    config.write_text('[columns]\ntenure = "Tenure Months"\n[dqn]\niterations = 300\n')
    loaded = load_policy_file(config)
    assert loaded.columns == {"tenure": "Tenure Months"}
    assert loaded.settings.dqn.iterations == 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[columns]\ntenur = "x"\n', "unknown state field 'tenur'"),
        ("[columns]\ntenure = 3\n", "[columns] tenure is 3"),
        ('columns = "tenure"\n', "[columns] is"),
    ],
)
def test_a_bad_columns_table_is_refused_naming_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = tmp_path / "policy.toml"
    config.write_text(text)
    with pytest.raises(UsageError, match=r"policy\.toml") as error:
        load_policy_file(config)
    assert expected in str(error.value)


# ---- money units ------------------------------------------------------------------------------


def test_money_is_in_months_of_charge_without_charges_else_in_the_currency() -> None:
    assert money_unit(charges_defaulted=True, currency="EUR") == "months of charge"
    assert money_unit(charges_defaulted=False, currency="EUR") == "EUR"
    assert money_unit(charges_defaulted=False, currency=None) == ""


@pytest.mark.parametrize("label", ["", "   ", "EUROS AND CENTS", "EU\x1bR", "EUR\n"])
def test_a_currency_label_must_be_short_printable_text(label: str) -> None:
    assert currency_problem(label) is not None


def test_train_says_money_is_in_months_of_charge_when_the_table_has_no_charge_column() -> None:
    frame = generate_customers(20, seed=1).drop("MonthlyCharges")
    sources = _by_name(frame)
    console = Console(record=True, width=WIDE)
    render.train_summary(console, _train_summary(sources, "months of charge"))
    text = console.export_text()
    assert "every cost, value and gain is in months of charge" in text
    assert "monthly_charges 1" in text  # the defaults line names the field and its default
    assert "value per customer (months of charge)" in text


def test_train_warns_of_each_column_matched_by_name_and_not_of_given_ones() -> None:
    renamed = generate_customers(20, seed=1).rename(XLSX_NAMES)
    sources = _by_name(renamed, tenure="Tenure Months")
    summary = _train_summary(sources, "", given=("tenure",))
    console = Console(record=True, width=WIDE)
    render.train_summary(console, summary)
    text = console.export_text()
    assert (
        "warning: monthly_charges <- 'Monthly Charges' (matched by name; pass --column "
        "monthly_charges=... to confirm)" in text
    )
    assert "warning: tenure <-" not in text
    assert "note: state read from tenure <- 'Tenure Months'" in text
    assert "note: state defaults (no column): recent_interventions 0" in text
    assert "months of charge" not in text


def _train_summary(sources: StateSources, unit: str, given: tuple[str, ...] = ()) -> TrainSummary:
    evaluation = PolicyEvaluation(
        customers=10,
        values={"no_action": 1.0, "dqn": 2.0, "optimal": 2.5, "myopic": 1.5},
        gain_ratio=0.7,
        optimal_match=0.5,
        differs_from_myopic=0.1,
        differs_from_no_action=0.2,
    )
    return TrainSummary(
        data=Path("in.csv"),
        models=Path("models"),
        seconds=1.0,
        churn=None,
        policy=evaluation,
        policy_training_customers=40,
        state=state_assumptions(sources, 0.3, given=given),
        money_unit=unit,
    )


# ---- through the command line: errors before any training -------------------------------------


@pytest.fixture
def renamed_csv(tmp_path: Path) -> Path:
    path = tmp_path / "renamed.csv"
    generate_customers(300, seed=3).rename(XLSX_NAMES).write_csv(path)
    return path


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--column", "tenur=Tenure Months"), "unknown state field 'tenur'"),
        (("--column", "tenure"), "'tenure' is not ROLE=NAME"),
        (("--column", "tenure=Nope"), "no column 'Nope' for the state field tenure"),
        (("--currency", "A" * 13), "has 13 characters"),
        (("--currency", "EU\tR"), "control character"),
    ],
)
def test_bad_column_and_currency_options_are_one_line_before_training(
    renamed_csv: Path, options: tuple[str, ...], expected: str
) -> None:
    models = renamed_csv.parent / "models"
    result = run_cli("train", str(renamed_csv), "--models", str(models), *options)
    _one_line_error(result, expected)
    assert not models.exists()


def test_two_columns_named_like_one_field_are_one_line_asking_for_column(tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    generate_customers(300, seed=3).with_columns(pl.col("tenure").alias("Tenure Months")).write_csv(
        path
    )
    result = run_cli("train", str(path), "--models", str(tmp_path / "models"))
    _one_line_error(result, "'tenure', 'Tenure Months'", "--column tenure=")


def test_a_bad_columns_table_in_the_policy_config_is_one_line(
    renamed_csv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "policy.toml"
    config.write_text('[columns]\ntenur = "Tenure Months"\n')
    result = run_cli(
        "train", str(renamed_csv), "--models", str(tmp_path / "m"), "--policy-config", str(config)
    )
    _one_line_error(result, "policy.toml [columns]", "unknown state field 'tenur'")


# ---- a bundle trained on renamed columns, scored ----------------------------------------------


@pytest.fixture(scope="module")
def renamed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(the renamed table, the bundle trained on it, train's output): the charge column is not a
    feature, so a table without it can still be scored; [columns] names one column."""
    folder = tmp_path_factory.mktemp("renamed")
    data = folder / "renamed.csv"
    generate_customers(300, seed=3).rename(XLSX_NAMES).write_csv(data)
    config = folder / "policy.toml"
    config.write_text(SMALL_POLICY + '[columns]\nphone_service = "Phone Service"\n')
    models = folder / "models"
    result = run_cli(
        "train",
        str(data),
        "--models",
        str(models),
        "--folds",
        "2",
        "--policy-config",
        str(config),
        "--currency",
        "EUR",
        "--exclude",
        "Monthly Charges",
        columns=WIDE,
    )
    assert result.returncode == 0, result.stderr
    return data, models, result.stdout


def test_train_output_names_the_columns_matched_and_the_defaults(
    renamed_bundle: tuple[Path, Path, str],
) -> None:
    output = renamed_bundle[2]
    for role, name in (("tenure", "Tenure Months"), ("monthly_charges", "Monthly Charges")):
        assert (
            f"warning: {role} <- '{name}' (matched by name; pass --column {role}=... to confirm)"
            in output
        )
    assert "note: state read from phone_service <- 'Phone Service'" in output  # given in config
    assert "warning: phone_service" not in output
    assert "warning: engagement services <- 'Multiple Lines', 'Online Security'" in output
    assert (
        "note: state defaults (no column): recent_interventions 0, days_since_contact 90 days, "
        "response_rate 0.3 (the prior)" in output
    )
    assert "value per customer (EUR)" in output
    assert "months of charge" not in output


def test_the_bundle_stores_the_column_map_and_the_currency(
    renamed_bundle: tuple[Path, Path, str],
) -> None:
    data, models, _ = renamed_bundle
    stored = json.loads((models / "bundle.json").read_text())
    assert stored["format_version"] == FORMAT_VERSION
    assert set(stored["column_map"]) == set(SOURCE_COLUMNS)
    assert stored["column_map"]["tenure"] == "Tenure Months"
    assert stored["column_map"]["recent_interventions"] is None
    assert stored["currency"] == "EUR"
    manifest = load_bundle(models).manifest
    assert manifest.state_sources == _by_name(pl.read_csv(data, n_rows=1))
    assert manifest.money_unit == "EUR"
    without_charges = StateSources({**manifest.state_sources.columns, "monthly_charges": None})
    assert replace(manifest, state_sources=without_charges).money_unit == "months of charge"
    assert replace(manifest, currency=None).money_unit == ""


def test_score_reads_the_mapped_columns_and_shows_money_in_the_currency(
    renamed_bundle: tuple[Path, Path, str], tmp_path: Path
) -> None:
    data, models, _ = renamed_bundle
    out = tmp_path / "results.csv"
    result = run_cli("score", str(data), "--models", str(models), "--out", str(out), columns=WIDE)
    assert result.returncode == 0, result.stderr
    results = pl.read_csv(out)
    table = pl.read_csv(data)
    assert results.get_column("Tenure").to_list() == table.get_column("Tenure Months").to_list()
    assert (
        results.get_column("MonthlyCharges").to_list()
        == table.get_column("Monthly Charges").to_list()
    )
    assert "total cost (EUR)" in result.stdout and "expected gain (EUR)" in result.stdout
    assert "tenure <- 'Tenure Months'" in result.stdout
    assert "months of charge" not in result.stdout


def test_score_without_a_mapped_column_uses_its_default_and_says_so(
    renamed_bundle: tuple[Path, Path, str], tmp_path: Path
) -> None:
    data, models, _ = renamed_bundle
    lacking = tmp_path / "no_charges.csv"
    pl.read_csv(data).drop("Monthly Charges").write_csv(lacking)
    out = tmp_path / "results.csv"
    result = run_cli(
        "score", str(lacking), "--models", str(models), "--out", str(out), columns=WIDE
    )
    assert result.returncode == 0, result.stderr
    assert "'Monthly Charges' (monthly_charges)" in result.stdout
    assert "every cost, value and gain is in months of charge" in result.stdout
    assert "total cost (months of charge)" in result.stdout
    assert pl.read_csv(out).get_column("MonthlyCharges").null_count() == 300


# ---- the bar: IBM's xlsx names for the real Telco customers ----------------------------


@pytest.fixture
def telco_xlsx_names(tmp_path: Path) -> tuple[Path, Path]:
    """(the first 500 real Telco customers, the same under IBM's xlsx export's names)."""
    if not TELCO.is_file():
        pytest.skip(f"the real Telco table is not present at {TELCO}")
    customers = pl.read_csv(TELCO, infer_schema_length=0).head(500)  # every cell as its text
    plain, renamed = tmp_path / "telco.csv", tmp_path / "telco_xlsx_names.csv"
    customers.write_csv(plain)
    customers.rename(XLSX_NAMES).write_csv(renamed)
    return plain, renamed


# role=NAME for every state column the xlsx export renames
EXPLICIT = {role: XLSX_NAMES[name] for role, name in SOURCE_COLUMNS.items() if name in XLSX_NAMES}


def test_the_telco_customers_under_the_xlsx_names_get_the_same_plan_with_a_column_map(
    telco_xlsx_names: tuple[Path, Path], tmp_path: Path
) -> None:
    plain, renamed = telco_xlsx_names
    config = tmp_path / "policy.toml"
    config.write_text(SMALL_POLICY)
    mapped = [f"--column={role}={name}" for role, name in EXPLICIT.items()]
    plans = []
    for data, options in ((plain, []), (renamed, mapped)):
        models, out = data.with_suffix(".models"), data.with_suffix(".results.csv")
        common = ["--models", str(models), "--policy-config", str(config), "--folds", "2"]
        trained = run_cli("train", str(data), *common, *options, columns=WIDE)
        assert trained.returncode == 0, trained.stderr
        assert "matched by name" not in trained.stdout
        scored = run_cli("score", str(data), "--models", str(models), "--out", str(out))
        assert scored.returncode == 0, scored.stderr
        plans.append(pl.read_csv(out).select("CustomerID", "RecommendedAction", "ActionCost"))
    assert plans[0].equals(plans[1])
    assert plans[0].get_column("ActionCost").sum() > 0  # a plan in money, not months of charge


def test_the_telco_customers_under_the_xlsx_names_are_found_by_name_with_warnings(
    telco_xlsx_names: tuple[Path, Path],
) -> None:
    """Without a map the same columns are found (so the same bundle and plan as with it), and
    train says which: one warning line per state field, one for the services."""
    columns = pl.read_csv(telco_xlsx_names[1], n_rows=1)
    guessed = _by_name(columns)
    assert guessed == _by_name(columns, **EXPLICIT)
    console = Console(record=True, width=WIDE)
    render.train_summary(console, _train_summary(guessed, ""))
    warnings = [line for line in console.export_text().splitlines() if "matched by name" in line]
    assert len(warnings) == 4  # tenure, monthly charges, internet service; the services
    assert any("engagement services <- 'Phone Service', 'Multiple Lines'" in w for w in warnings)
    assert any("tenure <- 'Tenure Months'" in line for line in warnings)
    assert any("monthly_charges <- 'Monthly Charges'" in line for line in warnings)
