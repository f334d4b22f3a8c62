"""A head trained on this coop's photos and the zero-shot models, asked together.

A head on embeddings knows this coop: its hens, its fence, its light. It has seen few predators,
though (62 photos of some 25 species in ``../shared/data``), so an animal it never saw may look
to it like a hen or a fence. The zero-shot models (ImageNet, iNat birds) know hundreds of animals
but not this coop: a frizzled hen or a hay bale can fool them. Each is wrong on different
pictures, so the package's verdict averages the two scores' **log-odds**, the head with weight
``w`` and the zero-shot combination (``classifier/ensemble.py``) with ``1 - w``::

    blended = sigmoid(w * logit(head) + (1 - w) * logit(zero_shot))

Log-odds rather than the probabilities themselves: a confident model (0.996) then outweighs a
hesitant one (0.35) instead of being dragged to the middle, which is what lets either side catch
the animal the other has never seen. Measured once, when this was chosen, by a comparison
script over cached embeddings (not kept) on ``../shared/data``: 5-fold held out, the head
trained without each fold, the threshold moved until predator recall reached 0.97. The head
alone then called 50 % of empty scenes predators, the plain average of probabilities 7 %, the
log-odds average 0 %, with 1 % of chickens in each case. The weight is fixed at 0.5 by
default rather than learned: learning it from 14 empty scenes would only fit those 14.

Probabilities are clipped to [``LIMIT``, 1 - ``LIMIT``] first, so that one model's 0 or 1 cannot
decide alone.

That is the predator score. The **chicken** score is the higher of the two (:func:`hen_score`):
it keeps the sprinkler off (the chicken veto) and names a hen a hen, and there the two mistakes
cost differently. A hen nobody sees is a hen sprayed; a predator also taken for a hen loses only
the sprinkler for that visit (the siren and the floodlight still fire). And the zero-shot models
are at their surest where they are wrong about hens: a hen in a nest-box or a coop camera is
a "hog" or a "hamster" to them, a chicken score of 0.0001, and averaged in log-odds that cancels
the head's 0.7. Measured held out by camera (``scripts/build_default_head.py``; README, "The
default head"): hens in fixed cameras recognised as chicken 0.079 with the log-odds average,
0.474 with the higher of the two (the head before the flocks), at the cost of 12 of the 495
predators called predator also reaching the veto's 0.4 (none before).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

LIMIT = 1e-4
DEFAULT_WEIGHT = 0.5

Score = TypeVar("Score", float, np.ndarray)


def log_odds(p: Score) -> Score:
    """``log(p / (1 - p))`` of ``p`` clipped to [LIMIT, 1 - LIMIT]."""
    q = np.clip(p, LIMIT, 1.0 - LIMIT)
    return np.log(q / (1.0 - q))


def blend(head: Score, zero_shot: Score, weight: float) -> Score:
    """The blended score (see the module docstring); scalars or arrays of equal shape."""
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"a blend weight is in (0, 1], got {weight}")
    z = weight * log_odds(head) + (1.0 - weight) * log_odds(zero_shot)
    out = 1.0 / (1.0 + np.exp(-z))
    return float(out) if np.ndim(out) == 0 else out  # type: ignore[return-value]


def hen_score(head: Score, zero_shot: Score) -> Score:
    """The chicken score of a head asked with the zero-shot models: the higher of the two
    (see the module docstring); scalars or arrays of equal shape."""
    out = np.maximum(head, zero_shot)
    return float(out) if np.ndim(out) == 0 else out  # type: ignore[return-value]
