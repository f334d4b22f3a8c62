"""Reading real image files: every format, mode and orientation the field produces."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from classifier import ImageError, load_image
from classifier.image import ALPHA_BACKGROUND
from tests.conftest import SHARED_DATA


def _picture() -> np.ndarray:
    """A 40x60 BGR picture with distinct quadrants: blue top-left, red bottom-right."""
    img = np.full((40, 60, 3), 90, np.uint8)
    img[:20, :30] = (255, 0, 0)
    img[20:, 30:] = (0, 0, 255)
    return img


@pytest.mark.parametrize("ext", [".png", ".bmp", ".webp", ".jpg"])
def test_colour_formats_come_back_rgb(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"pic{ext}"
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []  # 101 = lossless
    assert cv2.imwrite(str(path), _picture(), params)
    rgb = load_image(path)
    assert rgb.shape == (40, 60, 3) and rgb.dtype == np.uint8
    tol = 12 if ext == ".jpg" else 0
    assert np.abs(rgb[5, 5].astype(int) - (0, 0, 255)).max() <= tol  # blue, now in RGB order
    assert np.abs(rgb[35, 55].astype(int) - (255, 0, 0)).max() <= tol


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_greyscale_becomes_three_equal_channels(tmp_path: Path, ext: str) -> None:
    grey = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (10, 1))
    path = tmp_path / f"grey{ext}"
    cv2.imwrite(str(path), grey)
    rgb = load_image(path)
    assert rgb.shape == (10, 50, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_rgba_png_is_composited_over_mid_grey(tmp_path: Path) -> None:
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 2] = 255  # red everywhere
    bgra[:2, :, 3] = 255  # top half opaque
    bgra[2:, :, 3] = 0  # bottom half transparent (black underneath, as many PNGs are)
    bgra[2:, :2, 3] = 128  # half transparent
    bgra[2:, :2, 2] = 255
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), bgra)
    rgb = load_image(path)
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[3, 3].tolist() == [ALPHA_BACKGROUND] * 3
    # 255 * 128/255 + 128 * 127/255 = 191.75 -> 192 for red; 128 * 127/255 = 63.75 -> 64 others.
    assert rgb[3, 0].tolist() == [192, 64, 64]


def test_sixteen_bit_png(tmp_path: Path) -> None:
    img = np.full((8, 8, 3), 65535, np.uint16)
    img[..., 0] = 0
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), img)
    assert load_image(path)[0, 0].tolist() == [255, 255, 0]


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """A JPEG with an APP1 Exif segment holding only the Orientation tag (0x0112)."""
    tiff = b"MM\x00*" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    ok, encoded = cv2.imencode(".jpg", _picture(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_with_exif_orientation(encoded.tobytes(), 6))  # 6: rotate 90° clockwise
    rgb = load_image(path)
    assert rgb.shape == (60, 40, 3)
    # Blue was top-left; after a clockwise quarter turn it is top-right.
    assert rgb[5, 35].tolist() == pytest.approx([0, 0, 255], abs=12)
    assert rgb[55, 5].tolist() == pytest.approx([255, 0, 0], abs=12)


@pytest.mark.parametrize(
    "name",
    [
        "images/chicken/c4f__5.png",  # RGBA PNG
        "images/chicken/wikianimals__chicken.webp",  # WebP
        "images/predator/coral__cat.bmp",  # BMP
        "images/predator/coral__owl.jpg",  # JPEG
        "images/predator/inet__n01622779_great_grey_owl.JPEG",  # JPEG with EXIF
    ],
)
def test_real_files(name: str) -> None:
    rgb = load_image(SHARED_DATA / name)
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
    assert min(rgb.shape[:2]) > 100


def test_large_jpeg(tmp_path: Path) -> None:
    big = cv2.resize(_picture(), (4000, 3000), interpolation=cv2.INTER_NEAREST)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big)
    assert load_image(path).shape == (3000, 4000, 3)


@pytest.mark.parametrize("content", [b"", b"not an image at all", None])
def test_bad_files_name_the_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=str(path)):
        load_image(path)


def test_truncated_jpeg_header_names_the_file(tmp_path: Path) -> None:
    _, encoded = cv2.imencode(".jpg", _picture())
    path = tmp_path / "cut.jpg"
    path.write_bytes(encoded.tobytes()[:100])
    with pytest.raises(ImageError, match=r"cut\.jpg"):
        load_image(path)


def test_the_header_gives_every_shared_picture_its_decoded_size() -> None:
    """The size read from the header (checked before decoding) is the size OpenCV decodes, for
    every JPEG, PNG, WebP and BMP photo in the shared data; alpha is never missed."""
    from classifier.image_size import header_size

    pictures = sorted(p for p in (SHARED_DATA / "images").rglob("*") if p.is_file())
    assert len(pictures) > 150
    for path in pictures:
        data = path.read_bytes()
        header = header_size(data)
        assert header is not None, path
        raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if data.startswith(b"\xff\xd8"):  # OpenCV turns a JPEG upright by its EXIF tag
            assert {header.width, header.height} == set(raw.shape[:2][::-1]), path
        else:
            assert (header.width, header.height) == raw.shape[:2][::-1], path
        if raw.ndim == 3 and raw.shape[2] == 4:
            assert header.alpha, path
