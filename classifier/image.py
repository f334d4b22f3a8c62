"""Reading real image files into RGB arrays, whatever their format, mode and orientation."""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

import cv2
import numpy as np

from classifier.errors import ImageError

# A transparent pixel has no colour; it is shown over mid-grey, the value MobileNet-style
# models normalise to zero, so it adds as little evidence as possible either way.
ALPHA_BACKGROUND = 128


def load_image(path: str | Path) -> np.ndarray:
    """The picture in ``path`` as RGB uint8 HxWx3; :class:`ImageError` naming the file otherwise.

    Handles JPEG (EXIF orientation applied: OpenCV's ``IMREAD_COLOR`` rotates by the EXIF tag),
    PNG (8 or 16 bit, grey, RGBA: alpha is composited over mid-grey), WebP, BMP and greyscale
    files (grey copied to the three channels).

    >>> load_image("images/predator/coral__owl.jpg").shape  # doctest: +SKIP
    (598, 432, 3)
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if data.size == 0:
        raise ImageError(f"{path}: the file is empty")
    # IMREAD_COLOR gives 8-bit 3-channel BGR, rotated upright by EXIF; it drops alpha, so
    # a file that may carry alpha is decoded unchanged once more to composite it properly.
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"{path}: not an image OpenCV can decode (corrupt, truncated or other)")
    if not _is_jpeg(data):
        raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if _has_alpha(raw) and raw.shape[:2] == bgr.shape[:2]:
            bgr = _over_grey(raw)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _has_alpha(raw: np.ndarray | None) -> TypeGuard[np.ndarray]:
    return raw is not None and raw.ndim == 3 and raw.shape[2] == 4


def _is_jpeg(data: np.ndarray) -> bool:
    return bool(data.size >= 2 and data[0] == 0xFF and data[1] == 0xD8)


def _over_grey(bgra: np.ndarray) -> np.ndarray:
    """BGRA (8 or 16 bit) composited over mid-grey, as 8-bit BGR."""
    if bgra.dtype == np.uint16:
        bgra = (bgra >> 8).astype(np.uint8)
    alpha = bgra[..., 3:4].astype(np.float32) / 255.0
    if bool(np.all(alpha == 1.0)):
        return np.ascontiguousarray(bgra[..., :3])
    mixed = bgra[..., :3].astype(np.float32) * alpha + ALPHA_BACKGROUND * (1.0 - alpha)
    return np.rint(mixed).astype(np.uint8)
