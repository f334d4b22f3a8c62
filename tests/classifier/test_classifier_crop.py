"""The square crop around what moved, cut from a full-resolution BGR frame."""

from __future__ import annotations

import numpy as np
import pytest

from camera.box import Box
from classifier import crop_square
from classifier.crop import MIN_SIDE, PAD_VALUE


def _frame(width: int = 1920, height: int = 1080) -> np.ndarray:
    """BGR frame whose pixel (y, x) encodes x and y, so a crop's position can be read back."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = (np.arange(width) % 256)[None, :]  # blue = x mod 256
    frame[..., 1] = (np.arange(height) % 256)[:, None]  # green = y mod 256
    return frame


def test_small_region_becomes_a_square_with_margin() -> None:
    # A 96x54 px jay at (960, 540): side = 96 * 1.5 = 144, centred on the jay.
    crop = crop_square(_frame(), [Box(0.5, 0.5, 0.05, 0.05)])
    assert crop.shape == (144, 144, 3)
    x0 = 960 + 48 - 72
    y0 = 540 + 27 - 72
    assert crop[0, 0].tolist() == [0, y0 % 256, x0 % 256]  # RGB now: blue channel last


def test_union_of_regions() -> None:
    crop = crop_square(_frame(), [Box(0.1, 0.1, 0.05, 0.05), Box(0.2, 0.1, 0.05, 0.05)], margin=0)
    assert crop.shape == (288, 288, 3)  # union 0.1..0.25 of 1920 = 288 px wide


def test_square_is_shifted_inside_the_frame() -> None:
    crop = crop_square(_frame(), [Box(0.97, 0.95, 0.03, 0.05)], margin=0.5)
    side = crop.shape[0]
    assert crop.shape == (side, side, 3)
    assert crop[-1, -1].tolist() == [0, 1079 % 256, 1919 % 256]  # bottom-right corner of frame


def test_tiny_region_is_grown_to_min_side() -> None:
    crop = crop_square(_frame(), [Box(0.5, 0.5, 0.001, 0.001)])
    assert crop.shape == (MIN_SIDE, MIN_SIDE, 3)


def test_tall_region_taller_than_frame_is_padded_not_cut() -> None:
    crop = crop_square(_frame(), [Box(0.0, 0.0, 0.1, 1.0)], margin=0.1)
    side = round(1080 * 1.2)
    assert crop.shape == (side, side, 3)
    assert crop[0, side // 2].tolist() == [PAD_VALUE] * 3
    assert crop[side // 2, 0].tolist() != [PAD_VALUE] * 3


@pytest.mark.parametrize("regions", [[], [Box(0.0, 0.0, 0.9, 0.9)]])
def test_whole_frame_is_padded_to_a_square(regions: list[Box]) -> None:
    crop = crop_square(_frame(), regions)
    assert crop.shape == (1920, 1920, 3)
    assert crop[0, 0].tolist() == [PAD_VALUE] * 3  # letterbox above
    assert crop[420, 5].tolist() == [0, 0, 5]  # frame row 0 starts at (1920-1080)/2


def test_size_resizes_and_keeps_padding_in_place() -> None:
    crop = crop_square(_frame(), [], whole_frame=True, size=224)
    assert crop.shape == (224, 224, 3)
    assert crop[0, 112].tolist() == [PAD_VALUE] * 3
    assert crop[112, 112].tolist() != [PAD_VALUE] * 3


def test_only_the_crop_is_converted() -> None:
    frame = _frame()
    before = frame.copy()
    crop_square(frame, [Box(0.4, 0.4, 0.1, 0.1)])
    assert np.array_equal(frame, before)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)])
def test_bad_frame_is_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="BGR HxWx3 uint8"):
        crop_square(bad, [])
