"""The learned effect model: the chosen learner's boosters (bundle artifacts, XGBoost's own
files, hashed like the rest) with the shrinkage rule, giving each customer's churn probability
within the log's horizon under every action."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.effects.calibration import hazard_effects
from aura_sentinel.effects.learners import FittedLearner, FloatMatrix
from aura_sentinel.effects.record import EffectsRecord
from aura_sentinel.effects.shrinkage import shrinkage_cells
from aura_sentinel.retention.simulator import SimulatorSettings
from aura_sentinel.retention.state import CHURN_PROBABILITY, StateMatrix, with_learned_effects

FloatArray = npt.NDArray[np.float64]
EFFECT_MODEL_NAME = re.compile(r"effect_model_([0-9]{2})\.ubj")


def effect_model_name(index: int) -> str:
    return f"effect_model_{index:02d}.ubj"


def effect_model_artifacts(learner: FittedLearner) -> dict[str, bytes]:
    """The learner's boosters as artifact files, in order."""
    return {effect_model_name(index): blob for index, blob in enumerate(learner.to_bytes())}


def is_effect_model(name: str) -> bool:
    return EFFECT_MODEL_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class EffectModel:
    record: EffectsRecord
    learner: FittedLearner

    def churn_under(
        self,
        customers: pl.DataFrame,
        state: StateMatrix,
        source: str,
        first_row: int = 0,
        threads: int = 1,
        matrix: FloatMatrix | None = None,
    ) -> FloatArray:
        """N x A: each customer's churn probability within the log's horizon under each action,
        with the shrinkage applied; an action not tried is the same as no action. (`first_row`:
        the frame's offset in its file, for error messages; `threads`: XGBoost's; `matrix`: the
        customers' feature matrix by `record.features`, when the caller has already built it.)"""
        spec = self.record.features
        estimated = self.learner.churn_under_actions(
            spec.matrix(customers, source, first_row) if matrix is None else matrix,
            spec.xgboost_types,
            threads,
            start=self.record.starting_churn(state[:, CHURN_PROBABILITY]),
        )
        no_action = estimated[:, :1]
        cells = shrinkage_cells(state, self.record.cell_fields)
        effects = self.record.shrinkage.apply(estimated - no_action, cells)
        churn: FloatArray = np.clip(no_action + effects, 0.0, 1.0)
        return churn

    def learned_state(
        self,
        customers: pl.DataFrame,
        state: StateMatrix,
        settings: SimulatorSettings,
        source: str,
        first_row: int = 0,
        threads: int = 1,
        matrix: FloatMatrix | None = None,
    ) -> tuple[StateMatrix, FloatArray]:
        """(the state with each customer's learned effects, the churn within the log's horizon
        under each action they rest on): the policy's input when the effects are learned."""
        churn = self.churn_under(customers, state, source, first_row, threads, matrix)
        shares, _ = hazard_effects(
            churn[:, 0], churn, settings.campaign_horizon, settings.max_effect
        )
        return with_learned_effects(state, shares), churn
