"""Columns named like sensitive attributes (gender, age, ...) are listed in the bundle and by
`train` with how strongly the churn model uses them, so the analyst decides; `--exclude` leaves
them out."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from aura_sentinel.bundle import MANIFEST, load_bundle
from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import BundleError
from aura_sentinel.features import FeatureColumn, FeatureSpec
from aura_sentinel.leakage import contribution_shares
from aura_sentinel.schema import ColumnRoles, prepare_training_table
from aura_sentinel.sensitive import (
    SensitiveColumn,
    ordinal,
    sensitive_attribute,
    sensitive_columns,
)
from aura_sentinel.training import TrainOptions, train

from conftest import run_cli


def _with_gender(rows: int = 600, seed: int = 7) -> pl.DataFrame:
    """Telco-like customers with a `Gender` column that drives churn: a third of the women who
    stayed are made churners."""
    frame = generate_customers(rows, seed=seed).drop("gender")
    rng = np.random.default_rng(seed)
    female = rng.random(rows) < 0.5
    churned = (frame.get_column("Churn") == "Yes").to_numpy() | (female & (rng.random(rows) < 0.3))
    return frame.with_columns(
        pl.Series("Gender", np.where(female, "Female", "Male")),
        pl.Series("Churn", np.where(churned, "Yes", "No")),
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sensitive") / "customers.csv"
    _with_gender().write_csv(path)
    return path


@pytest.fixture(scope="module")
def bundle(data: Path) -> Path:
    train(data, data.parent / "models", TrainOptions(folds=2, policy=False))
    return data.parent / "models"


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        ("Gender", "gender"),
        ("gender", "gender"),
        ("Customer Gender", "gender"),
        ("SEX", "sex"),
        ("Age", "age"),
        ("customer_age", "age"),
        ("CustomerAge", "age"),
        ("SeniorCitizen", "age"),
        ("Senior Citizen", "age"),
        ("senior_citizen", "age"),
        ("Race", "race"),
        ("Ethnicity", "ethnicity"),
        ("Religion", "religion"),
        ("Marital Status", "marital status"),
        ("marital_status", "marital status"),
        ("MaritalStatus", "marital status"),
        ("maritalstatus", "marital status"),
    ],
)
def test_names_like_sensitive_attributes_are_recognised(name: str, attribute: str) -> None:
    assert sensitive_attribute(name) == attribute


@pytest.mark.parametrize(
    "name", ["Agent", "Usage", "Percentage", "AverageCharge", "Sexton Plan", "tenure", "Partner"]
)
def test_words_that_only_contain_an_attribute_are_not_sensitive(name: str) -> None:
    assert sensitive_attribute(name) is None


def test_each_sensitive_column_gets_its_share_and_rank_among_the_features() -> None:
    spec = FeatureSpec(
        columns=tuple(FeatureColumn(name, "number") for name in ("tenure", "Gender", "Age", "x"))
    )
    shares = np.array([0.5, 0.1, 0.3, 0.1])
    found = sensitive_columns(["tenure", "Gender", "Religion", "Age", "x"], spec, shares)
    assert found == [
        SensitiveColumn("Gender", "gender", True, 0.1, 3),
        SensitiveColumn("Religion", "religion", False, 0.0, None),
        SensitiveColumn("Age", "age", True, 0.3, 2),
    ]


def test_the_sentence_gives_the_rank_the_weight_and_the_option() -> None:
    column = SensitiveColumn("Gender", "gender", True, 0.031, 5)
    assert column.sentence(19) == (
        "Gender (gender) is used: 5th of 19 drivers, 3.1% of the model's weight; "
        "leave it out with --exclude Gender"
    )
    unused = SensitiveColumn("Marital Status", "marital status", False, 0.0, None)
    assert unused.sentence(19) == "Marital Status (marital status) is not used by the churn model"


@pytest.mark.parametrize(
    ("number", "text"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (21, "21st")],
)
def test_ranks_read_as_ordinals(number: int, text: str) -> None:
    assert ordinal(number) == text


def test_a_gender_that_drives_churn_is_listed_with_its_rank_and_share(
    bundle: Path, data: Path
) -> None:
    loaded = load_bundle(bundle)
    listed = {column.column: column for column in loaded.manifest.sensitive_columns}
    assert set(listed) == {"Gender", "SeniorCitizen"}
    gender = listed["Gender"]
    assert gender.used and gender.attribute == "gender"
    assert gender.contribution_share > 0.02
    # The rank is the place of its share among every feature's share of the final model.
    spec = loaded.spec
    table = prepare_training_table(pl.read_csv(data), ColumnRoles(), str(data))
    matrix = spec.matrix(table.features, str(data))
    shares = contribution_shares(loaded.booster, matrix, spec.xgboost_types)
    index = spec.names.index("Gender")
    assert gender.contribution_share == pytest.approx(shares[index])
    assert gender.rank == 1 + int((shares > shares[index]).sum())


def test_an_excluded_gender_is_listed_as_not_used(tmp_path: Path, data: Path) -> None:
    options = TrainOptions(excluded=("Gender",), folds=2, policy=False)
    train(data, tmp_path / "models", options)
    manifest = load_bundle(tmp_path / "models").manifest
    assert "Gender" not in manifest.features.names
    (gender,) = [column for column in manifest.sensitive_columns if column.column == "Gender"]
    assert (gender.used, gender.rank, gender.contribution_share) == (False, None, 0.0)


def test_train_prints_one_whole_line_per_sensitive_column(tmp_path: Path, data: Path) -> None:
    result = run_cli(
        "train", str(data), "--models", str(tmp_path / "m"), "--folds", "2", "--skip-policy",
        columns=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("sensitive:")]
    assert len(lines) == 2
    gender = next(line for line in lines if "Gender" in line)
    assert "Gender (gender) is used: " in gender and "drivers" in gender
    assert gender.endswith("leave it out with --exclude Gender")


Damage = Callable[[dict[str, Any]], None]


def _set(key: str, value: object) -> Damage:
    def damage(column: dict[str, Any]) -> None:
        column[key] = value

    return damage


def _delete(key: str) -> Damage:
    def damage(column: dict[str, Any]) -> None:
        del column[key]

    return damage


DAMAGES: dict[str, tuple[Damage, str]] = {
    "used as text": (_set("used", "yes"), 'sensitive_columns[0].used is "yes", not true'),
    "used missing": (_delete("used"), "sensitive_columns[0].used is missing"),
    "not used but a feature": (_set("used", False), "sensitive_columns[0].used is false"),
    "no rank for a used column": (_set("rank", None), "sensitive_columns[0].rank is null"),
    "a rank of 0": (_set("rank", 0), "sensitive_columns[0].rank is 0"),
    "a fractional rank": (_set("rank", 1.5), "sensitive_columns[0].rank"),
    "a rank beyond the features": (_set("rank", 10_000), "sensitive_columns[0].rank is 10000"),
    "no attribute": (_delete("attribute"), "sensitive_columns[0].attribute is missing"),
    "a negative share": (_set("contribution_share", -0.1), "contribution_share is -0.1"),
    "an unknown key": (_set("surprise", 1), "sensitive_columns[0].surprise"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_sensitive_entry_is_refused_naming_its_key(
    case: str, tmp_path: Path, bundle: Path
) -> None:
    damage, expected = DAMAGES[case]
    models = shutil.copytree(bundle, tmp_path / "models")
    manifest = json.loads((models / MANIFEST).read_text())
    first = manifest["sensitive_columns"][0]
    assert first["used"]
    damage(first)
    (models / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as refused:
        load_bundle(models)
    assert expected in str(refused.value)


def test_a_sensitive_list_without_its_key_is_refused(tmp_path: Path, bundle: Path) -> None:
    models = shutil.copytree(bundle, tmp_path / "models")
    manifest = json.loads((models / MANIFEST).read_text())
    del manifest["sensitive_columns"]
    (models / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="sensitive_columns is missing"):
        load_bundle(models)
