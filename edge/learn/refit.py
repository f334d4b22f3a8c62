"""A head re-fitted on one coop's cameras, starting from the head that decides now.

The head that ships (or that the owner trained and promoted) was fitted on pictures the Pi does
not have. What the Pi does have is its cameras' own empty scenes and the owner's few labels. So
the re-fit starts from that head's weights and pulls towards them (``classifier.head.fit_head``
with ``prior``, strength ``prior_l2``): it learns that these crops of this coop are empty (or a
hen) while keeping what the head knew about predators it has never seen here. Its
standardisation, classes, verdict map, blend weight and thresholds stay the base head's, so it
decides exactly as the base did on everything the new crops do not touch.

Each example's class is the base head's class for the owner's verdict (a class named like the
verdict, else the first class its verdict map gives that verdict: ``chicken/sussex`` for a hen
when the head has breeds).

Example::

    scheme = scheme_of(base)                       # the base package's classes and verdicts
    head = refit_head(base.head, features, targets_for(labels, scheme), prior_l2=0.05)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from classifier.head import HeadSettings, SoftmaxHead, fit_head
from classifier.verdict import Verdict
from edge.train.trainer import ClassScheme, TrainSettings, decide

# Enough for the convex fit to settle from a good start (the base head's weights).
ITERATIONS = 300


@dataclass(frozen=True, slots=True)
class VerdictRule:
    """How a package decides: its classes and verdicts, blend weight and thresholds."""

    scheme: ClassScheme
    settings: TrainSettings

    def verdicts(self, probs: np.ndarray, partner: np.ndarray | None) -> list[str]:
        """Each row's verdict, blended with ``partner`` (rows of the zero-shot models'
        predator and chicken scores) when the package blends; the trainer's own rule."""
        return decide(probs, self.scheme, self.settings, partner).verdicts


def scheme_of(classes: Sequence[str], verdict_of: dict[str, str]) -> ClassScheme:
    """The classes of a head and the verdict each stands for (``background`` for others)."""
    verdicts = {c: verdict_of.get(c, Verdict.BACKGROUND.value) for c in classes}
    return ClassScheme(tuple(classes), np.zeros(0, dtype=np.intp), verdicts)


def decider_of(scheme: ClassScheme, blend: float | None, predator_threshold: float,
               chicken_threshold: float) -> VerdictRule:
    """A :class:`VerdictRule` with a package's blend weight and thresholds."""
    return VerdictRule(scheme, TrainSettings(blend=blend, predator_threshold=predator_threshold,
                                         chicken_threshold=chicken_threshold))


def class_for(verdict: str, scheme: ClassScheme) -> int:
    """The index of the class an example of ``verdict`` is taught as; ValueError when the
    head has no class for it."""
    if verdict in scheme.classes:
        return scheme.classes.index(verdict)
    for i, name in enumerate(scheme.classes):
        if scheme.verdict_of[name] == verdict:
            return i
    raise ValueError(f"the head has no class meaning {verdict!r} (classes: "
                     f"{', '.join(scheme.classes)})")


def targets_for(labels: Sequence[str], scheme: ClassScheme) -> np.ndarray:
    """Class indices for verdict ``labels``."""
    return np.array([class_for(label, scheme) for label in labels], dtype=np.intp)


def refit_head(base: SoftmaxHead, features: np.ndarray, targets: np.ndarray,
               prior_l2: float, iterations: int = ITERATIONS) -> SoftmaxHead:
    """``base`` re-fitted on ``features`` (N, D) with class ``targets``, pulled towards its
    own weights with strength ``prior_l2`` (classes balanced, so five labelled hens weigh as
    much as two hundred empty scenes)."""
    settings = HeadSettings(l2=prior_l2, iterations=iterations, balanced=True)
    return fit_head(features, targets, base.classes, settings, prior=base)
