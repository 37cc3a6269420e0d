"""Where the shipped demo data and model bundle are, in an installed wheel or a source checkout.

A `./data/dataset.xls` or `./models` in the working folder wins over the shipped copies, so a
user who trains a new bundle in a folder then scores with it there. A wheel carries the shipped
copies inside the package; an editable install (`pip install -e .`) runs from the source
checkout, where they are the repository's own `data/` and `models/`.
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
    for shipped in _shipped("data"):
        if (shipped / "dataset.xls").is_file():
            return shipped / "dataset.xls"
    raise UsageError("DATA", "no data file given and no shipped demo data found", "give a file")


def default_models() -> Path:
    """`./models` if it holds a bundle, else the bundle packaged with aura-sentinel."""
    if (LOCAL_MODELS / "bundle.json").is_file():
        return LOCAL_MODELS
    for shipped in _shipped("models"):
        if (shipped / "bundle.json").is_file():
            return shipped
    raise UsageError(
        "--models", "no model folder given and no shipped models found", "train with `train`"
    )


def _shipped(folder: str) -> tuple[Path, Path]:
    """The folder inside the installed package, then in the source checkout around it."""
    package = Path(str(resources.files("aura_sentinel")))
    checkout = package.parents[1]  # src/aura_sentinel -> the repository
    in_checkout = checkout / folder if (checkout / "pyproject.toml").is_file() else package
    return package / "shipped" / folder, in_checkout


def shipped_models() -> Path:
    """The bundle packaged with aura-sentinel, whatever the working folder holds (the Python
    API's default: a library call does not depend on the folder it runs in)."""
    for shipped in _shipped("models"):
        if (shipped / "bundle.json").is_file():
            return shipped
    raise UsageError(
        "models", "no shipped models found", "pass the folder of a bundle written by `train`"
    )
