"""`--policy-config`: a TOML file overrides the catalog, simulator and DQN settings by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura_sentinel.errors import UsageError
from aura_sentinel.retention.config import PolicySettings, load_policy_config


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_no_file_gives_the_defaults() -> None:
    assert load_policy_config(None) == PolicySettings()


def test_settings_are_overridden_by_name(tmp_path: Path) -> None:
    settings = load_policy_config(
        _config(
            tmp_path,
            "[catalog]\ncost_shares = [0, 0.02, 0.03, 0.1, 0.2, 0.3]\n"
            "[simulator]\nmargin = 0.4\nbacklash_after = 2\n[dqn]\niterations = 10\n",
        )
    )
    assert settings.catalog.cost_shares == (0.0, 0.02, 0.03, 0.1, 0.2, 0.3)
    assert settings.simulator.margin == 0.4
    assert settings.simulator.backlash_after == 2
    assert settings.dqn.iterations == 10


def test_settings_survive_the_bundle_round_trip() -> None:
    settings = PolicySettings()
    assert PolicySettings.from_json(settings.to_json(), "bundle.json") == settings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[simulator]\nmargn = 0.4\n", "has no setting 'margn'"),
        ("[simulator]\nmargin = 'high'\n", "simulator.margin must be a number"),
        ("[simulator]\ndiscount = 1.5\n", "discount must be in \\(0, 1\\)"),
        ("[catalog]\ncost_shares = [0, 0.1]\n", "one cost share per action name"),
        ("[rewards]\nx = 1\n", "unknown table \\[rewards\\]"),
        ("[simulator\n", "is not valid TOML"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_policy_config(_config(tmp_path, text))
