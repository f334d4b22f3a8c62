"""Where a head's predator line is drawn: the highest shift within the false-alarm limits."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge.assets import AssetStore
from edge.train.dataset import Photo
from edge.train.errors import TrainError
from edge.train.retrain import RetrainPlan, retrain
from edge.train.trainer import ClassScheme, TrainSettings, choose_shift

SCHEME = ClassScheme(("chicken", "predator"), np.array([0]), {"chicken": "chicken",
                                                                 "predator": "predator"})
STRICT = TrainSettings(max_chicken_fa=0.01, max_background_fa=0.05, predator_threshold=0.5,
                       blend=None)


def _logits(chicken_margins: list[float], predator_margins: list[float]) -> np.ndarray:
    """Rows whose predator output is called at a shift of at least ``-margin`` (chickens:
    ``margin`` is how far the chicken logit leads)."""
    rows = [[m, 0.0] for m in chicken_margins] + [[0.0, m] for m in predator_margins]
    return np.array(rows, dtype=np.float32)


def test_the_false_alarm_budget_is_spent_on_recall() -> None:
    # Hens a shift of 1.0, 3.0 and 10.0 would call predators; 1 % of 3 hens is less than one
    # hen, so one is allowed: the line goes just below the second hen.
    logits = _logits([1.0, 3.0, 10.0], [-1.5, 0.5, 2.0])
    labels = ["chicken"] * 3 + ["predator"] * 3
    assert choose_shift(logits, labels, SCHEME, STRICT) == 2.75


def test_a_limit_of_zero_allows_no_photo_at_all() -> None:
    logits = _logits([1.0, 3.0, 10.0], [-1.5, 0.5, 2.0])
    labels = ["chicken"] * 3 + ["predator"] * 3
    assert choose_shift(logits, labels, SCHEME, replace(STRICT, max_chicken_fa=0.0)) == 0.75


def test_the_lowest_shift_when_even_it_calls_too_many_chickens_predators(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logits = _logits([-5.0, -5.0, 10.0], [1.0])
    with caplog.at_level(logging.WARNING, logger="edge.train.trainer"):
        shift = choose_shift(logits, ["chicken"] * 3 + ["predator"], SCHEME, STRICT)
    assert shift == -2.0
    assert "even predator shift -2.00 calls more chickens or empty scenes" in caplog.text


def test_a_blending_head_needs_the_current_models_answers(
    asset_store: AssetStore, small_photos: list[Photo], tmp_path: Path
) -> None:
    plan = RetrainPlan("coop", "1", tmp_path, TrainSettings(folds=0))
    with pytest.raises(TrainError, match="blended with the zero-shot models is trained on their"):
        retrain(small_photos, asset_store, plan, current=None)
    assert not any(tmp_path.iterdir())


def test_a_blending_head_draws_its_line_on_the_blended_scores() -> None:
    # Two hens the zero-shot models take for predators (0.99): blended, a shift of -1.6 and
    # -1.1 already makes them predators, where the head alone would need 3.0 and 3.5.
    logits = _logits([3.0, 3.5, 10.0], [2.0])
    labels = ["chicken"] * 3 + ["predator"]
    partner = np.array([[0.99, 0.0], [0.99, 0.0], [0.01, 0.9], [0.9, 0.0]])
    blending = replace(STRICT, blend=0.5)
    assert choose_shift(logits, labels, SCHEME, blending) == 3.25  # no partner: the head alone
    assert choose_shift(logits, labels, SCHEME, blending, partner) == -1.25
