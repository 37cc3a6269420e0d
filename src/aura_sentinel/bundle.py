"""The model bundle: a folder with XGBoost's own model file and `bundle.json`.

`bundle.json` records the format version, library versions, column roles, the feature spec, a
fingerprint of the training data, the cross-validated metrics, the retention policy's settings and
evaluation, and the SHA-256 of every artifact. It is one typed record, `Manifest`, parsed and
checked field by field in one place (`Manifest.from_json`): a bad field is refused on load with its
key named. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import xgboost as xgb

from aura_sentinel import __version__
from aura_sentinel.churn import Candidate
from aura_sentinel.curves import Curves
from aura_sentinel.drift import ColumnDistribution, distributions_problem
from aura_sentinel.effects.learners import FittedLearner, booster_count
from aura_sentinel.effects.models import effect_model_name, is_effect_model
from aura_sentinel.effects.record import EffectsRecord, parse_effects
from aura_sentinel.errors import BundleError, UsageError
from aura_sentinel.features import FeatureColumn, FeatureSpec
from aura_sentinel.json_entry import MAX_COUNT, RETRAIN, SHA256, JsonEntry, shown_value
from aura_sentinel.leakage import VERDICTS, LeakWarning
from aura_sentinel.metrics import METRIC_NAMES
from aura_sentinel.outputs import FolderOutput, replaced_together
from aura_sentinel.results import named_like_result
from aura_sentinel.retention.catalog import MAX_ACTIONS
from aura_sentinel.retention.config import PolicySettings, simulator_for
from aura_sentinel.retention.evaluation import POLICY_LABELS, PolicyEvaluation
from aura_sentinel.retention.state import (
    SOURCE_COLUMNS,
    STATE_COLUMNS,
    StateSources,
    learned_effect_columns,
)
from aura_sentinel.schema import ColumnRoles
from aura_sentinel.sensitive import SensitiveColumn
from aura_sentinel.units import currency_problem, money_unit

FORMAT_VERSION = 4
MANIFEST = "bundle.json"
CHURN_MODEL = "churn_model.ubj"
POLICY_WEIGHTS = "policy.pt"
BUNDLE_FILES = (MANIFEST, CHURN_MODEL, POLICY_WEIGHTS)
"""Every file a bundle folder may hold; a folder holding anything else is never replaced."""
Q_VALUES_UNIT = "months of monthly charge, relative to the no-action lifetime value"
_LIBRARIES = ("xgboost", "polars", "numpy", "torch")
FEATURE_SPEC_ATTRIBUTE = "aura_sentinel_features"


@dataclass(frozen=True)
class TrainingData:
    """The fingerprint of the file a model was trained on."""

    file: str
    rows: int
    sha256: str
    churn_rate: float

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "sha256": self.sha256,
            "churn_rate": self.churn_rate,
        }


@dataclass(frozen=True)
class ChurnRecord:
    """The chosen XGBoost model's shape and every candidate the search tried."""

    trees: int
    depth: int
    learning_rate: float
    leaves: int
    candidates: tuple[Candidate, ...]
    file: str = CHURN_MODEL

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "trees": self.trees,
            "depth": self.depth,
            "learning_rate": self.learning_rate,
            "leaves": self.leaves,
            "candidates": [
                {
                    "depth": candidate.depth,
                    "learning_rate": candidate.learning_rate,
                    "rounds": candidate.rounds,
                    "roc_auc": candidate.roc_auc,
                    "log_loss": candidate.log_loss,
                }
                for candidate in self.candidates
            ],
        }


@dataclass(frozen=True)
class Metrics:
    """Cross-validated metrics (keyed by METRIC_NAMES) and curves of the churn model."""

    cv: dict[str, float]
    cv_curves: Curves | None
    folds: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"cv": dict(self.cv), "folds": self.folds, "seed": self.seed}
        if self.cv_curves is not None:
            record["cv_curves"] = self.cv_curves.to_json()
        return record


@dataclass(frozen=True)
class PolicyRecord:
    """The retention policy: its settings, its exact evaluation, and what it was trained on."""

    settings: PolicySettings
    evaluation: PolicyEvaluation
    training_customers: int
    training_data: TrainingData
    seed: int
    file: str = POLICY_WEIGHTS
    state_columns: tuple[str, ...] = STATE_COLUMNS
    q_values: str = Q_VALUES_UNIT

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "state_columns": list(self.state_columns),
            "q_values": self.q_values,
            "training_customers": self.training_customers,
            "settings": self.settings.to_json(),
            "evaluation": self.evaluation.to_json(),
            "training_data": self.training_data.to_json(),
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Manifest:
    """Everything bundle.json holds, typed; `to_json` gives the stored JSON object."""

    roles: ColumnRoles
    features: FeatureSpec
    training_data: TrainingData
    churn_model: ChurnRecord
    metrics: Metrics
    leakage_warnings: tuple[LeakWarning, ...]
    """Each feature suspected of giving the outcome away, strongest first."""
    sensitive_columns: tuple[SensitiveColumn, ...]
    """Each column named like a sensitive attribute, and its weight in the churn model."""
    policy: PolicyRecord | None
    """None: trained with --skip-policy."""
    libraries: dict[str, str]
    artifacts: dict[str, str]
    """SHA-256 of each artifact file, by file name."""
    distributions: tuple[ColumnDistribution, ...]
    """The training distribution of each feature and state field, for the drift check."""
    state_sources: StateSources
    """The column each state field is read from (None: its default), stored as "column_map"."""
    currency: str | None
    """The label of the table's money (`train --currency`), None when not given."""
    effects: EffectsRecord | None = None
    """What a campaign log taught about each action (`train --campaigns`); None: assumed."""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "libraries": dict(self.libraries),
            "roles": self.roles.to_json(),
            "features": self.features.to_json(),
            "training_data": self.training_data.to_json(),
            "churn_model": self.churn_model.to_json(),
            "metrics": self.metrics.to_json(),
            "leakage_warnings": [warning.to_json() for warning in self.leakage_warnings],
            "sensitive_columns": [column.to_json() for column in self.sensitive_columns],
            "artifacts": dict(self.artifacts),
            "distributions": [item.to_json() for item in self.distributions],
            "column_map": dict(self.state_sources.columns),
            "currency": self.currency,
        }
        if self.policy is not None:
            record["policy"] = self.policy.to_json()
        if self.effects is not None:
            record["effects"] = self.effects.to_json()
        return record

    @property
    def money_unit(self) -> str:
        """What costs, values and gains are counted in: "months of charge" without a monthly
        charge column, else the currency label, else "" (not known)."""
        return money_unit(self.state_sources.column("monthly_charges") is None, self.currency)

    def to_text(self) -> str:
        """The bytes of bundle.json: sorted keys, strict JSON (no NaN or infinity)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, data: object, source: str) -> Manifest:
        """The manifest in `data` (parsed JSON), every field checked; BundleError names the key."""
        return _parse_manifest(JsonEntry(data, "", source))


@dataclass
class Bundle:
    """A verified bundle, ready to score."""

    path: Path
    booster: xgb.Booster
    manifest: Manifest

    @property
    def roles(self) -> ColumnRoles:
        return self.manifest.roles

    @property
    def spec(self) -> FeatureSpec:
        return self.manifest.features


def library_versions() -> dict[str, str]:
    versions = {"aura-sentinel": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def artifact_hashes(artifacts: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in artifacts.items()}


def bundle_files(path: Path) -> list[Path]:
    """Every file a bundle folder may hold: inputs no output may replace."""
    effect_models = (effect_model_name(index) for index in range(MAX_ACTIONS + 1))
    return [path / name for name in (*BUNDLE_FILES, *effect_models)]


def bundle_folder(path: Path) -> FolderOutput:
    """A bundle folder as an output: it may hold nothing but a bundle's files to be replaced."""
    return FolderOutput(path, owns=lambda name: name in BUNDLE_FILES or is_effect_model(name))


def save_bundle(
    path: Path, manifest: Manifest, artifacts: dict[str, bytes], reads: list[Path]
) -> None:
    """Write a bundle atomically: an interrupted or failed save leaves the old bundle intact.

    `artifacts` maps file names (the churn model, the policy weights) to their bytes, which
    must be the ones `manifest.artifacts` lists. The manifest is checked by the rules `load_bundle`
    applies before anything is written, so training never writes a bundle that loading refuses.
    `reads` are the files training read (none may be in the folder).
    """
    if manifest.artifacts != artifact_hashes(artifacts):
        raise ValueError("the manifest does not list the SHA-256 of the artifacts saved")
    # Refuse what loading would refuse (a NaN metric included) before anything is written.
    Manifest.from_json(json.loads(json.dumps(manifest.to_json())), str(path / MANIFEST))
    text = manifest.to_text()
    with replaced_together(reads, folder=bundle_folder(path)) as staged:
        assert staged.folder is not None
        for name, data in artifacts.items():
            (staged.folder / name).write_bytes(data)
        (staged.folder / MANIFEST).write_text(text, encoding="utf-8")


def load_bundle(path: Path) -> Bundle:
    """Read and verify a bundle; raise BundleError naming what is wrong."""
    manifest = read_manifest(path)
    model_bytes = _verified_bytes(path, CHURN_MODEL, manifest.artifacts[CHURN_MODEL])
    spec = manifest.features
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(model_bytes))
    except xgb.core.XGBoostError as exc:
        raise BundleError(str(path / CHURN_MODEL), "is not an XGBoost model", RETRAIN) from exc
    if booster.num_features() != len(spec.columns):
        raise BundleError(
            str(path),
            f"the churn model takes {booster.num_features()} features but bundle.json lists "
            f"{len(spec.columns)}",
            RETRAIN,
        )
    if booster.attr(FEATURE_SPEC_ATTRIBUTE) != feature_spec_text(spec):
        raise BundleError(
            str(path),
            "the feature list in bundle.json is not the one the churn model was trained with",
            RETRAIN,
        )
    return Bundle(path=path, booster=booster, manifest=manifest)


def feature_spec_text(spec: FeatureSpec) -> str:
    """The feature spec as canonical JSON, stored inside the churn model file as an attribute."""
    return json.dumps(spec.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)


def churn_model_bytes(bundle: Bundle) -> bytes:
    return bytes(bundle.booster.save_raw(raw_format="ubj"))


def effect_learner(bundle: Bundle) -> FittedLearner | None:
    """The bundle's verified effect models (None: trained without a campaign log)."""
    effects = bundle.manifest.effects
    if effects is None:
        return None
    names = sorted(name for name in bundle.manifest.artifacts if is_effect_model(name))
    blobs = [_verified_bytes(bundle.path, name, bundle.manifest.artifacts[name]) for name in names]
    try:
        return FittedLearner.from_bytes(effects.learner, blobs, len(effects.tried), effects.tried)
    except (xgb.core.XGBoostError, ValueError) as exc:
        raise BundleError(str(bundle.path), "the effect models cannot be read", RETRAIN) from exc


def _check_effect_models(entry: JsonEntry, manifest: Manifest) -> None:
    """The artifacts list effect models exactly when there are effects, as many as expected."""
    count = sum(1 for name in manifest.artifacts if is_effect_model(name))
    effects = manifest.effects
    expected = 0 if effects is None else booster_count(effects.learner, effects.tried)
    if count != expected or any(
        effect_model_name(index) not in manifest.artifacts for index in range(expected)
    ):
        raise entry.problem("artifacts", f"lists {count} effect models, expected {expected}")


def _check_state_columns(
    entry: JsonEntry, policy: PolicyRecord, effects: EffectsRecord | None
) -> None:
    """The policy's state is the nine columns, then the learned effects when there are any."""
    actions = policy.settings.catalog.size
    if effects is not None and len(effects.action_names) != actions:
        raise entry.problem(
            "settings", f"have {actions} actions, the learned effects {len(effects.action_names)}"
        )
    expected = STATE_COLUMNS if effects is None else learned_effect_columns(actions)
    if policy.state_columns != expected:
        raise entry.problem(
            "state_columns", f"are not the state this aura-sentinel builds ({len(expected)})"
        )


def policy_record(bundle: Bundle) -> PolicyRecord:
    """The bundle's retention policy; BundleError when it has none."""
    policy = bundle.manifest.policy
    if policy is None or POLICY_WEIGHTS not in bundle.manifest.artifacts:
        raise BundleError(
            str(bundle.path),
            "has no retention policy (trained with --skip-policy)",
            "train one with `aura-sentinel train --policy-only`",
        )
    return policy


def policy_weights(bundle: Bundle) -> bytes:
    """The verified bytes of the policy's state_dict; BundleError when the bundle has none."""
    policy_record(bundle)
    return _verified_bytes(bundle.path, POLICY_WEIGHTS, bundle.manifest.artifacts[POLICY_WEIGHTS])


def read_manifest(path: Path) -> Manifest:
    """The checked bundle.json of a bundle folder."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise BundleError(str(path), "no such model folder", "train one with `aura-sentinel train`")
    if not manifest_path.is_file():
        raise BundleError(str(manifest_path), "is missing", RETRAIN)
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(str(manifest_path), "is not valid JSON", RETRAIN) from exc
    if not isinstance(data, dict):
        raise BundleError(str(manifest_path), "is not a JSON object", RETRAIN)
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleError(str(manifest_path), "has no format version", RETRAIN)
    if version > FORMAT_VERSION:
        raise BundleError(
            str(manifest_path),
            f"has format version {version}, newer than this aura-sentinel reads ({FORMAT_VERSION})",
            "upgrade aura-sentinel",
        )
    if version < FORMAT_VERSION:
        raise BundleError(str(manifest_path), f"has old format version {version}", RETRAIN)
    return Manifest.from_json(data, str(manifest_path))


# ---- parsing: every field of bundle.json, checked, with its key named in the error ----------


def _parse_manifest(entry: JsonEntry) -> Manifest:
    entry.integer("format_version", FORMAT_VERSION, FORMAT_VERSION)
    features = _parse_features(entry.entry("features"))
    manifest = Manifest(
        roles=_parse_roles(entry.entry("roles"), features),
        features=features,
        training_data=_parse_training_data(entry.entry("training_data")),
        churn_model=_parse_churn_record(entry.entry("churn_model")),
        metrics=_parse_metrics(entry.entry("metrics")),
        leakage_warnings=_parse_leakage_warnings(entry, features),
        sensitive_columns=_parse_sensitive_columns(entry, features),
        policy=_parse_policy(entry.entry("policy")) if entry.has("policy") else None,
        libraries=_parse_libraries(entry.entry("libraries")),
        artifacts=_parse_artifacts(entry),
        distributions=_parse_distributions(entry, features),
        state_sources=_parse_column_map(entry.entry("column_map")),
        currency=_parse_currency(entry),
        effects=(
            parse_effects(entry.entry("effects"), _parse_features) if entry.has("effects") else None
        ),
    )
    _check_effect_models(entry, manifest)
    if manifest.policy is not None:
        _check_state_columns(entry.entry("policy"), manifest.policy, manifest.effects)
    if manifest.policy is not None and POLICY_WEIGHTS not in manifest.artifacts:
        raise entry.problem("artifacts", f"lists no {POLICY_WEIGHTS} for the policy")
    entry.done()
    return manifest


def _parse_leakage_warnings(entry: JsonEntry, features: FeatureSpec) -> tuple[LeakWarning, ...]:
    warnings = []
    for item in entry.entries("leakage_warnings"):
        warning = LeakWarning(
            column=item.text("column"),
            roc_auc=item.number("roc_auc", 0.5, 1),
            contribution_share=item.number("contribution_share", 0, 1),
            verdict=item.text("verdict", allowed=VERDICTS),
        )
        item.done()
        if warning.column not in features.names:
            raise item.problem("column", f"'{warning.column}' is not a feature of the churn model")
        warnings.append(warning)
    return tuple(warnings)


def _parse_sensitive_columns(
    entry: JsonEntry, features: FeatureSpec
) -> tuple[SensitiveColumn, ...]:
    columns = []
    for item in entry.entries("sensitive_columns"):
        column = SensitiveColumn(
            column=item.text("column"),
            attribute=item.text("attribute"),
            used=item.boolean("used"),
            contribution_share=item.number("contribution_share", 0, 1),
            rank=item.optional_integer("rank", 1, len(features.columns)),
        )
        item.done()
        used = shown_value(column.used)
        if column.used != (column.column in features.names):
            feature = "a feature" if column.column in features.names else "not a feature"
            raise item.problem("used", f"is {used} but '{column.column}' is {feature} of the model")
        if column.used != (column.rank is not None):
            raise item.problem(
                "rank", f"is {shown_value(column.rank)} for a column with used {used}"
            )
        columns.append(column)
    return tuple(columns)


def _parse_column_map(entry: JsonEntry) -> StateSources:
    columns = {role: entry.optional_text(role) for role in SOURCE_COLUMNS}
    entry.done()
    return StateSources(columns)


def _parse_currency(entry: JsonEntry) -> str | None:
    currency = entry.optional_text("currency")
    problem = None if currency is None else currency_problem(currency)
    if problem is not None:
        raise entry.problem("currency", problem)
    return currency


def _parse_distributions(entry: JsonEntry, features: FeatureSpec) -> tuple[ColumnDistribution, ...]:
    distributions = []
    for item in entry.entries("distributions"):
        kind = item.text("kind", allowed=("number", "category"))
        distribution = ColumnDistribution(
            name=item.text("name"),
            kind="category" if kind == "category" else "number",
            edges=tuple(item.numbers("edges", -math.inf, math.inf)),
            levels=tuple(item.texts("levels")),
            shares=tuple(item.numbers("shares", 0, 1)),
            missing_share=item.number("missing_share", 0, 1),
            low=item.number("low", -math.inf, math.inf),
            high=item.number("high", -math.inf, math.inf),
        )
        item.done()
        problem = distribution.problem()
        if problem is not None:
            raise item.problem(*problem)
        distributions.append(distribution)
    found = distributions_problem(tuple(distributions), features)
    if found is not None:
        raise entry.problem(f"distributions{found[0]}", found[1])
    return tuple(distributions)


def _parse_roles(entry: JsonEntry, features: FeatureSpec) -> ColumnRoles:
    roles = ColumnRoles(
        target=entry.text("target"),
        id=entry.optional_text("id"),
        excluded=tuple(entry.texts("excluded")),
    )
    entry.done()
    named = [("target", roles.target)] + ([] if roles.id is None else [("id", roles.id)])
    for role, name in named:
        if name in features.names:
            raise entry.problem(role, f"'{name}' is also a feature of the churn model")
        if named_like_result(name, role):
            raise entry.problem(role, f"'{name}' is the name of a column `score` writes")
    if roles.id == roles.target:
        raise entry.problem("id", f"'{roles.id}' is also the target column")
    return roles


def _parse_features(entry: JsonEntry) -> FeatureSpec:
    columns = []
    for item in entry.entries("columns", minimum=1):
        kind = item.text("kind", allowed=("number", "category"))
        columns.append(
            FeatureColumn(
                name=item.text("name"),
                kind="category" if kind == "category" else "number",
                levels=tuple(item.texts("levels")),
            )
        )
        item.done()
    dropped = []
    for item in entry.entries("dropped"):
        dropped.append((item.text("name"), item.text("reason")))
        item.done()
    entry.done()
    spec = FeatureSpec(columns=tuple(columns), dropped=tuple(dropped))
    if len(set(spec.names)) != len(spec.names):
        raise entry.problem("columns", "names a feature twice")
    return spec


def _parse_training_data(entry: JsonEntry) -> TrainingData:
    data = TrainingData(
        file=entry.text("file"),
        rows=entry.integer("rows", 1, MAX_COUNT),
        sha256=entry.text("sha256", pattern=SHA256),
        churn_rate=entry.number("churn_rate", 0, 1),
    )
    entry.done()
    return data


def _parse_churn_record(entry: JsonEntry) -> ChurnRecord:
    candidates = []
    for item in entry.entries("candidates", minimum=1):
        candidates.append(
            Candidate(
                depth=item.integer("depth", 1, 64),
                learning_rate=item.number("learning_rate", 0, 1, low_open=True),
                rounds=item.integer("rounds", 1, MAX_COUNT),
                roc_auc=item.number("roc_auc", 0, 1),
                log_loss=item.number("log_loss", 0, math.inf),
                fold_roc_auc=(),
            )
        )
        item.done()
    record = ChurnRecord(
        file=entry.text("file", allowed=(CHURN_MODEL,)),
        trees=entry.integer("trees", 1, MAX_COUNT),
        depth=entry.integer("depth", 1, 64),
        learning_rate=entry.number("learning_rate", 0, 1, low_open=True),
        leaves=entry.integer("leaves", 1, MAX_COUNT),
        candidates=tuple(candidates),
    )
    entry.done()
    return record


def _parse_metrics(entry: JsonEntry) -> Metrics:
    cv = entry.number_map("cv", 0, math.inf, keys=METRIC_NAMES)
    for name in ("roc_auc", "pr_auc", "accuracy", "f1", "brier", "ece"):
        if cv[name] > 1:
            raise entry.problem(f"cv.{name}", f"is {cv[name]}, allowed 0-1")
    curves = _parse_curves(entry.entry("cv_curves")) if entry.has("cv_curves") else None
    metrics = Metrics(
        cv=cv,
        cv_curves=curves,
        folds=entry.integer("folds", 2, MAX_COUNT),
        seed=entry.integer("seed", 0, 2**32 - 1),
    )
    entry.done()
    return metrics


def _parse_curves(entry: JsonEntry) -> Curves:
    curves = Curves(
        contacted=entry.numbers("contacted", 0, 1),
        captured=entry.numbers("captured", 0, 1),
        false_alarms=entry.numbers("false_alarms", 0, 1),
        predicted=entry.numbers("predicted", 0, 1),
        observed=entry.numbers("observed", 0, 1),
        customers=entry.integers("customers", 0, MAX_COUNT),
    )
    entry.done()
    for group in (
        ("contacted", "captured", "false_alarms"),
        ("predicted", "observed", "customers"),
    ):
        lengths = [len(getattr(curves, name)) for name in group]
        if min(lengths) < 1 or len(set(lengths)) > 1:
            pairs = zip(group, lengths, strict=True)
            shown = ", ".join(f"{name} {length}" for name, length in pairs)
            raise entry.problem(group[0], f"and the lists beside it differ in length ({shown})")
    return curves


def _parse_policy(entry: JsonEntry) -> PolicyRecord:
    record = PolicyRecord(
        file=entry.text("file", allowed=(POLICY_WEIGHTS,)),
        state_columns=tuple(entry.texts("state_columns")),
        q_values=entry.text("q_values"),
        training_customers=entry.integer("training_customers", 1, MAX_COUNT),
        settings=_parse_policy_settings(entry.entry("settings")),
        evaluation=_parse_evaluation(entry.entry("evaluation")),
        training_data=_parse_training_data(entry.entry("training_data")),
        seed=entry.integer("seed", 0, 2**32 - 1),
    )
    entry.done()
    return record


def _parse_policy_settings(entry: JsonEntry) -> PolicySettings:
    """The settings, checked by the retention settings' own rules, complete (no defaults)."""
    entry.check_finite()
    try:
        settings = PolicySettings.from_json(entry.data, entry.key)
    except UsageError as exc:
        table = exc.problem.split(".", 1)[0]
        joined = "." if table in ("catalog", "simulator", "dqn") else ": "
        raise BundleError(entry.source, f"{entry.key}{joined}{exc.problem}", RETRAIN) from exc
    entry.require_keys(settings.to_json())
    try:
        simulator_for(settings)  # the catalog and the simulator's per-action lists must agree
    except ValueError as exc:
        raise BundleError(entry.source, f"{entry.key}: {exc}", RETRAIN) from exc
    return settings


def _parse_evaluation(entry: JsonEntry) -> PolicyEvaluation:
    evaluation = PolicyEvaluation(
        customers=entry.integer("customers", 1, MAX_COUNT),
        values=entry.number_map("value_per_customer", -math.inf, math.inf, keys=POLICY_LABELS),
        gain_ratio=entry.number("gain_ratio", -math.inf, math.inf),
        optimal_match=entry.number("optimal_action_match", 0, 1),
        differs_from_myopic=entry.number("optimal_differs_from_myopic", 0, 1),
        differs_from_no_action=entry.number("optimal_differs_from_no_action", 0, 1),
    )
    entry.done()
    return evaluation


def _parse_libraries(entry: JsonEntry) -> dict[str, str]:
    libraries = {name: entry.text(name) for name in ("aura-sentinel", *_LIBRARIES)}
    entry.done()
    return libraries


def _parse_artifacts(entry: JsonEntry) -> dict[str, str]:
    artifacts = entry.entry("artifacts")
    hashes = {}
    for name in artifacts.data:
        if name not in (CHURN_MODEL, POLICY_WEIGHTS) and not is_effect_model(name):
            raise artifacts.problem(name, "is not a file of a bundle")
        hashes[name] = artifacts.text(name, pattern=SHA256)
    if CHURN_MODEL not in hashes:
        raise artifacts.problem(CHURN_MODEL, "is missing")
    return hashes


def _verified_bytes(folder: Path, name: str, expected_sha256: str) -> bytes:
    artifact = folder / name
    if not artifact.is_file():
        raise BundleError(str(artifact), "is missing", RETRAIN)
    content = artifact.read_bytes()
    if hashlib.sha256(content).hexdigest() != expected_sha256:
        raise BundleError(
            str(artifact),
            "does not match the SHA-256 recorded in bundle.json (changed or damaged)",
            RETRAIN,
        )
    return content
