"""A whole still picture judged as the appliance judges a camera's frame: all of it, not only
its centre.

The appliance never classifies a whole frame: it classifies a square around each region that
moved, wherever it is. A still picture (``tensorchicken classify``, ``tensorchicken eval``) has
no motion, and a model's input is square, so a wide picture fed whole loses its sides
(``input.fit: crop`` keeps the centred square, as the networks were trained): in a wide
nest-box frame the hen sitting in the right-hand box is not in it at all; and an animal small
in a wide frame is a few pixels of the network's input, where a motion crop would have shown
it large. So a picture is classified as its centred square, as squares side by side from one
end to the other if it is not square, and as a grid of squares half as large
(:func:`squares`), and the answers are put together as the frame loop puts several regions'
together (:func:`judged`):

- the chicken score is the highest of any square's: a hen anywhere in the picture is seen, and
  keeps the sprinkler off, as a hen in another region does;
- the predator score is the centred square's, or, when no square sees a hen (a chicken score
  under :data:`HEN_ELSEWHERE`), another square's that is higher and reaches
  :data:`SIDE_POINT`. Overlapping squares of one picture show the same animal in parts, and a
  square holding half a hen looks like a dog to these networks: held out by camera, taking the
  highest predator score of every square called 2.5 % of the hens predator (0.9 % with the
  centred square alone); with the hen rule, 0.9 % (README, "Whole pictures").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from classifier.ensemble import Thresholds, verdict_for
from classifier.errors import ImageError
from classifier.verdict import Classification, Verdict

# A picture this close to square is one square: its centred square loses almost nothing.
SQUARE_ENOUGH = 1.05
# A chicken score on any square from which the other squares' predator scores do not count.
HEN_ELSEWHERE = 0.1
# The predator score a square other than the centred one must reach to count. Each square more
# is one more chance of a false alarm, so, by the builder's rule for operating points, this is
# the lowest of 0.5, 0.55, ... at which, held out by camera, pictures judged by their squares
# call no more hens, empty scenes or people predator than by their centred square alone
# (``scripts/measure_stills.py``, 6 Dec, with the second look: from 0.5, 8 of the 112 empty
# scenes called predator; from 0.7, 2; from 0.75, the one the centred square calls).
SIDE_POINT = 0.75
# A picture longer than this many times its shorter side is not a camera's frame (a 32:9
# panorama is 3.6); judged by squares it would be thousands of them (a 1 x 60000 strip: 240000).
MAX_ASPECT = 8.0


def squares(height: int, width: int) -> list[tuple[int, int, int]]:
    """The squares (top, left, side) a ``height`` x ``width`` picture is judged by: its centred
    square first (the one ``input.fit: crop`` takes); then, if the picture is not square,
    squares of the shorter side spaced evenly from one end of the longer side to the other,
    overlapping, enough to cover it with each part in at least one (the centred one not
    repeated); then squares of half the shorter side on a grid over the whole picture, as few
    as cover it, spaced evenly, for an animal too small in the frame for the larger squares (a fox
    across a field, a rat by a wall)."""
    side = min(height, width)
    longer = max(height, width)
    centre = (longer - side) // 2
    offsets = [centre]
    if longer >= SQUARE_ENOUGH * side:
        # One more than would just cover it, so that neighbours overlap by a good part.
        count = math.ceil(longer / side) + 1
        offsets += [o for o in _spaced(longer, side, count) if o != centre]
    out = [(0, o, side) if width >= height else (o, 0, side) for o in offsets]
    half = side // 2
    if half >= 1:
        out += [(top, left, half) for top in _spaced(height, half, math.ceil(height / half))
                for left in _spaced(width, half, math.ceil(width / half))]
    return out


def _spaced(length: int, side: int, count: int) -> list[int]:
    """Offsets of ``count`` squares of ``side`` spaced evenly from one end of ``length`` to the
    other."""
    if count <= 1:
        return [(length - side) // 2]
    return [round(k * (length - side) / (count - 1)) for k in range(count)]


def deciding(predator: Sequence[float], chicken: Sequence[float],
             side_point: float = SIDE_POINT) -> tuple[int, int]:
    """Which of a picture's squares (the centred one first) gives its predator score and which
    its chicken score: the highest chicken score; the centred square's predator score, or,
    where no square sees a hen, another square's that is higher and reaches ``side_point``
    (module docstring)."""
    hen = int(np.argmax(chicken))
    top = 0
    if chicken[hen] < HEN_ELSEWHERE and len(predator) > 1:
        side = 1 + int(np.argmax(predator[1:]))
        if predator[side] >= side_point and predator[side] > predator[0]:
            top = side
    return top, hen


def judged(answers: Sequence[Classification], thresholds: Thresholds) -> Classification:
    """One answer from the answers of a picture's :func:`squares`, the centred square's first,
    with the scores :func:`deciding` takes; the answer returned is the square's that decides
    the verdict (its label and models)."""
    top, hen = (answers[i] for i in deciding([a.predator_score for a in answers],
                                              [a.chicken_score for a in answers]))
    verdict, score = verdict_for(top.predator_score, hen.chicken_score, thresholds)
    chosen = {Verdict.PREDATOR: top, Verdict.CHICKEN: hen}.get(verdict, answers[0])
    return replace(chosen, verdict=verdict, score=score, predator_score=top.predator_score,
                   chicken_score=hen.chicken_score)


def classify_still(classify: Callable[[np.ndarray], Classification], thresholds: Thresholds,
                   rgb: np.ndarray) -> Classification:
    """The answer for a whole still picture ``rgb``: ``classify`` (one square crop's answer) on
    each of its :func:`squares`, :func:`judged` together. :class:`ImageError` for a picture
    longer than :data:`MAX_ASPECT` times its shorter side."""
    height, width = rgb.shape[:2]
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise ImageError(f"a {width}x{height} picture: its longer side is more than "
                         f"{MAX_ASPECT:g} times its shorter, not a camera's frame")
    answers = [classify(np.ascontiguousarray(rgb[top:top + side, left:left + side]))
               for top, left, side in squares(*rgb.shape[:2])]
    return answers[0] if len(answers) == 1 else judged(answers, thresholds)
