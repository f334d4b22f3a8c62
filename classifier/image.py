"""Reading real image files into RGB arrays, whatever their format, mode and orientation."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TypeGuard

import cv2
import numpy as np

from classifier.errors import ImageError
from classifier.image_size import header_size

# Enough for any header, a JPEG's EXIF and ICC segments before its frame included.
_HEADER_BYTES = 1 << 20

# A transparent pixel has no colour; it is shown over mid-grey, the value MobileNet-style
# models normalise to zero, so it adds as little evidence as possible either way.
ALPHA_BACKGROUND = 128
# 150 megapixels (a 200 MP phone's full-size photo aside): 450 MB once decoded to BGR.
MAX_PIXELS = 150_000_000


def load_image(path: str | Path) -> np.ndarray:
    """The picture in ``path`` as RGB uint8 HxWx3; :class:`ImageError` naming the file otherwise.

    Handles JPEG (EXIF orientation applied: OpenCV's ``IMREAD_COLOR`` rotates by the EXIF tag),
    PNG (8 or 16 bit, grey, RGBA: alpha is composited over mid-grey), WebP, BMP and greyscale
    files (grey copied to the three channels).

    >>> load_image("images/predator/coral__owl.jpg").shape  # doctest: +SKIP
    (598, 432, 3)
    """
    path = Path(path)
    data = _read_regular(path)
    header = header_size(data[:_HEADER_BYTES].tobytes())
    if header is not None and header.pixels > MAX_PIXELS:
        raise ImageError(f"{path}: {header.width}x{header.height} pixels, more than the "
                         f"{MAX_PIXELS // 1_000_000} megapixels a picture may have "
                         f"({header.pixels * 3 / 1e9:.1f} GB to decode)")
    # IMREAD_COLOR gives 8-bit 3-channel BGR, rotated upright by EXIF; it drops alpha, so
    # a file whose header allows alpha is decoded unchanged once more to composite it.
    bgr = _decode(path, data, cv2.IMREAD_COLOR)
    assert bgr is not None  # required
    if header is None or header.alpha:
        raw = _decode(path, data, cv2.IMREAD_UNCHANGED, required=False)
        if _has_alpha(raw) and raw.shape[:2] == bgr.shape[:2]:
            bgr = _over_grey(raw)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_regular(path: Path) -> np.ndarray:
    """The bytes of a regular file (a pipe would block for ever, a device never end)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ImageError(f"{path}: not a regular file (a folder, a pipe or a device)")
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if data.size == 0:
        raise ImageError(f"{path}: the file is empty")
    return data


def _decode(path: Path, data: np.ndarray, flags: int, *,
            required: bool = True) -> np.ndarray | None:
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as exc:  # OpenCV's own limits (a format whose header we do not read)
        raise ImageError(f"{path}: OpenCV refused it: {exc.err}") from None
    if image is None and required:
        raise ImageError(f"{path}: not an image OpenCV can decode (corrupt, truncated or other)")
    return image


def _has_alpha(raw: np.ndarray | None) -> TypeGuard[np.ndarray]:
    return raw is not None and raw.ndim == 3 and raw.shape[2] == 4


def _over_grey(bgra: np.ndarray) -> np.ndarray:
    """BGRA (8 or 16 bit) composited over mid-grey, as 8-bit BGR."""
    if bgra.dtype == np.uint16:
        bgra = (bgra >> 8).astype(np.uint8)
    alpha = bgra[..., 3:4].astype(np.float32) / 255.0
    if bool(np.all(alpha == 1.0)):
        return np.ascontiguousarray(bgra[..., :3])
    mixed = bgra[..., :3].astype(np.float32) * alpha + ALPHA_BACKGROUND * (1.0 - alpha)
    return np.rint(mixed).astype(np.uint8)
