"""The model bundle: a folder with XGBoost's own model file and `bundle.json`.

`bundle.json` records the format version, library versions, column roles, the feature spec, a
fingerprint of the training data, the cross-validated metrics, and the SHA-256 of every artifact.
Loading checks all of it and refuses a bundle that does not verify. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import xgboost as xgb

from aura_sentinel import __version__
from aura_sentinel.errors import BundleError, UsageError
from aura_sentinel.features import FeatureSpec
from aura_sentinel.io import atomic_folder
from aura_sentinel.schema import ColumnRoles

FORMAT_VERSION = 1
MANIFEST = "bundle.json"
CHURN_MODEL = "churn_model.ubj"
POLICY_WEIGHTS = "policy.pt"
_LIBRARIES = ("xgboost", "polars", "numpy", "torch")
FEATURE_SPEC_ATTRIBUTE = "aura_sentinel_features"


@dataclass
class Bundle:
    """A verified bundle, ready to score."""

    path: Path
    roles: ColumnRoles
    spec: FeatureSpec
    booster: xgb.Booster
    manifest: dict[str, Any]


def library_versions() -> dict[str, str]:
    versions = {"aura-sentinel": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_bundle(
    path: Path,
    artifacts: dict[str, bytes],
    spec: FeatureSpec,
    roles: ColumnRoles,
    details: dict[str, Any],
) -> None:
    """Write a bundle atomically: an interrupted or failed save leaves the old bundle intact.

    `artifacts` maps file names (the churn model, the policy weights) to their bytes; `details`
    holds the training record (data fingerprint, metrics, model shape, policy) stored as is.
    """
    _refuse_foreign_folder(path)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "libraries": library_versions(),
        "roles": roles.to_json(),
        "features": spec.to_json(),
        **details,
        "artifacts": {name: hashlib.sha256(data).hexdigest() for name, data in artifacts.items()},
    }
    with atomic_folder(path) as staging:
        for name, data in artifacts.items():
            (staging / name).write_bytes(data)
        (staging / MANIFEST).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


def load_bundle(path: Path) -> Bundle:
    """Read and verify a bundle; raise BundleError naming what is wrong."""
    manifest = read_manifest(path)
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, dict) or CHURN_MODEL not in artifacts:
        raise BundleError(str(path / MANIFEST), "lists no churn model", _RETRAIN)
    model_bytes = _verified_bytes(path, CHURN_MODEL, str(artifacts[CHURN_MODEL]))
    try:
        roles = ColumnRoles.from_json(manifest["roles"])
        spec = FeatureSpec.from_json(manifest["features"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(str(path / MANIFEST), f"is incomplete ({exc})", _RETRAIN) from exc
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(model_bytes))
    except xgb.core.XGBoostError as exc:
        raise BundleError(str(path / CHURN_MODEL), "is not an XGBoost model", _RETRAIN) from exc
    if booster.num_features() != len(spec.columns):
        raise BundleError(
            str(path),
            f"the churn model takes {booster.num_features()} features but bundle.json lists "
            f"{len(spec.columns)}",
            _RETRAIN,
        )
    if booster.attr(FEATURE_SPEC_ATTRIBUTE) != feature_spec_text(spec):
        raise BundleError(
            str(path),
            "the feature list in bundle.json is not the one the churn model was trained with",
            _RETRAIN,
        )
    return Bundle(path=path, roles=roles, spec=spec, booster=booster, manifest=manifest)


def feature_spec_text(spec: FeatureSpec) -> str:
    """The feature spec as canonical JSON, stored inside the churn model file as an attribute."""
    return json.dumps(spec.to_json(), sort_keys=True, separators=(",", ":"))


def churn_model_bytes(bundle: Bundle) -> bytes:
    return bytes(bundle.booster.save_raw(raw_format="ubj"))


def policy_weights(bundle: Bundle) -> bytes:
    """The verified bytes of the policy's state_dict; BundleError when the bundle has none."""
    artifacts = bundle.manifest["artifacts"]
    if POLICY_WEIGHTS not in artifacts or "policy" not in bundle.manifest:
        raise BundleError(
            str(bundle.path),
            "has no retention policy (trained with --skip-policy)",
            "train one with `aura-sentinel train --policy-only`",
        )
    return _verified_bytes(bundle.path, POLICY_WEIGHTS, str(artifacts[POLICY_WEIGHTS]))


def read_manifest(path: Path) -> dict[str, Any]:
    """The parsed bundle.json of a bundle folder, with its format version checked."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise BundleError(str(path), "no such model folder", "train one with `aura-sentinel train`")
    if not manifest_path.is_file():
        raise BundleError(str(manifest_path), "is missing", _RETRAIN)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(str(manifest_path), "is not valid JSON", _RETRAIN) from exc
    if not isinstance(manifest, dict):
        raise BundleError(str(manifest_path), "is not a JSON object", _RETRAIN)
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise BundleError(str(manifest_path), "has no format version", _RETRAIN)
    if version > FORMAT_VERSION:
        raise BundleError(
            str(manifest_path),
            f"has format version {version}, newer than this aura-sentinel reads ({FORMAT_VERSION})",
            "upgrade aura-sentinel",
        )
    if version < FORMAT_VERSION:
        raise BundleError(str(manifest_path), f"has old format version {version}", _RETRAIN)
    return manifest


_RETRAIN = "retrain with `aura-sentinel train` or restore the bundle"


def _verified_bytes(folder: Path, name: str, expected_sha256: str) -> bytes:
    artifact = folder / name
    if not artifact.is_file():
        raise BundleError(str(artifact), "is missing", _RETRAIN)
    content = artifact.read_bytes()
    if hashlib.sha256(content).hexdigest() != expected_sha256:
        raise BundleError(
            str(artifact),
            "does not match the SHA-256 recorded in bundle.json (changed or damaged)",
            _RETRAIN,
        )
    return content


def _refuse_foreign_folder(path: Path) -> None:
    """Never replace a folder that holds something other than a bundle."""
    if path.exists() and not path.is_dir():
        raise UsageError(str(path), "is a file, not a model folder", "choose a folder for --models")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).is_file():
        raise UsageError(
            str(path),
            "holds other files and no bundle.json, so it is not replaced",
            "choose a new or empty folder for --models",
        )
