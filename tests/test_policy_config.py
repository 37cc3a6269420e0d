"""`--policy-config`: a TOML file overrides the catalog, simulator and DQN settings by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura_sentinel.errors import UsageError
from aura_sentinel.retention.catalog import Action, ActionCatalog
from aura_sentinel.retention.config import PolicySettings, load_policy_config
from aura_sentinel.retention.simulator import SimulatorSettings


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
            "[simulator]\nmargin = 0.4\nbacklash_after = 2\n[dqn]\niterations = 100\n",
        )
    )
    assert settings.catalog.cost_shares == (0.0, 0.02, 0.03, 0.1, 0.2, 0.3)
    assert settings.simulator.margin == 0.4
    assert settings.simulator.backlash_after == 2
    assert settings.dqn.iterations == 100


def test_the_actions_lists_of_an_old_style_file_give_one_record_per_action(
    tmp_path: Path,
) -> None:
    """The action lists indexed by action id (the keys of every existing file and bundle) give
    the same settings as the `Action` records written directly."""
    settings = load_policy_config(
        _config(
            tmp_path,
            '[catalog]\nnames = ["Nothing", "Letter", "Voucher", "Visit"]\n'
            "cost_shares = [0, 0.03, 0.15, 0.5]\n"
            "[simulator]\naction_effects = [0, 0.05, 0.2, 0.4]\ndiscount_actions = [2]\n"
            "margin = 0.45\n",
        )
    )
    expected = PolicySettings(
        catalog=ActionCatalog(
            (
                Action("Nothing", 0.0, 0.0, discount=False),
                Action("Letter", 0.03, 0.05, discount=False),
                Action("Voucher", 0.15, 0.2, discount=True),
                Action("Visit", 0.5, 0.4, discount=False),
            )
        ),
        simulator=SimulatorSettings(margin=0.45),
    )
    assert settings == expected
    assert expected.to_json()["simulator"]["discount_actions"] == (2,)


def test_settings_survive_the_bundle_round_trip() -> None:
    settings = PolicySettings()
    assert PolicySettings.from_json(settings.to_json(), "bundle.json") == settings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[simulator]\nmargn = 0.4\n", "has no setting 'margn'"),
        ("[simulator]\nmargin = 'high'\n", "simulator.margin is 'high', allowed 0.01 <= x <= 1"),
        ("[simulator]\ndiscount = 1.5\n", "simulator.discount is 1.5, allowed 0 < x < 1"),
        (
            "[catalog]\ncost_shares = [0, 0.1]\n",
            "catalog.cost_shares has 2 values, allowed one per action in catalog.names \\(6\\)",
        ),
        ("[rewards]\nx = 1\n", "unknown table \\[rewards\\]"),
        ("[simulator\n", "is not valid TOML"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_policy_config(_config(tmp_path, text))
