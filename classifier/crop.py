"""The square a model sees: cut from the full-resolution frame around what moved.

Models take a small square input (224x224 for MobileNet). Classifying the whole 1920x1080 frame
would shrink a jay on the fence to a few pixels; cutting a square around the motion, with a
margin for context, makes the animal fill the model's input instead. When several things move
apart (a fox in one corner, a hen in the other), :func:`crop_regions` cuts one square for each.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from camera.box import Box
from classifier.resize import resize

# Padding colour: mid-grey is zero after MobileNet's normalisation, so padding carries no signal.
PAD_VALUE = 128
# Below this side (pixels of the full frame) a crop holds too little to classify; grow it.
MIN_SIDE = 32


def crop_square(
    image_bgr: np.ndarray,
    regions: Sequence[Box],
    *,
    margin: float = 0.25,
    whole_frame: bool = False,
    size: int | None = None,
) -> np.ndarray:
    """An RGB uint8 square around the union of ``regions`` (normalised boxes) in a BGR frame.

    The square's side is the union's longer side plus ``margin`` of it on each side (at least
    ``MIN_SIDE`` pixels), centred on the union and shifted to stay inside the frame. Only where
    the square is larger than the frame's shorter side is it padded with mid-grey, so that
    nothing that moved is ever cut off; a square that would be larger than the frame's longer
    side is that side (more would only be padding). With ``whole_frame`` (the caller's choice,
    e.g. the motion detector's ``whole_frame_above``) or no regions, the whole frame is returned,
    **padded** to a square, not centre-cropped: an animal at the frame's edge must stay in view;
    a region covering the whole frame gives the same square. ``size`` resizes the result
    to ``size`` x ``size`` (a model's input side), which saves copying a large square.
    Only the crop is converted from BGR to RGB, never the whole frame.

    >>> frame = np.zeros((1080, 1920, 3), np.uint8)
    >>> crop_square(frame, [Box(0.5, 0.5, 0.05, 0.05)]).shape
    (144, 144, 3)
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(
            f"crop_square needs a BGR HxWx3 uint8 image, got {image_bgr.shape} {image_bgr.dtype}"
        )
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    height, width = image_bgr.shape[:2]
    union = _union(regions)
    if whole_frame or union is None:
        x0, y0, side = 0, 0, max(width, height)
        x0, y0 = (width - side) // 2, (height - side) // 2
    else:
        x0, y0, side = _square_around(union, width, height, margin)
    return _cut(image_bgr, x0, y0, side, size)


def crop_regions(
    image_bgr: np.ndarray,
    regions: Sequence[Box],
    *,
    limit: int,
    margin: float = 0.25,
    size: int | None = None,
) -> list[np.ndarray]:
    """One square per region (:func:`crop_square` of each alone), the ``limit`` largest first;
    the whole frame when there is no region.

    The motion detector has already merged what belongs together (``merge_gap``,
    ``max_regions``): cutting around the union again would turn a fox in one corner and a hen in
    the other into one near-whole-frame square, in which the fox shrinks to a few pixels and the
    hen's score mixes with his. One region costs exactly what :func:`crop_square` does.

    >>> frame = np.zeros((720, 1280, 3), np.uint8)
    >>> [c.shape for c in crop_regions(frame, [Box(0.0, 0.0, 0.1, 0.1), Box(0.8, 0.8, 0.2, 0.2)],
    ...                                limit=2, size=224)]
    [(224, 224, 3), (224, 224, 3)]
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    largest = sorted(regions, key=lambda b: -b.area)[:limit]
    if not largest:
        return [crop_square(image_bgr, (), margin=margin, size=size)]
    return [crop_square(image_bgr, [box], margin=margin, size=size) for box in largest]


def _union(regions: Sequence[Box]) -> Box | None:
    if not regions:
        return None
    union = regions[0]
    for box in regions[1:]:
        union = union.union(box)
    return union


def _square_around(union: Box, width: int, height: int, margin: float) -> tuple[int, int, int]:
    """Top-left corner and side of the square, shifted into the frame where it fits."""
    bx, by, bw, bh = union.to_pixels(width, height)
    side = max(MIN_SIDE, round(max(bw, bh) * (1.0 + 2.0 * margin)))
    side = min(side, max(width, height))
    x0 = bx + bw // 2 - side // 2
    y0 = by + bh // 2 - side // 2
    # Shift inside along each axis the square fits in; centre it on an axis it does not.
    x0 = min(max(x0, 0), width - side) if side <= width else (width - side) // 2
    y0 = min(max(y0, 0), height - side) if side <= height else (height - side) // 2
    return x0, y0, side


def _cut(image_bgr: np.ndarray, x0: int, y0: int, side: int, size: int | None) -> np.ndarray:
    """The ``side`` square at ``(x0, y0)`` (may reach outside: padded), RGB, resized to ``size``."""
    height, width = image_bgr.shape[:2]
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + side, width), min(y0 + side, height)
    inside = image_bgr[cy0:cy1, cx0:cx1]
    scale = 1.0 if size is None else size / side
    if size is not None and size != side:
        new_w = max(1, round(inside.shape[1] * scale))
        new_h = max(1, round(inside.shape[0] * scale))
        inside = resize(inside, new_w, new_h)
    out_side = size if size is not None else side
    top, left = round((cy0 - y0) * scale), round((cx0 - x0) * scale)
    bottom = out_side - top - inside.shape[0]
    right = out_side - left - inside.shape[1]
    if top or left or bottom > 0 or right > 0:
        inside = cv2.copyMakeBorder(
            inside, top, max(bottom, 0), left, max(right, 0), cv2.BORDER_CONSTANT,
            value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
        )
    return cv2.cvtColor(inside[:out_side, :out_side], cv2.COLOR_BGR2RGB)
