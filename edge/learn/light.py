"""Day or night, as a camera's picture shows it.

A Pi NoIR or an IR camera at night sends a picture with (almost) no colour: its three channels
are nearly equal. Dusk without IR is simply dark. Either is "night" here; anything else "day".
This is what the empty-scene store spreads its crops over, beside the hour of day, so that a
camera that switches to IR at 20:00 in winter and 22:00 in summer is covered in both regimes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Light = Literal["day", "night"]
LIGHTS: tuple[Light, ...] = ("day", "night")

# Mean absolute difference between channels below this (of 255): no colour, an IR picture.
# Measured on the fixed-camera frames of ../shared/data/train (10th-90th percentile): IR night
# 0.0-1.2, day 8.7-33.4, colour night (porch lamp, house lights) 6.1-56.1. This threshold and
# DARK put 129 of 132 IR frames at night and 133 of 137 day frames at day; a lamp-lit colour
# night mostly counts as "day", which is how it looks to a model too.
GREY_CHROMA = 5.0
# Mean brightness below this: dark, whatever the colour.
DARK = 35.0


def light_of(rgb: np.ndarray) -> Light:
    """``night`` for a colourless (IR) or dark picture, ``day`` otherwise (HxWx3 uint8)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"light_of needs an HxWx3 picture, got shape {rgb.shape}")
    x = rgb[::4, ::4].astype(np.int16)  # a sixteenth of the pixels is plenty for a mean
    chroma = (np.abs(x[..., 0] - x[..., 1]) + np.abs(x[..., 1] - x[..., 2])).mean() / 2.0
    if chroma < GREY_CHROMA or x.mean() < DARK:
        return "night"
    return "day"
