"""Where frames come from: the :class:`FrameSource` protocol and the small image helpers every
backend shares (:func:`camera.opening.open_source` makes the source a configuration describes).

Every backend hands out frames of one shape, fixed by the configuration: ``image`` is B,G,R
at ``cfg.width`` x ``cfg.height`` and ``grey`` is the small plane motion works on, at
:func:`grey_size`. So the frame ring can be preallocated once, and a frame of any other
shape is a bad frame, not a crash further down.

Example::

    source = open_source(cfg, resolve=store.resolve)
    source.open()
    try:
        frame = source.read()
    finally:
        source.close()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from camera.config import CameraConfig
from camera.errors import SourceConfigError
from camera.frame import Frame

Clock = Callable[[], float]
_CATCH_UP_S = 1.0


class FrameSource(Protocol):
    """A camera, stream, file or folder that yields :class:`Frame` objects.

    ``fps`` is the rate its frames come at once open: a video file's recorded rate, the
    configured one otherwise. Motion's warm-up and re-learning are times, counted in frames
    at this rate.
    """

    fps: float

    def open(self) -> None:
        """Start delivering frames; raises :class:`camera.errors.CameraError`."""

    def read(self) -> Frame | None:
        """One frame, blocking up to about one frame interval; ``None`` when nothing came
        this time. Raises :class:`camera.errors.EndOfStream` at the end of a non-looping
        file or replay."""

    def close(self) -> None:
        """Release the device or file; idempotent."""


def grey_size(cfg: CameraConfig) -> tuple[int, int]:
    """``(width, height)`` of the grey plane: the motion width, the camera's aspect ratio,
    both even (YUV420 planes, and so picamera2's ``lores`` stream, need even sizes)."""
    width = min(cfg.motion.width, cfg.width) // 2 * 2
    height = max(2, round(width * cfg.height / cfg.width / 2) * 2)
    return width, height


def grey_of(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The small grey plane of a B,G,R image (shrunk first: converting fewer pixels is cheaper)."""
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any decoded picture (grey, B,G,R, B,G,R,A) as 3-channel B,G,R uint8."""
    if image.dtype != np.uint8:
        raise SourceConfigError(f"expected an 8-bit image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at exactly ``width`` x ``height``: resized when the aspect ratio matches
    (within 2 %), else scaled to fit and centred on black, so nothing is stretched."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if abs(w / h - width / height) <= 0.02 * width / height:
        return cv2.resize(image, (width, height), interpolation=interpolation_for(w, width))
    canvas = np.zeros((height, width, 3), np.uint8)
    paste_fit(canvas, image, (0, 0, width, height))
    return canvas


def paste_fit(canvas: np.ndarray, image: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """Paste ``image`` (B,G,R or B,G,R,A) into ``rect`` (x, y, w, h px) of ``canvas``,
    scaled to fit with its aspect ratio kept and centred; alpha is honoured."""
    x, y, w, h = rect
    scaled = scale_to_fit(image, w, h)
    paste_at(canvas, scaled, x + (w - scaled.shape[1]) // 2, y + (h - scaled.shape[0]) // 2)


def scale_to_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled (aspect ratio kept) to the largest size inside ``width`` x ``height``."""
    ih, iw = image.shape[:2]
    scale = min(width / iw, height / ih)
    size = (max(1, round(iw * scale)), max(1, round(ih * scale)))
    return cv2.resize(image, size, interpolation=interpolation_for(iw, size[0]))


def paste_at(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    """Copy ``image`` (B,G,R, grey, or B,G,R,A blended by its alpha) onto ``canvas`` with its
    top-left corner at ``x, y``; whatever falls outside the canvas is cut off."""
    h, w = image.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(canvas.shape[1], x + w), min(canvas.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    part = image[y0 - y : y1 - y, x0 - x : x1 - x]
    target = canvas[y0:y1, x0:x1]
    if part.ndim == 3 and part.shape[2] == 4:
        alpha = part[:, :, 3:4].astype(np.float32) / 255.0
        target[:] = (part[:, :, :3] * alpha + target * (1.0 - alpha)).astype(np.uint8)
    else:
        target[:] = to_bgr(part)


def interpolation_for(src: int, dst: int) -> int:
    """INTER_AREA for shrinking (no aliasing), linear for enlarging."""
    return cv2.INTER_AREA if dst < src else cv2.INTER_LINEAR


def make_frame(image: np.ndarray, grey: np.ndarray, capture_ns: int | None = None) -> Frame:
    """A frame stamped ``capture_ns`` (now when not given); the capture numbers it."""
    now_ns = time.monotonic_ns()
    stamp = now_ns if capture_ns is None else capture_ns
    wall = time.time() - (now_ns - stamp) / 1e9
    return Frame(seq=0, image=image, grey=grey, capture_ns=stamp, wall_time=wall)


class Pacer:
    """Spaces frames ``1/fps`` apart in real time, or not at all; waits on an event that
    :meth:`interrupt` sets, so closing a source never waits out a frame interval."""

    def __init__(self, fps: float, realtime: bool, clock: Clock = time.monotonic) -> None:
        self.interval = 1.0 / fps
        self.realtime = realtime
        self._clock = clock
        self._start: float | None = None
        self._wake = threading.Event()

    def restart(self) -> None:
        """The next frame is frame 0 again (the source just opened or looped)."""
        self._start = None
        self._wake.clear()

    def wait_for(self, index: int) -> None:
        """Return when frame ``index`` is due (at once when not real time)."""
        if not self.realtime:
            return
        now = self._clock()
        if self._start is None:
            self._start = now - index * self.interval
        delay = self._start + index * self.interval - now
        if delay < -_CATCH_UP_S:
            # Far behind (the machine was suspended or starved): carry on from now rather
            # than firing a burst of frames that would only be dropped.
            self._start = now - index * self.interval
        elif delay > 0:
            self._wake.wait(delay)

    def interrupt(self) -> None:
        """Stop any wait in progress."""
        self._wake.set()
