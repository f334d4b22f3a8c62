"""The square crop around what moved, cut from a full-resolution BGR frame."""

from __future__ import annotations

import numpy as np
import pytest

from camera.box import Box
from classifier import crop_square
from classifier.crop import MIN_SIDE, PAD_VALUE, crop_regions


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


@pytest.mark.parametrize("regions", [[], [Box(0.0, 0.0, 1.0, 1.0)], [Box(0.0, 0.0, 0.9, 0.9)]])
def test_whole_frame_is_padded_to_a_square(regions: list[Box]) -> None:
    # No region, or a region that fills (nearly) the frame: never a square larger than the frame.
    crop = crop_square(_frame(), regions)
    assert crop.shape == (1920, 1920, 3)
    assert crop[0, 0].tolist() == [PAD_VALUE] * 3  # letterbox above
    assert crop[420, 5].tolist() == [0, 0, 5]  # frame row 0 starts at (1920-1080)/2


def test_a_large_region_is_cropped_unless_the_caller_asks_for_the_whole_frame() -> None:
    # Whether the whole frame is classified is the motion detector's rule (whole_frame_above),
    # not a second, hidden one here.
    region = [Box(0.0, 0.0, 0.75, 0.7)]  # 1440 x 756 px, over half of the frame
    assert crop_square(_frame(), region, margin=0).shape == (1440, 1440, 3)
    assert crop_square(_frame(), region, margin=0, whole_frame=True).shape == (1920, 1920, 3)


def test_each_region_gets_its_own_square_largest_first() -> None:
    corner = Box(0.0, 0.0, 0.05, 0.1)  # 96 x 108 px at the top left
    far = Box(0.8, 0.7, 0.1, 0.2)  # 192 x 216 px at the bottom right
    big, small = crop_regions(_frame(), [corner, far], limit=2, margin=0)
    assert big.shape == (216, 216, 3) and small.shape == (108, 108, 3)
    assert big[0, 0].tolist() == [0, round(0.7 * 1080) % 256, (1536 + 96 - 108) % 256]
    assert small[0, 0].tolist() == [0, 0, 0]  # the frame's own top-left corner
    assert [c.shape for c in crop_regions(_frame(), [corner, far], limit=1, margin=0)] == [
        (216, 216, 3)]


def test_one_region_is_one_crop_and_none_is_the_whole_frame() -> None:
    box = Box(0.5, 0.5, 0.05, 0.05)
    (only,) = crop_regions(_frame(), [box], limit=2, size=224)
    assert np.array_equal(only, crop_square(_frame(), [box], size=224))
    (whole,) = crop_regions(_frame(), [], limit=2, size=224)
    assert np.array_equal(whole, crop_square(_frame(), [], whole_frame=True, size=224))
    with pytest.raises(ValueError, match="limit must be >= 1"):
        crop_regions(_frame(), [box], limit=0)


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
