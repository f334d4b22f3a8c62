"""Which light a picture was taken in: day colour, night infra-red (grey or NoIR false colour),
or night colour (a lamp, a colour flash, dusk).

A night camera's picture differs from a day photo in ways three numbers of a 64 x 64 thumbnail
show: an IR frame has almost no colour (the largest minus the smallest channel, averaged over the
pixels, is a few grey levels; a day frame's is 15 to 80), a NoIR camera's false colour is red and
blue over green, and a night colour frame is dark (median brightness under 75 of 255). Measured
on the scene column of ``shared/data/train/MANIFEST.csv`` (1024 pictures): ``fixed_night_ir``
131 of 132 called night IR, ``fixed_night_colour`` 37 of 41 night colour, ``fixed_day`` 127 of
137 day colour; 24 ordinary photos that are greyscale come out as night IR, and 77 dark ones as
night colour, which is how they look to a model too.

Costs about 0.05 ms per crop, so the classifier tells it with every answer (``Answer.regime``).
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from classifier.model import as_rgb

THUMB = 64
GREY_CHROMA = 6.0     # mean (max - min channel) below this: no colour, an IR frame
NOIR_PURPLE = 20.0    # mean ((red + blue) / 2 - green) at or above this: NoIR false colour
DARK_LUMA = 75.0      # median brightness below this: night colour
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class Regime(StrEnum):
    """The light a picture was taken in."""

    DAY_COLOUR = "day_colour"
    NIGHT_IR = "night_ir"
    NIGHT_COLOUR = "night_colour"


def regime_of(picture: np.ndarray) -> Regime:
    """The :class:`Regime` of an RGB (or grey) uint8 picture."""
    rgb = as_rgb(picture)
    small = cv2.resize(rgb, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    chroma = float((small.max(axis=2) - small.min(axis=2)).mean())
    purple = float(((small[..., 0] + small[..., 2]) / 2 - small[..., 1]).mean())
    if chroma < GREY_CHROMA or purple >= NOIR_PURPLE:
        return Regime.NIGHT_IR
    if float(np.median(small @ _LUMA)) < DARK_LUMA:
        return Regime.NIGHT_COLOUR
    return Regime.DAY_COLOUR
