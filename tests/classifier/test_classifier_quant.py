"""Quantisation arithmetic against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.quant import dequantize, pixel_table, quantize


def test_quantize_uint8_by_hand() -> None:
    # MobileNet input: scale 1/128, zero point 128: real -1 -> 0, 0 -> 128, 0.5 -> 192,
    # 1 -> 256, clipped to 255.
    q = quantize(np.array([-1.0, 0.0, 0.5, 1.0]), 1 / 128, 128, np.dtype(np.uint8))
    assert q.tolist() == [0, 128, 192, 255]
    assert q.dtype == np.uint8


def test_quantize_int8_by_hand() -> None:
    # scale 0.5, zero point -10: 0 -> -10, 3.2 -> 6.4 - 10 = -3.6 -> -4, 200 -> clipped to 127.
    q = quantize(np.array([0.0, 3.2, 200.0, -200.0]), 0.5, -10, np.dtype(np.int8))
    assert q.tolist() == [-10, -4, 127, -128]


def test_dequantize_softmax_output_by_hand() -> None:
    # The ImageNet models' output: scale 1/256, zero point 0; 255 -> 0.99609375.
    real = dequantize(np.array([0, 128, 255], dtype=np.uint8), 1 / 256, 0)
    assert real.tolist() == [0.0, 0.5, 0.99609375]
    assert dequantize(np.array([-128, 0], dtype=np.int8), 0.25, -128).tolist() == [0.0, 32.0]


def test_round_trip_within_half_a_step() -> None:
    real = np.linspace(-1, 0.99, 101)
    back = dequantize(quantize(real, 1 / 128, 128, np.dtype(np.uint8)), 1 / 128, 128)
    assert np.max(np.abs(back - real)) <= 0.5 / 128 + 1e-7


def test_pixel_table_mobilenet_v1() -> None:
    # (p - 127.5) / 127.5 quantised with scale 1/128, zp 128: q = round(1.00392 * p).
    table = pixel_table(np.dtype(np.uint8), 1 / 128, 128, 127.5, 127.5)
    assert (table[0], table[64], table[127], table[200], table[255]) == (0, 64, 127, 201, 255)


def test_pixel_table_tf2_ptq() -> None:
    # TF2 PTQ model: scale 1/127.5, zp 127 -> q = round(p - 0.5): half to even.
    table = pixel_table(np.dtype(np.uint8), 1 / 127.5, 127, 127.5, 127.5)
    assert (table[0], table[1], table[2], table[255]) == (0, 0, 2, 254)


def test_pixel_table_int8_and_float() -> None:
    int8 = pixel_table(np.dtype(np.int8), 1 / 128, 0, 127.5, 127.5)
    assert (int8.dtype, int8[0], int8[255]) == (np.dtype(np.int8), -128, 127)
    flt = pixel_table(np.dtype(np.float32), 0.0, 0, 127.5, 127.5)
    assert flt[0] == pytest.approx(-1.0) and flt[255] == pytest.approx(1.0)


def test_integer_input_without_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="positive scale"):
        pixel_table(np.dtype(np.uint8), 0.0, 0, 127.5, 127.5)
