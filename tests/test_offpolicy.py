"""Off-policy evaluation against logs whose true outcome probabilities are known."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from aura_sentinel.effects.offpolicy import (
    Estimate,
    LoggedRows,
    OffPolicyTable,
    mean_with_interval,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

COST = np.array([0.0, 5.0, 20.0])
LOGS = 200
ROWS = 1000


def true_churn(x: FloatArray) -> FloatArray:
    """Rows x 3 true churn probability under no action, action 1 and action 2."""
    none = 0.2 + 0.4 * x
    return np.stack([none, none - 0.15 * (1 - x), none + 0.05 - 0.25 * x], axis=1)


def logging_propensity(x: FloatArray) -> FloatArray:
    """Rows x 3 targeting rule: the riskier (higher x), the likelier an action."""
    none = 0.5 - 0.3 * x
    return np.stack([none, (1 - none) / 2, (1 - none) / 2], axis=1)


def kept_value(x: FloatArray) -> FloatArray:
    return 100.0 + 50.0 * x


# The population means, on a fine grid of x ~ U(0, 1).
GRID = (np.arange(200_000) + 0.5) / 200_000
TRUE_CHURN = true_churn(GRID).mean(axis=0)
TRUE_VALUE = ((1 - true_churn(GRID)) * kept_value(GRID)[:, None]).mean(axis=0) - COST


@dataclass
class Log:
    x: FloatArray
    actions: IntArray
    churned: FloatArray
    propensity: FloatArray
    """The true propensity of each row's logged action."""
    kept_value: FloatArray
    cost: FloatArray

    def rows(
        self, churn_under: FloatArray | None = None, propensity: FloatArray | None = None
    ) -> LoggedRows:
        """The log for off-policy evaluation (by default with the true outcome model)."""
        return LoggedRows(
            self.actions,
            self.churned,
            self.propensity if propensity is None else propensity,
            true_churn(self.x) if churn_under is None else churn_under,
            self.kept_value,
            self.cost,
        )

    def evaluate(
        self, policy: IntArray, churn_under: FloatArray, propensity: FloatArray | None = None
    ) -> dict[str, dict[str, Estimate]]:
        value = self.rows(churn_under, propensity).evaluate("policy", policy)
        return {"churn": value.churn, "value": value.value}

    def paired(self, first: IntArray, second: IntArray | None, metric: str) -> Estimate:
        return self.rows().difference(first, second, metric)


def simulate(rng: np.random.Generator, rows: int = ROWS, randomised: bool = False) -> Log:
    x = rng.uniform(size=rows)
    chances = np.full((rows, 3), 1 / 3) if randomised else logging_propensity(x)
    actions = (rng.uniform(size=rows)[:, None] > chances.cumsum(axis=1)).sum(axis=1)
    actions = np.minimum(actions, 2).astype(np.int64)
    churned = (rng.uniform(size=rows) < true_churn(x)[np.arange(rows), actions]).astype(float)
    return Log(
        x=x,
        actions=actions,
        churned=churned,
        propensity=chances[np.arange(rows), actions],
        kept_value=kept_value(x),
        cost=np.broadcast_to(COST, (rows, 3)).copy(),
    )


def always(action: int, rows: int = ROWS) -> IntArray:
    return np.full(rows, action, dtype=np.int64)


def test_every_estimator_covers_the_true_value_of_always_giving_an_action() -> None:
    rng = np.random.default_rng(1)
    covered = {
        (metric, name): 0 for metric in ("churn", "value") for name in ("ips", "snips", "dr")
    }
    for _ in range(LOGS):
        log = simulate(rng)
        imperfect_model = np.clip(true_churn(log.x) + 0.05 * np.sin(9 * log.x)[:, None], 0, 1)
        estimates = log.evaluate(always(1), imperfect_model)
        for (metric, name), count in covered.items():
            estimate = estimates[metric][name]
            truth = TRUE_CHURN[1] if metric == "churn" else TRUE_VALUE[1]
            covered[metric, name] = count + (estimate.low <= truth <= estimate.high)
    for key, count in covered.items():
        assert 0.9 <= count / LOGS <= 0.99, key


def test_doubly_robust_interval_is_narrower_than_ips_with_a_good_outcome_model() -> None:
    log = simulate(np.random.default_rng(2), rows=5000)
    estimates = log.evaluate(always(2, 5000), true_churn(log.x))
    for metric in ("churn", "value"):
        ips, dr = estimates[metric]["ips"], estimates[metric]["dr"]
        # What is left is the coin flip of each row's churn, which no model removes.
        assert dr.high - dr.low < 0.9 * (ips.high - ips.low), metric


def mean_error(estimates: list[float], truth: float) -> tuple[float, float]:
    """Mean error over simulated logs and its Monte Carlo standard error."""
    errors = np.asarray(estimates) - truth
    return float(errors.mean()), float(errors.std(ddof=1) / np.sqrt(errors.size))


def test_doubly_robust_is_unbiased_with_a_wrong_outcome_model_and_right_propensities() -> None:
    rng = np.random.default_rng(3)
    dr, plug_in = [], []
    for _ in range(LOGS):
        log = simulate(rng)
        wrong_model = np.full((ROWS, 3), 0.6)
        dr.append(log.evaluate(always(1), wrong_model)["churn"]["dr"].estimate)
        plug_in.append(float(wrong_model[:, 1].mean()))
    bias, standard_error = mean_error(dr, TRUE_CHURN[1])
    assert abs(bias) < 3 * standard_error
    assert abs(mean_error(plug_in, TRUE_CHURN[1])[0]) > 0.2  # the model alone is far off


def test_doubly_robust_is_unbiased_with_wrong_propensities_and_a_right_outcome_model() -> None:
    rng = np.random.default_rng(4)
    dr, ips = [], []
    for _ in range(LOGS):
        log = simulate(rng)
        # Wrong: the targeting rule of a customer at the other end of the scale.
        wrong = logging_propensity(1 - log.x)[np.arange(ROWS), log.actions]
        estimates = log.evaluate(always(1), true_churn(log.x), propensity=wrong)
        dr.append(estimates["churn"]["dr"].estimate)
        ips.append(estimates["churn"]["ips"].estimate)
    bias, standard_error = mean_error(dr, TRUE_CHURN[1])
    assert abs(bias) < 3 * standard_error
    ips_bias, ips_error = mean_error(ips, TRUE_CHURN[1])
    assert abs(ips_bias) > 10 * ips_error  # IPS alone is misled by the wrong weights


def test_self_normalised_ips_of_the_logged_actions_is_the_observed_mean() -> None:
    log = simulate(np.random.default_rng(5), randomised=True)
    estimates = log.evaluate(log.actions, true_churn(log.x))
    observed_value = (1 - log.churned) * log.kept_value - COST[log.actions]
    assert estimates["churn"]["snips"].estimate == pytest.approx(log.churned.mean(), abs=1e-12)
    assert estimates["value"]["snips"].estimate == pytest.approx(observed_value.mean(), rel=1e-12)


def test_paired_interval_is_narrower_than_unpaired_for_policies_that_mostly_agree() -> None:
    log = simulate(np.random.default_rng(6), rows=5000)
    first = always(1, 5000)
    second = np.where(log.x > 0.8, 2, 1).astype(np.int64)
    estimates = [
        log.evaluate(policy, true_churn(log.x))["churn"]["dr"] for policy in (first, second)
    ]
    unpaired = math.hypot(*[(estimate.high - estimate.low) for estimate in estimates])
    paired = log.paired(first, second, "churn")
    assert paired.high - paired.low < 0.5 * unpaired
    assert paired.estimate == pytest.approx(estimates[0].estimate - estimates[1].estimate)


def test_paired_difference_covers_the_true_difference() -> None:
    rng = np.random.default_rng(7)
    truth = TRUE_VALUE[1] - TRUE_VALUE[0]
    covered = 0
    for _ in range(LOGS):
        estimate = simulate(rng).paired(always(1), always(0), "value")
        covered += estimate.low <= truth <= estimate.high
    assert 0.9 <= covered / LOGS <= 0.99


def test_paired_difference_with_what_was_done_uses_the_observed_outcomes() -> None:
    log = simulate(np.random.default_rng(8))
    dr = log.evaluate(always(1), true_churn(log.x))["churn"]["dr"].estimate
    against_logged = log.paired(always(1), None, "churn")
    assert against_logged.estimate == pytest.approx(dr - log.churned.mean())


def test_paired_difference_refuses_an_unknown_metric() -> None:
    log = simulate(np.random.default_rng(9))
    with pytest.raises(ValueError, match="metric"):
        log.paired(always(1), None, "profit")


def test_logging_policy_value_is_the_observed_mean() -> None:
    log = simulate(np.random.default_rng(10))
    logged = log.rows().logged()
    observed_value = (1 - log.churned) * log.kept_value - COST[log.actions]
    assert logged.name == "logged"
    assert logged.treated_share == pytest.approx(np.mean(log.actions != 0))
    for name in ("ips", "snips", "dr"):
        assert logged.churn[name].estimate == pytest.approx(log.churned.mean())
        assert logged.value[name].estimate == pytest.approx(observed_value.mean())
        assert logged.churn[name].low < logged.churn[name].estimate < logged.churn[name].high


def test_treated_share_counts_rows_given_an_action() -> None:
    log = simulate(np.random.default_rng(11))
    policy = np.where(log.x > 0.75, 1, 0).astype(np.int64)
    value = log.rows().evaluate("top quarter", policy)
    assert value.treated_share == pytest.approx(np.mean(log.x > 0.75))


def test_a_policy_with_an_action_outside_the_catalog_is_refused() -> None:
    log = simulate(np.random.default_rng(12))
    with pytest.raises(ValueError, match="outside"):
        log.evaluate(always(3), true_churn(log.x))


def test_mean_with_interval_is_the_normal_interval_of_the_terms() -> None:
    terms = np.array([1.0, 2.0, 3.0, 4.0])
    estimate = mean_with_interval(terms)
    half = 1.959964 * np.std(terms, ddof=1) / 2
    assert estimate.estimate == 2.5
    assert (estimate.low, estimate.high) == pytest.approx((2.5 - half, 2.5 + half))
    assert {type(number) for number in (estimate.estimate, estimate.low, estimate.high)} == {float}


def test_table_is_plain_json_with_undefined_estimates_as_null() -> None:
    log = simulate(np.random.default_rng(13), randomised=True)
    never_logged = np.where(log.actions == 0, 1, 0).astype(np.int64)  # matches no row
    value = log.rows().evaluate("never logged", never_logged)
    logged = log.rows().logged()
    table = OffPolicyTable(
        [logged, value], {"never logged-logged:churn": log.paired(never_logged, None, "churn")}
    )
    data = json.loads(json.dumps(table.to_json(), allow_nan=False))
    assert [policy["name"] for policy in data["policies"]] == ["logged", "never logged"]
    assert data["policies"][1]["churn"]["snips"]["estimate"] is None
    assert isinstance(data["policies"][1]["churn"]["dr"]["estimate"], float)
    assert set(data["differences"]) == {"never logged-logged:churn"}
