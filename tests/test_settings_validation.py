"""Every policy setting checks itself: a bad value is one line naming the key and what is allowed.

The same checks run for a `--policy-config` file and for the settings stored in a bundle, because
they live in the settings records (`Action`, `ActionCatalog`, `SimulatorSettings`, `DQNConfig`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import UsageError
from aura_sentinel.retention.catalog import Action, ActionCatalog
from aura_sentinel.retention.checks import SettingError
from aura_sentinel.retention.config import DQNConfig, PolicySettings, load_policy_config
from aura_sentinel.retention.evaluation import RiskRuleActions, baseline_policies
from aura_sentinel.retention.simulator import Simulator, SimulatorSettings

from conftest import REPO, run_cli

NAN = math.nan
SIX_NAMES = ["No action", "Send email", "Send SMS", "10% off", "20% off", "Call"]
FIX = "fix the policy settings"


def _case(table: str, key: str, value: Any, message: str) -> Any:
    return pytest.param({table: {key: value}}, message, id=f"{table}.{key}={value!r}"[:60])


BAD_SETTINGS = [
    # [dqn]
    _case("dqn", "hidden", 0, "dqn.hidden is 0, allowed a whole number 1 <= x <= 4096"),
    _case("dqn", "hidden", 10**6, "dqn.hidden is 1000000, allowed a whole number 1 <= x <= 4096"),
    _case("dqn", "hidden", 64.0, "dqn.hidden is 64.0, allowed a whole number 1 <= x <= 4096"),
    _case("dqn", "learning_rate", 0, "dqn.learning_rate is 0.0, allowed 0 < x <= 1"),
    _case("dqn", "learning_rate", NAN, "dqn.learning_rate is nan, allowed 0 < x <= 1"),
    _case(
        "dqn",
        "final_learning_rate_share",
        1.5,
        "dqn.final_learning_rate_share is 1.5, allowed 0 <= x <= 1",
    ),
    _case(
        "dqn", "iterations", -5, "dqn.iterations is -5, allowed a whole number 1 <= x <= 1000000"
    ),
    _case(
        "dqn",
        "iterations",
        True,
        "dqn.iterations is true, allowed a whole number 1 <= x <= 1000000",
    ),
    _case(
        "dqn",
        "parallel_customers",
        0,
        "dqn.parallel_customers is 0, allowed a whole number 1 <= x <= 16384",
    ),
    _case("dqn", "batch_size", 0, "dqn.batch_size is 0, allowed a whole number 1 <= x <= 16384"),
    _case(
        "dqn",
        "buffer_size",
        100,
        "dqn.buffer_size is 100, allowed 512 <= x <= 5000000 "
        "(at least batch_size and parallel_customers)",
    ),
    _case(
        "dqn",
        "learning_starts",
        10_000,
        "dqn.learning_starts is 10000, allowed 0 <= x <= 9999 "
        "(fewer than iterations, or the network never learns)",
    ),
    _case(
        "dqn",
        "learning_starts",
        -1,
        "dqn.learning_starts is -1, allowed a whole number 0 <= x <= 1000000",
    ),
    _case(
        "dqn",
        "target_update_interval",
        0,
        "dqn.target_update_interval is 0, allowed a whole number 1 <= x <= 1000000",
    ),
    _case("dqn", "epsilon_start", 1.5, "dqn.epsilon_start is 1.5, allowed 0 <= x <= 1"),
    _case("dqn", "epsilon_end", -0.1, "dqn.epsilon_end is -0.1, allowed 0 <= x <= 1"),
    _case(
        "dqn",
        "epsilon_decay_fraction",
        "half",
        "dqn.epsilon_decay_fraction is 'half', allowed 0 <= x <= 1",
    ),
    _case(
        "dqn",
        "restart_probability",
        math.inf,
        "dqn.restart_probability is inf, allowed 0 <= x <= 1",
    ),
    _case("dqn", "seed", -1, "dqn.seed is -1, allowed a whole number 0 <= x <= 4294967295"),
    _case(
        "dqn", "seed", 2**32, "dqn.seed is 4294967296, allowed a whole number 0 <= x <= 4294967295"
    ),
    # [simulator]
    _case("simulator", "discount", 1.0, "simulator.discount is 1.0, allowed 0 < x < 1"),
    _case("simulator", "margin", 0, "simulator.margin is 0.0, allowed 0.01 <= x <= 1"),
    _case(
        "simulator",
        "churn_horizon_months",
        0,
        "simulator.churn_horizon_months is 0.0, allowed 1 <= x <= 120",
    ),
    _case(
        "simulator",
        "campaign_horizon_months",
        -1,
        "simulator.campaign_horizon_months is -1.0, allowed 0 <= x <= 120",
    ),
    _case(
        "simulator", "response_prior", NAN, "simulator.response_prior is nan, allowed 0 < x <= 1"
    ),
    _case(
        "simulator",
        "max_responsiveness",
        -1,
        "simulator.max_responsiveness is -1.0, allowed 0 <= x <= 10",
    ),
    _case(
        "simulator",
        "engagement_weight",
        3,
        "simulator.engagement_weight is 3.0, allowed 0 <= x <= 2",
    ),
    _case(
        "simulator",
        "contract_response",
        [1, 0.6],
        "simulator.contract_response has 2 values, allowed exactly 3",
    ),
    _case(
        "simulator",
        "contract_response",
        [1, -0.6, 0.4],
        "simulator.contract_response[1] is -0.6, allowed 0 <= x <= 10",
    ),
    _case(
        "simulator",
        "price_sensitivity",
        {"fiber": 1.3},
        "simulator.price_sensitivity is a table, allowed a list of exactly 3 numbers",
    ),
    _case(
        "simulator",
        "price_sensitivity",
        [0.8, NAN, 1.3],
        "simulator.price_sensitivity[1] is nan, allowed 0 <= x <= 10",
    ),
    _case(
        "simulator",
        "new_customer_boost",
        -0.5,
        "simulator.new_customer_boost is -0.5, allowed 0 <= x <= 10",
    ),
    _case(
        "simulator",
        "new_customer_months",
        0,
        "simulator.new_customer_months is 0.0, allowed 0 < x <= 120",
    ),
    _case(
        "simulator",
        "max_recent_interventions",
        0,
        "simulator.max_recent_interventions is 0, allowed a whole number 1 <= x <= 12",
    ),
    _case(
        "simulator",
        "max_recent_interventions",
        10**9,
        "simulator.max_recent_interventions is 1000000000, allowed a whole number 1 <= x <= 12",
    ),
    _case("simulator", "fatigue", 1.5, "simulator.fatigue is 1.5, allowed 0 <= x <= 1"),
    _case("simulator", "recency", [], "simulator.recency has 0 values, allowed 1 to 12"),
    _case("simulator", "recency", [0.5] * 13, "simulator.recency has 13 values, allowed 1 to 12"),
    _case("simulator", "recency", [0.5, NAN], "simulator.recency[1] is nan, allowed 0 <= x <= 1"),
    _case(
        "simulator",
        "backlash_after",
        -1,
        "simulator.backlash_after is -1, allowed a whole number 0 <= x <= 100",
    ),
    _case("simulator", "backlash", "0.2", "simulator.backlash is '0.2', allowed 0 <= x <= 10"),
    _case("simulator", "max_effect", 1.1, "simulator.max_effect is 1.1, allowed 0 <= x <= 1"),
    _case(
        "simulator",
        "action_effects",
        [0, 0.04, NAN, 0.18, 0.3, 0.5],
        "simulator.action_effects[2] is nan, allowed 0 <= x < 1",
    ),
    _case(
        "simulator",
        "action_effects",
        [0, 0.04, 0.07, 0.18, 0.3, 1],
        "simulator.action_effects[5] is 1.0, allowed 0 <= x < 1",
    ),
    _case(
        "simulator",
        "action_effects",
        [0.1, 0.04, 0.07, 0.18, 0.3, 0.5],
        "simulator.action_effects[0] is 0.1, allowed 0 (action 0 is doing nothing)",
    ),
    _case(
        "simulator",
        "action_effects",
        [0, 0.04],
        "simulator.action_effects has 2 values, allowed one per action in catalog.names (6)",
    ),
    _case(
        "simulator",
        "action_effects",
        "0.04",
        "simulator.action_effects is '0.04', allowed a list of numbers",
    ),
    _case(
        "simulator",
        "discount_actions",
        [9],
        "simulator.discount_actions[0] is 9, allowed a whole number 1 <= x <= 5",
    ),
    _case(
        "simulator",
        "discount_actions",
        [0],
        "simulator.discount_actions[0] is 0, allowed a whole number 1 <= x <= 5",
    ),
    _case(
        "simulator",
        "discount_actions",
        [3, 3],
        "simulator.discount_actions[1] repeats 3, allowed each action id once",
    ),
    _case(
        "simulator",
        "discount_actions",
        [3.0],
        "simulator.discount_actions[0] is 3.0, allowed a whole number 1 <= x <= 5",
    ),
    # [catalog]
    _case("catalog", "names", [], "catalog.names has 0 actions, allowed 2 to 16"),
    _case("catalog", "names", ["a"] * 17, "catalog.names has 17 actions, allowed 2 to 16"),
    _case(
        "catalog",
        "names",
        [*SIX_NAMES[:5], "Send email"],
        "catalog.names[5] repeats 'Send email' (catalog.names[1]), allowed one name per action",
    ),
    _case(
        "catalog",
        "names",
        [*SIX_NAMES[:5], " "],
        "catalog.names[5] is ' ', allowed a text of 1 to 80 printable characters",
    ),
    _case(
        "catalog",
        "names",
        [*SIX_NAMES[:5], "Call\nnow"],
        "catalog.names[5] is 'Call\\nnow', allowed a text of 1 to 80 printable characters",
    ),
    _case(
        "catalog",
        "names",
        [*SIX_NAMES[:5], 5],
        "catalog.names[5] is 5, allowed a text of 1 to 80 printable characters",
    ),
    _case(
        "catalog",
        "cost_shares",
        [0, 0.01, NAN, 0.1, 0.2, 0.35],
        "catalog.cost_shares[2] is nan, allowed 0 <= x <= 12",
    ),
    _case(
        "catalog",
        "cost_shares",
        [0, 0.01, -0.02, 0.1, 0.2, 0.35],
        "catalog.cost_shares[2] is -0.02, allowed 0 <= x <= 12",
    ),
    _case(
        "catalog",
        "cost_shares",
        [0.1, 0.01, 0.02, 0.1, 0.2, 0.35],
        "catalog.cost_shares[0] is 0.1, allowed 0 (action 0 is doing nothing)",
    ),
    _case(
        "catalog",
        "cost_shares",
        [0, 0.1],
        "catalog.cost_shares has 2 values, allowed one per action in catalog.names (6)",
    ),
    _case(
        "catalog",
        "cost_shares",
        [0, True, 0.02, 0.1, 0.2, 0.35],
        "catalog.cost_shares[1] is true, allowed 0 <= x <= 12",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_SETTINGS)
def test_a_bad_setting_is_one_line_naming_the_key_and_the_allowed_values(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        PolicySettings.from_json(data, "policy.toml")
    assert (caught.value.where, caught.value.problem, caught.value.fix) == (
        "policy.toml",
        message,
        FIX,
    )
    assert "\n" not in str(caught.value)


def test_every_setting_has_a_bad_value_above() -> None:
    tested = {
        f"{table}.{key}"
        for case in BAD_SETTINGS
        for table, values in case.values[0].items()
        for key in values
    }
    every = {
        f"{table}.{key}" for table, values in PolicySettings().to_json().items() for key in values
    }
    assert every - tested == set()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[dqn]\nhidden = true\n", "dqn.hidden is true, allowed a whole number 1 <= x <= 4096"),
        ('[simulator]\nmargin = "0.4"\n', "simulator.margin is '0.4', allowed 0.01 <= x <= 1"),
        ("[simulator]\nmargin = nan\n", "simulator.margin is nan, allowed 0.01 <= x <= 1"),
        (
            "[simulator.recency]\nfirst = 0.5\n",
            "simulator.recency is a table, allowed a list of 1 to 12 numbers",
        ),
        (
            "[simulator]\nrecency = [[0.5], 1.0]\n",
            "simulator.recency[0] is a list, allowed 0 <= x <= 1",
        ),
        (
            '[catalog]\nnames = [{name = "No action"}, "b", "c", "d", "e", "f"]\n',
            "catalog.names[0] is a table, allowed a text of 1 to 80 printable characters",
        ),
        ("[catalog]\nnames = 'No action'\n", "catalog.names is 'No action', allowed a list"),
        (
            "[simulator]\naction_effects = [0, 0.04, 0.07, 0.18, 0.3, inf]\n",
            "simulator.action_effects[5] is inf, allowed 0 <= x < 1",
        ),
        ("[dqn]\nbatch_size = 1e3\n", "dqn.batch_size is 1000.0, allowed a whole number"),
        ("catalog = 5\n", "[catalog] is 5 — write it as a table [catalog]"),
    ],
)
def test_toml_values_of_the_wrong_kind_are_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_policy_config(path)
    assert caught.value.where == str(path) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_records_check_themselves_when_made_in_code() -> None:
    with pytest.raises(SettingError, match=r"^dqn\.batch_size is 0, allowed"):
        DQNConfig(batch_size=0)
    with pytest.raises(SettingError, match=r"^simulator\.recency has 0 values"):
        SimulatorSettings(recency=())
    with pytest.raises(SettingError, match=r"^cost_share is nan, allowed 0 <= x <= 12"):
        Action("Email", NAN, 0.04, discount=False)
    with pytest.raises(SettingError, match=r"^effect is 1\.0, allowed 0 <= x < 1"):
        Action("Email", 0.01, 1.0, discount=False)
    with pytest.raises(SettingError, match=r"^discount is 1, allowed true or false"):
        Action("Email", 0.01, 0.04, discount=1)  # type: ignore[arg-type]
    with pytest.raises(SettingError, match=r"^catalog\.names has 1 actions, allowed 2 to 16"):
        ActionCatalog((Action("No action", 0.0, 0.0, discount=False),))
    with pytest.raises(SettingError, match=r"^simulator\.discount_actions includes 0"):
        ActionCatalog((Action("No", 0.0, 0.0, True), Action("Email", 0.01, 0.04, False)))


def test_a_bundle_with_a_huge_network_is_refused_before_anything_is_allocated() -> None:
    manifest = json.loads((REPO / "models" / "bundle.json").read_text())
    settings = manifest["policy"]["settings"]
    settings["dqn"]["hidden"] = 10**6
    with pytest.raises(UsageError, match=r"dqn\.hidden is 1000000, allowed a whole number"):
        PolicySettings.from_json(settings, "models/bundle.json")


def test_the_default_settings_are_the_shipped_bundles_settings_to_the_byte() -> None:
    manifest = json.loads((REPO / "models" / "bundle.json").read_text())
    stored = manifest["policy"]["settings"]
    assert json.dumps(PolicySettings().to_json(), sort_keys=True) == json.dumps(
        stored, sort_keys=True
    )
    assert PolicySettings.from_json(stored, "models/bundle.json") == PolicySettings()


def test_the_largest_allowed_settings_are_accepted() -> None:
    settings = PolicySettings.from_json(
        {
            "catalog": {
                "names": [f"action {index}" for index in range(16)],
                "cost_shares": [0] * 16,
            },
            "simulator": {
                "action_effects": [0.0] + [0.99] * 15,
                "discount_actions": list(range(1, 16)),
                "recency": [1] * 12,
                "max_recent_interventions": 12,
            },
            "dqn": {"hidden": 4096, "seed": 2**32 - 1, "buffer_size": 5_000_000},
        },
        "policy.toml",
    )
    assert settings.catalog.size == 16
    assert settings.simulator.recency == (1.0,) * 12


# The risk rule is defined from the catalog's records, not from action positions.


def _catalog(*actions: tuple[str, float, float, bool]) -> ActionCatalog:
    return ActionCatalog(tuple(Action(*action) for action in actions))


NOTHING = ("No action", 0.0, 0.0, False)


@pytest.mark.parametrize(
    ("catalog", "expected"),
    [
        pytest.param(ActionCatalog(), RiskRuleActions(high=5, medium=3, low=1), id="default"),
        pytest.param(
            _catalog(
                NOTHING,
                ("Call + 30% off", 0.35, 0.5, True),
                ("10% off", 0.1, 0.18, True),
                ("Email", 0.01, 0.04, False),
            ),
            RiskRuleActions(high=1, medium=2, low=3),
            id="reordered",
        ),
        pytest.param(
            _catalog(NOTHING, ("Email", 0.01, 0.04, False)),
            RiskRuleActions(high=1, medium=1, low=1),
            id="two actions",
        ),
        pytest.param(
            _catalog(NOTHING, ("Email", 0.01, 0.04, False), ("SMS", 0.02, 0.07, False)),
            RiskRuleActions(high=2, medium=1, low=1),
            id="three actions, no discount",
        ),
        pytest.param(
            _catalog(NOTHING, ("10% off", 0.1, 0.18, True), ("Email", 0.01, 0.04, False)),
            RiskRuleActions(high=1, medium=1, low=2),
            id="three actions with a discount",
        ),
    ],
)
def test_the_risk_rule_picks_its_actions_from_the_records(
    catalog: ActionCatalog, expected: RiskRuleActions
) -> None:
    assert RiskRuleActions.of(catalog) == expected


def test_the_risk_rule_follows_the_actions_when_the_catalog_is_reordered() -> None:
    default = ActionCatalog()
    order = [0, 4, 5, 2, 3, 1]  # new id -> old id
    reordered = ActionCatalog(tuple(default.actions[index] for index in order))
    state = np.zeros((3, 9), dtype=np.float32)
    state[:, 0] = [0.9, 0.5, 0.1]  # churn probability: high, medium, low
    before = baseline_policies(Simulator())["risk_rule"](state)
    after = baseline_policies(Simulator(catalog=reordered))["risk_rule"](state)
    assert before.tolist() == [5, 3, 1]
    assert [order[action] for action in after] == [5, 3, 1]


# Through the command line: a bad config stops `train` at once, with nothing written.


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[dqn]\niterations = -5\n", "dqn.iterations is -5, allowed a whole number"),
        ("[dqn]\nbatch_size = 0\n", "dqn.batch_size is 0, allowed a whole number"),
        ("[catalog]\ncost_shares = [0, 0.01, nan, 0.1, 0.2, 0.35]\n", "cost_shares[2] is nan"),
        ("[simulator]\ndiscount_actions = [9]\n", "discount_actions[0] is 9"),
    ],
)
def test_train_refuses_a_bad_policy_config_before_training(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "policy.toml"
    config.write_text(text)
    data = tmp_path / "customers.csv"
    generate_customers(300, seed=1).write_csv(data)
    result = run_cli(
        "train", str(data), "--models", str(tmp_path / "m"), "--policy-config", str(config)
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert str(config) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_the_policy_config_is_checked_before_the_data_is_read(tmp_path: Path) -> None:
    """The config is checked first: a missing data file is not even looked at."""
    config = tmp_path / "policy.toml"
    config.write_text("[dqn]\nhidden = 0\n")
    result = run_cli(
        "train",
        str(tmp_path / "missing.csv"),
        "--models",
        str(tmp_path / "m"),
        "--policy-config",
        str(config),
    )
    assert result.returncode == 2
    assert "dqn.hidden is 0" in result.stderr and "missing.csv" not in result.stderr


def test_the_report_shows_every_field_of_each_action_in_one_table() -> None:
    from types import SimpleNamespace

    from aura_sentinel.bundle import load_bundle
    from aura_sentinel.report.content import PolicyQuality
    from aura_sentinel.report.sections import _policy

    policy = load_bundle(REPO / "models").manifest.policy
    assert policy is not None
    settings = PolicySettings()
    catalog = settings.catalog
    quality = PolicyQuality(
        evaluation=policy.evaluation,
        catalog=list(zip(catalog.names, catalog.cost_shares, catalog.effects, strict=True)),
        simulator=dict(settings.to_json()["simulator"]),
    )
    report = SimpleNamespace(policy=quality, money_unit="", effects=None, realised=None)
    section = _policy(report)  # type: ignore[arg-type]
    actions, simulator = (
        next(table for table in section.tables if table.caption == caption)
        for caption in ("Assumed actions", "Simulator settings")
    )
    assert actions.headers[-1] == "price discount"
    assert [row[-1] for row in actions.rows] == ["no", "no", "no", "yes", "yes", "yes"]
    assert actions.rows[5][:3] == ["Personal call + 30% discount", "35%", "-50%"]
    shown_settings = {row[0] for row in simulator.rows}
    assert not shown_settings & {"action_effects", "discount_actions"}


def test_the_exact_solver_takes_fewer_customers_at_once_on_a_larger_grid() -> None:
    """The largest allowed grid (13 x 12 states) keeps the batched solve's memory bounded."""
    from aura_sentinel.retention import oracle

    largest = Simulator(SimulatorSettings(max_recent_interventions=12, recency=(1.0,) * 12))
    assert oracle._chunk(Simulator()) == 16_384  # the default grid: as before
    assert oracle._chunk(largest) * largest.grid_size**2 <= 16_384 * 20**2
    state = np.zeros((3, 9), dtype=np.float32)
    state[:, 0], state[:, 4] = [0.2, 0.5, 0.9], 50.0
    _, values = oracle.optimal_values(largest, state)
    assert values.shape == (3, 156) and np.all(np.isfinite(values))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda folder: folder / "absent.toml", "no such file"),
        (lambda folder: folder, "is not a regular file"),
        (lambda folder: Path("/dev/zero"), "is not a regular file"),
        (lambda folder: _written(folder / "big.toml", "# x\n" * 300_000), "too large"),
    ],
)
def test_a_policy_config_that_is_not_a_small_file_is_refused(
    make: Callable[[Path], Path], expected: str, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=expected):
        load_policy_config(make(tmp_path))


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
