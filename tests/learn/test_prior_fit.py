"""A head fitted from a prior head: it learns new pictures and keeps near what it knew."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.head import HeadSettings, fit_head

CLASSES = ("background", "chicken", "predator")


def clusters(rng: np.random.Generator, n: int, centre: np.ndarray) -> np.ndarray:
    return (centre + rng.normal(0, 1.0, (n, centre.size))).astype(np.float32)


def test_a_prior_keeps_old_classes_while_new_empty_scenes_are_learned() -> None:
    rng = np.random.default_rng(0)
    d = 16
    centres = [rng.normal(0, 3, d) for _ in CLASSES]
    x = np.vstack([clusters(rng, 60, c) for c in centres])
    y = np.repeat(np.arange(3), 60)
    prior = fit_head(x, y, CLASSES, HeadSettings(iterations=300))
    # A camera whose empty scene sits halfway between the predators and somewhere new.
    middle = (centres[2] + rng.normal(0, 3, d)) / 2
    scene = clusters(rng, 80, middle)
    assert (prior.probabilities(scene).argmax(axis=1) != 0).mean() > 0.9
    refit = fit_head(scene, np.zeros(len(scene), np.intp), CLASSES,
                     HeadSettings(l2=0.2, iterations=300), prior=prior)
    again = clusters(rng, 80, middle)
    assert (refit.probabilities(again).argmax(axis=1) == 0).mean() > 0.9  # learned
    predators = clusters(rng, 60, centres[2])
    assert (refit.probabilities(predators).argmax(axis=1) == 2).mean() > 0.9  # not forgotten
    assert np.array_equal(refit.mean, prior.mean) and np.array_equal(refit.scale, prior.scale)
    # Without a prior, empty scenes alone teach "everything is background".
    alone = fit_head(scene, np.zeros(len(scene), np.intp), CLASSES, HeadSettings(l2=0.2))
    assert (alone.probabilities(predators).argmax(axis=1) == 2).mean() < 0.5


def test_a_prior_of_other_classes_is_refused() -> None:
    x = np.zeros((4, 3), np.float32)
    prior = fit_head(np.eye(3, dtype=np.float32), np.array([0, 1, 2]), CLASSES)
    with pytest.raises(ValueError, match="prior head"):
        fit_head(np.zeros((4, 5), np.float32), np.zeros(4, np.intp), CLASSES, prior=prior)
    with pytest.raises(ValueError, match="prior head"):
        fit_head(x, np.zeros(4, np.intp), ("a", "b", "c"), prior=prior)
