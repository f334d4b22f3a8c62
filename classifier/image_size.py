"""An image's size, read from its header without decoding it: JPEG, PNG, WebP and BMP.

A picture is decoded into width x height x 3 bytes (and more while decoding), so a small file
can claim gigabytes: the size is checked against a limit before any decoder runs.

>>> header_size(open("photo.png", "rb").read())  # doctest: +SKIP
ImageHeader(width=1280, height=720, alpha=False)
"""

from __future__ import annotations

import struct
from typing import NamedTuple

_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (C4 is DHT, C8 JPG, CC DAC: not frames).
_SOF = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}
_STANDALONE = {0x01, *range(0xD0, 0xDA)}


class ImageHeader(NamedTuple):
    """What a header says: the size, and whether the pixels may carry alpha."""

    width: int
    height: int
    alpha: bool

    @property
    def pixels(self) -> int:
        """Width times height."""
        return self.width * self.height


def header_size(data: bytes) -> ImageHeader | None:
    """The size in the header of a JPEG, PNG, WebP or BMP file; None for another format or a
    header cut short."""
    try:
        for reader in (_png, _jpeg, _webp, _bmp):
            found = reader(data)
            if found is not None:
                return found
    except (struct.error, IndexError):
        return None
    return None


def _png(data: bytes) -> ImageHeader | None:
    if not data.startswith(_PNG) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader(width, height, data[25] in (4, 6) or _png_has_trns(data))


def _png_has_trns(data: bytes) -> bool:
    # A tRNS chunk (transparency for palette or grey/RGB images) comes before the first IDAT.
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"tRNS":
            return True
        if kind == b"IDAT":
            return False
        at += 12 + length
    return False


def _jpeg(data: bytes) -> ImageHeader | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return ImageHeader(width, height, False)
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return None


def _webp(data: bytes) -> ImageHeader | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader(width & 0x3FFF, height & 0x3FFF, False)
    if kind == b"VP8L":
        bits = struct.unpack("<I", data[21:25])[0]
        return ImageHeader((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1))
    if kind == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader(width, height, bool(data[20] & 0x10))
    return None


def _bmp(data: bytes) -> ImageHeader | None:
    if data[:2] != b"BM":
        return None
    width, height = struct.unpack("<ii", data[18:26])
    bits = struct.unpack("<H", data[28:30])[0]
    return ImageHeader(abs(width), abs(height), bits == 32)
