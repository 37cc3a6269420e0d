"""Where the shipped demo data and model bundle are, in a checkout or an installed wheel.

A `./data/dataset.xls` or `./models` in the working folder wins over the packaged copies, so a
user who trains a new bundle in a folder then scores with it there.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aura_sentinel.errors import UsageError

LOCAL_DATA = Path("data") / "dataset.xls"
LOCAL_MODELS = Path("models")


def default_data() -> Path:
    """`./data/dataset.xls` if present, else the demo table packaged with aura-sentinel."""
    if LOCAL_DATA.is_file():
        return LOCAL_DATA
    packaged = _packaged("data") / "dataset.xls"
    if packaged.is_file():
        return packaged
    raise UsageError("DATA", "no data file given and no shipped demo data found", "give a file")


def default_models() -> Path:
    """`./models` if it holds a bundle, else the bundle packaged with aura-sentinel."""
    if (LOCAL_MODELS / "bundle.json").is_file():
        return LOCAL_MODELS
    packaged = _packaged("models")
    if (packaged / "bundle.json").is_file():
        return packaged
    raise UsageError(
        "--models", "no model folder given and no shipped models found", "train with `train`"
    )


def _packaged(folder: str) -> Path:
    return Path(str(resources.files("aura_sentinel"))) / "shipped" / folder
