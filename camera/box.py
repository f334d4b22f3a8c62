"""Rectangles in normalised frame coordinates, shared by motion detection and cropping."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned rectangle; every coordinate is a fraction of the frame (0..1).

    Normalised so that a box found on the small motion plane maps directly onto the
    full-resolution image, whatever the two resolutions are.
    """

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        """Fraction of the frame the box covers."""
        return self.w * self.h

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.w, other.x + other.w)
        y1 = max(self.y + self.h, other.y + other.h)
        return Box(x0, y0, x1 - x0, y1 - y0)

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` in pixels of an image of the given size, clipped to it."""
        x0 = max(0, min(width - 1, round(self.x * width)))
        y0 = max(0, min(height - 1, round(self.y * height)))
        x1 = max(x0 + 1, min(width, round((self.x + self.w) * width)))
        y1 = max(y0 + 1, min(height, round((self.y + self.h) * height)))
        return x0, y0, x1 - x0, y1 - y0

    def as_list(self) -> list[float]:
        """``[x, y, w, h]`` rounded for JSON."""
        return [round(self.x, 4), round(self.y, 4), round(self.w, 4), round(self.h, 4)]
