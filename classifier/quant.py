"""Quantisation arithmetic, as pure functions over numbers the interpreter reports.

TFLite's affine quantisation: ``real = scale * (q - zero_point)``. An image model was trained on
pixels normalised as ``(pixel - mean) / std`` (MobileNet: mean = std = 127.5, so -1..1); that
normalisation is the model's, recorded in the manifest, while scale and zero point come from the
input tensor itself. Both are folded into one 256-entry table from pixel value to input value, so
pre-processing a whole image is a single table look-up.
"""

from __future__ import annotations

import numpy as np


def quantize(
    real: np.ndarray | float, scale: float, zero_point: int, dtype: np.dtype
) -> np.ndarray:
    """``round(real / scale + zero_point)`` clipped to ``dtype``'s range (rounding half to even)."""
    info = np.iinfo(dtype)
    q = np.rint(np.asarray(real, dtype=np.float64) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``scale * (q - zero_point)`` as float32; ``scale == 0`` means a float tensor: unchanged."""
    if scale == 0:
        return np.asarray(q, dtype=np.float32)
    return (np.asarray(q, dtype=np.float32) - np.float32(zero_point)) * np.float32(scale)


def pixel_table(
    dtype: np.dtype, scale: float, zero_point: int, mean: float, std: float
) -> np.ndarray:
    """The input value for each pixel value 0..255, for an input tensor of ``dtype``.

    Integer inputs get ``quantize((p - mean) / std)``; float inputs get ``(p - mean) / std``.
    """
    real = (np.arange(256, dtype=np.float64) - mean) / std
    if np.issubdtype(dtype, np.integer):
        if scale <= 0:
            raise ValueError(f"an integer input tensor needs a positive scale, got {scale}")
        return quantize(real, scale, zero_point, dtype)
    return real.astype(dtype)
