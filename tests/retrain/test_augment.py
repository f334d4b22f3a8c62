"""What a night camera does to a picture, and a flock, as training variations (issue 13)."""

from __future__ import annotations

import numpy as np

from classifier import load_image
from edge.train.augment import (
    DEFAULT_AUGMENTATIONS,
    FLOCK_SIDES,
    NIGHT_AUGMENTATIONS,
    augment_names,
    flock,
    shrink,
    variations,
)
from tests.conftest import SHARED_DATA

HEN = SHARED_DATA / "images" / "chicken" / "c4f__47.png"


def test_night_variations_look_like_night_cameras_and_are_pure() -> None:
    rgb = load_image(HEN)
    names = list(NIGHT_AUGMENTATIONS)
    first, again = variations(rgb, names), variations(rgb, names)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a, b)  # same photo, same training set
    by_name = dict(zip(names, first, strict=True))
    ir = by_name["ir_night"].astype(int)
    assert np.array_equal(ir[..., 0], ir[..., 1]) and np.array_equal(ir[..., 1], ir[..., 2])
    assert ir.std() < variations(rgb, ["grey"])[0].astype(int).std()  # flatter than plain grey
    purple = by_name["noir_purple"].reshape(-1, 3).mean(axis=0)
    assert purple[0] > purple[1] and purple[2] > purple[1]  # red and blue over green
    lamp = by_name["lamp_glare"].astype(int).sum(axis=2)
    h, w = lamp.shape
    assert lamp[: h // 3, 2 * w // 3:].mean() > lamp[2 * h // 3:, : w // 3].mean()


def test_night_variations_are_chosen_by_name_not_by_default() -> None:
    assert not set(NIGHT_AUGMENTATIONS) & set(augment_names(None))
    assert augment_names(None) == list(DEFAULT_AUGMENTATIONS)
    assert augment_names(["ir_night"]) == ["original", "ir_night"]


def test_a_flock_is_a_grid_of_the_pictures_own_crops_the_same_each_time() -> None:
    rgb = shrink(load_image(HEN))
    herd = flock(rgb)
    assert np.array_equal(herd, flock(rgb))  # same picture, same flock
    n = next(n for n in FLOCK_SIDES if herd.shape == (224 // n * n, 224 // n * n, 3))
    side = 224 // n
    tiles = [herd[r * side:(r + 1) * side, c * side:(c + 1) * side]
             for r in range(n) for c in range(n)]
    # Each tile is a window of at least 70 % of the picture's sides: its colours are the
    # picture's, not padding, and the tiles are not all the same window.
    mean = rgb.reshape(-1, 3).mean(axis=0)
    for tile in tiles:
        assert np.abs(tile.reshape(-1, 3).mean(axis=0) - mean).max() < 30
    assert len({t.tobytes() for t in tiles}) == n * n
    assert np.array_equal(variations(load_image(HEN), ["flock"])[0], herd)
