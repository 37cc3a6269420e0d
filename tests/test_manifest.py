"""bundle.json is one typed record, `Manifest`: written byte for byte as before, and every field
checked on load. A damaged field is refused by `score` and `report` with one line naming its key."""

from __future__ import annotations

import copy
import io
import json
import math
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aura_sentinel import cli
from aura_sentinel.bundle import MANIFEST, Manifest, load_bundle, save_bundle
from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import BundleError, DataError
from aura_sentinel.leakage import LeakWarning
from aura_sentinel.results import RESULT_COLUMNS
from aura_sentinel.retention.state import SOURCE_COLUMNS
from aura_sentinel.stopping import STOP_SIGNALS
from aura_sentinel.training import TrainOptions, train

from conftest import REPO, run_cli

MODELS = REPO / "models"
SHIPPED: dict[str, Any] = json.loads((MODELS / MANIFEST).read_text(encoding="utf-8"))
Damage = Callable[[dict[str, Any]], None]
Key = tuple[str | int, ...]
# Keys a bundle may lack or hold null in: the curves (older bundles), the policy (--skip-policy),
# the id column (row numbers are the ids), the state's columns (defaults) and the currency.
OPTIONAL = {"metrics.cv_curves", "policy"}
NULLABLE = {"roles.id", "currency", *(f"column_map.{role}" for role in SOURCE_COLUMNS)}


def test_the_shipped_manifest_is_read_into_typed_fields() -> None:
    manifest = load_bundle(MODELS).manifest
    assert manifest.roles.target == "Churn"
    assert manifest.training_data.rows == 7043
    assert manifest.churn_model.trees == SHIPPED["churn_model"]["trees"]
    assert manifest.metrics.cv["roc_auc"] == SHIPPED["metrics"]["cv"]["roc_auc"]
    assert manifest.policy is not None
    assert manifest.policy.settings.dqn.hidden == SHIPPED["policy"]["settings"]["dqn"]["hidden"]
    assert manifest.policy.evaluation.gain_ratio == SHIPPED["policy"]["evaluation"]["gain_ratio"]


def test_the_manifest_writes_back_the_exact_bytes_it_was_read_from() -> None:
    manifest = load_bundle(MODELS).manifest
    assert manifest.to_text() == (MODELS / MANIFEST).read_text(encoding="utf-8")
    assert json.loads(json.dumps(manifest.to_json())) == SHIPPED


def test_manifest_text_is_strict_json() -> None:
    manifest = load_bundle(MODELS).manifest
    leak = LeakWarning("tenure", math.nan, 0.0, "leak")
    broken = Manifest(**{**vars(manifest), "leakage_warnings": (leak,)})
    with pytest.raises(ValueError, match="JSON compliant"):
        broken.to_text()


def test_a_manifest_with_nan_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    bundle = load_bundle(MODELS)
    metrics = replace(bundle.manifest.metrics, cv={**bundle.manifest.metrics.cv, "f1": math.nan})
    files = {name: (MODELS / name).read_bytes() for name in bundle.manifest.artifacts}
    with pytest.raises(BundleError, match=r"metrics\.cv\.f1 is NaN, not a finite number"):
        save_bundle(tmp_path / "models", replace(bundle.manifest, metrics=metrics), files, [])
    assert not (tmp_path / "models").exists()


# ---- the damaged-manifest table ---------------------------------------------------------------


def _walk(data: Any, path: Key = ()) -> Iterator[tuple[Key, Any]]:
    """(path, value) of every key of the manifest, and of the first item of each list."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key), value
            yield from _walk(value, (*path, key))
    elif isinstance(data, list) and data:
        yield (*path, 0), data[0]
        yield from _walk(data[0], (*path, 0))


def _dotted(path: Key) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)[1:]


def _edit(path: Key, change: Callable[[Any, str | int], None]) -> Damage:
    def damage(manifest: dict[str, Any]) -> None:
        parent: Any = manifest
        for part in path[:-1]:
            parent = parent[part]
        change(parent, path[-1])

    return damage


def _set(path: Key, value: Any) -> Damage:
    def change(parent: Any, key: str | int) -> None:
        parent[key] = value

    return _edit(path, change)


def _delete(path: Key) -> Damage:
    def change(parent: Any, key: str | int) -> None:
        del parent[key]

    return _edit(path, change)


def _wrong_type(value: Any) -> Any:
    if isinstance(value, str):
        return 12345
    if isinstance(value, bool | int | float):
        return "12"
    return "text"  # for a list or an object


def _cases() -> dict[str, tuple[Damage, str]]:
    """case -> (damage to bundle.json, a word the error line must hold)."""
    cases: dict[str, tuple[Damage, str]] = {}
    for path, value in _walk(SHIPPED):
        key, last = _dotted(path), str(path[-1])
        named = last if isinstance(path[-1], str) else _dotted(path[-2:])
        if isinstance(path[-1], str) and key not in OPTIONAL and path[0] != "format_version":
            cases[f"{key} deleted"] = (_delete(path), named)
        if key not in NULLABLE | {"format_version"} and not (
            path[0] == "libraries" or path[0] == "artifacts"  # refused as a bad hash or version
        ):
            cases[f"{key} null"] = (_set(path, None), named)
            cases[f"{key} of the wrong type"] = (_set(path, _wrong_type(value)), named)
        if isinstance(value, float):
            cases[f"{key} NaN"] = (_set(path, math.nan), named)
    settings: Key = ("policy", "settings")
    cases |= {
        "roles null": (_set(("roles",), None), "roles"),
        "settings missing": (_delete(settings), "settings"),
        "a huge hidden layer": (_set((*settings, "dqn", "hidden"), 10**6), "hidden"),
        "a short effect list": (
            _set((*settings, "simulator", "action_effects"), [0.0, 0.1]),
            "action_effects",
        ),
        "a short cost list": (_set((*settings, "catalog", "cost_shares"), [0.0, 0.1]), "cost_"),
        "a short curve": (_edit(("metrics", "cv_curves", "captured"), _pop), "captured"),
        "short state columns": (_edit(("policy", "state_columns"), _pop), "state_columns"),
        "an infinite value": (_set(("policy", "evaluation", "gain_ratio"), math.inf), "gain_ratio"),
        "an infinite setting": (
            _set((*settings, "simulator", "margin"), -math.inf),
            "margin",
        ),
        "a probability above 1": (_set(("metrics", "cv", "roc_auc"), 1.5), "roc_auc"),
        "a negative churn rate": (_set(("training_data", "churn_rate"), -0.5), "churn_rate"),
        "no rows": (_set(("training_data", "rows"), 0), "rows"),
        "one fold": (_set(("metrics", "folds"), 1), "folds"),
        "a boolean tree count": (_set(("churn_model", "trees"), True), "trees"),
        "a fractional tree count": (_set(("churn_model", "trees"), 12.5), "trees"),
        "a match share of 2": (_set(("policy", "evaluation", "optimal_action_match"), 2), "match"),
        "a missing policy value": (
            _delete(("policy", "evaluation", "value_per_customer", "dqn")),
            "dqn",
        ),
        "an unknown top-level key": (_set(("surprise",), 1), "surprise"),
        "an unknown nested key": (_set(("churn_model", "surprise"), 1), "surprise"),
        "an unknown artifact": (_set(("artifacts", "../x"), "0" * 64), "../x"),
        "a hash that is not hex": (_set(("artifacts", "churn_model.ubj"), "xyz"), "churn_model"),
        "an unknown feature kind": (_set(("features", "columns", 0, "kind"), "date"), "kind"),
        "a target named like a result column": (
            _set(("roles", "target"), "ChurnProbability"),
            "ChurnProbability",
        ),
        "an id named like a result column": (_set(("roles", "id"), "RiskLevel"), "RiskLevel"),
        "a target that is a feature": (_set(("roles", "target"), "tenure"), "tenure"),
        "an id that is the target": (_set(("roles", "id"), "Churn"), "Churn"),
        "a policy without its weights": (_delete(("artifacts", "policy.pt")), "policy.pt"),
        "an unknown state field": (_set(("column_map", "surprise"), "x"), "surprise"),
        "a currency too long": (_set(("currency",), "EUR" * 5), "currency"),
        "a currency with a control character": (_set(("currency",), "EU\x1bR"), "currency"),
    }
    return cases


def _pop(parent: Any, key: str | int) -> None:
    parent[key].pop()


CASES = _cases()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a small customer file, results scored from it with the shipped bundle)."""
    folder = tmp_path_factory.mktemp("manifest")
    data = folder / "customers.csv"
    generate_customers(40, seed=5).write_csv(data)
    results = folder / "results.csv"
    assert _cli("score", str(data), "--models", str(MODELS), "--out", str(results))[0] == 0
    return data, results


def _cli(*args: str) -> tuple[int, str]:
    """Run the command line in this process (as `aura-sentinel ARGS --quiet`): exit code and
    stderr. The stop-signal handlers the command sets are put back afterwards."""
    handlers = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    argv, stderr = sys.argv, sys.stderr
    sys.argv = ["aura-sentinel", *args, "--quiet"]
    sys.stderr = captured = io.StringIO()
    try:
        cli.main()
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    finally:
        sys.argv, sys.stderr = argv, stderr
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return code, captured.getvalue()


def _damaged_bundle(folder: Path, damage: Damage) -> Path:
    models = folder / "models"
    shutil.copytree(MODELS, models)
    manifest = copy.deepcopy(SHIPPED)
    damage(manifest)
    (models / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return models


def _assert_refused(code: int, stderr: str, word: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert word in lines[0], lines[0]


def test_the_table_covers_every_key_of_the_manifest() -> None:
    deleted = {case.removesuffix(" deleted") for case in CASES if case.endswith(" deleted")}
    assert {"roles.target", "policy.settings.dqn.hidden", "metrics.cv.ece"} <= deleted
    assert len(CASES) > 300


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_manifest_is_refused_naming_its_key(case: str, tmp_path: Path) -> None:
    damage, word = CASES[case]
    models = _damaged_bundle(tmp_path, damage)
    with pytest.raises(BundleError) as error:
        load_bundle(models)
    message = str(error.value)
    assert word in message and "\n" not in message, message


# `score` and `report` load a bundle through `load_bundle` alone, and print any BundleError as
# one line: every case is refused above; the commands are run on every seventh case, and on each
# special case (so the whole command's contract is checked without 900 command runs).
CLI_CASES = [
    case
    for index, case in enumerate(CASES)
    if index % 7 == 0 or not case.endswith(("deleted", "null", "of the wrong type", "NaN"))
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_a_damaged_manifest_is_one_line_for_score_and_report(
    case: str, tmp_path: Path, workspace: tuple[Path, Path]
) -> None:
    data, results = workspace
    damage, word = CASES[case]
    models = _damaged_bundle(tmp_path, damage)
    out = tmp_path / "results.csv"
    _assert_refused(*_cli("score", str(data), "--models", str(models), "--out", str(out)), word)
    assert not out.exists()
    html = tmp_path / "report.html"
    _assert_refused(
        *_cli("report", str(results), "--models", str(models), "--html", str(html)), word
    )
    assert not html.exists()


@pytest.mark.parametrize(
    "case", ["settings missing", "roles null", "a huge hidden layer", "metrics.cv.roc_auc NaN"]
)
def test_a_damaged_manifest_is_one_line_from_a_real_process(
    case: str, tmp_path: Path, workspace: tuple[Path, Path]
) -> None:
    data, _ = workspace
    damage, word = CASES[case]
    models = _damaged_bundle(tmp_path, damage)
    out = tmp_path / "results.csv"
    result = run_cli("score", str(data), "--models", str(models), "--out", str(out))
    _assert_refused(result.returncode, result.stderr, word)
    assert not out.exists()


def test_a_bad_field_names_its_key_the_value_and_the_allowed_range(tmp_path: Path) -> None:
    models = _damaged_bundle(tmp_path, _set(("churn_model", "depth"), 1000))
    with pytest.raises(BundleError) as error:
        load_bundle(models)
    assert str(error.value) == (
        f"{models / MANIFEST}: churn_model.depth is 1000, allowed 1-64 — "
        "retrain with `aura-sentinel train` or restore the bundle"
    )


def test_a_nan_literal_is_refused_with_its_key(tmp_path: Path) -> None:
    models = _damaged_bundle(tmp_path, lambda manifest: None)
    text = (models / MANIFEST).read_text(encoding="utf-8")
    (models / MANIFEST).write_text(
        text.replace(f'"brier": {SHIPPED["metrics"]["cv"]["brier"]!r}', '"brier": NaN')
    )
    with pytest.raises(BundleError, match=r"metrics\.cv\.brier is NaN, not a finite number"):
        load_bundle(models)


def test_policy_settings_are_checked_by_the_retention_rules(tmp_path: Path) -> None:
    models = _damaged_bundle(tmp_path, _set(("policy", "settings", "dqn", "hidden"), 10**6))
    with pytest.raises(
        BundleError, match=r"bundle\.json: policy\.settings\.dqn\.hidden is 1000000"
    ):
        load_bundle(models)


def test_policy_settings_may_not_fall_back_to_defaults(tmp_path: Path) -> None:
    models = _damaged_bundle(tmp_path, _delete(("policy", "settings", "simulator", "margin")))
    with pytest.raises(BundleError, match=r"policy\.settings\.simulator\.margin is missing"):
        load_bundle(models)


@pytest.mark.parametrize("column", ["ChurnProbability", "RiskLevel", "CustomerID", "TopDrivers"])
def test_training_refuses_a_target_named_like_a_result_column(column: str, tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    generate_customers(60, seed=2).rename({"Churn": column}).write_csv(data)
    with pytest.raises(DataError, match=f"the target column '{column}' has the name of a column"):
        train(data, tmp_path / "models", TrainOptions(target=column, folds=2, policy=False))
    assert not (tmp_path / "models").exists()


def test_training_refuses_an_id_named_like_a_result_column(tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    generate_customers(60, seed=2).rename({"customerID": "RiskLevel"}).write_csv(data)
    result = run_cli("train", str(data), "--models", str(tmp_path / "m"), "--id", "RiskLevel")
    _assert_refused(result.returncode, result.stderr, "'RiskLevel'")
    assert "--id" in result.stderr and not (tmp_path / "m").exists()


def test_every_result_column_name_is_refused_as_a_target() -> None:
    from aura_sentinel.results import named_like_result

    assert all(named_like_result(name, "target") for name in RESULT_COLUMNS)
    assert not named_like_result("CustomerID", "id")  # its values are the CustomerID column
