"""Sources made from still pictures: a folder of photos played back, and "arrivals" (photos
shown over a still background at set times, for the demo and the tests).

Both are paced at ``cfg.fps`` in real time, or run as fast as they are read
(``realtime: false``); frame ``k`` always shows the scene at ``k / fps`` seconds, so a test
without real time sees exactly what a live run would.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from camera.box import Box
from camera.config import ArrivalConfig, CameraConfig
from camera.errors import BadFrameError, CameraError, CameraOpenError, EndOfStream
from camera.frame import Frame
from camera.motion import frames_within
from camera.source import (
    Clock,
    Pacer,
    fit_image,
    grey_of,
    grey_size,
    interpolation_for,
    make_frame,
    paste_at,
    scale_to_fit,
    to_bgr,
)

log = logging.getLogger(__name__)

# Arrivals sway on a circle of this radius (fraction of the frame width) once a second.
_SWAY = 0.015
_SWAY_PERIOD_S = 1.0
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def read_image(path: str, *, keep_alpha: bool = False) -> np.ndarray:
    """A picture file as B,G,R (or B,G,R,A with ``keep_alpha``) uint8; :class:`BadFrameError`
    naming the file when it cannot be decoded."""
    flags = cv2.IMREAD_UNCHANGED if keep_alpha else cv2.IMREAD_COLOR
    image = cv2.imread(path, flags)
    if image is None:
        raise BadFrameError(f"{path}: missing, unreadable or not a picture OpenCV can decode")
    if image.dtype == np.uint16:  # 16-bit PNG/TIFF
        image = (image // 256).astype(np.uint8)
    if keep_alpha and image.ndim == 3 and image.shape[2] == 4:
        return image
    return to_bgr(image)


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fill ``width`` x ``height`` and centre-cropped: a background
    has no black bars."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    scaled = cv2.resize(image, (nw, nh), interpolation=interpolation_for(w, nw))
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + height, x0 : x0 + width])


class _StillSource:
    """What both still-picture sources share: pacing, the frame counter, closing."""

    def __init__(self, cfg: CameraConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.fps = cfg.fps  # frame k shows second k / fps
        self._grey_size = grey_size(cfg)
        self._pacer = Pacer(cfg.fps, cfg.realtime, clock)
        self._index = 0
        self._open = False

    def _next_index(self) -> int:
        if not self._open:
            raise CameraError(f"camera {self.cfg.name}: read() before open()")
        index = self._index
        self._pacer.wait_for(index)
        self._index += 1
        return index

    def _frame(self, image: np.ndarray) -> Frame:
        return make_frame(image, grey_of(image, self._grey_size))

    def close(self) -> None:
        """Stop any wait; idempotent."""
        self._pacer.interrupt()
        self._open = False


class PhotoFolderSource(_StillSource):
    """Every photo in a folder (sorted by name), one per frame.

    A photo that does not decode raises :class:`BadFrameError` naming it; the next read
    goes on with the following photo.
    """

    def __init__(self, cfg: CameraConfig, folder: str, *, clock: Clock = time.monotonic) -> None:
        super().__init__(cfg, clock)
        self.folder = Path(folder)
        self.photos: list[Path] = []

    def open(self) -> None:
        """List the photos; :class:`CameraOpenError` if the folder has none."""
        if not self.folder.is_dir():
            raise CameraOpenError(f"camera {self.cfg.name}: photo folder {self.folder} not found")
        self.photos = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        if not self.photos:
            raise CameraOpenError(f"camera {self.cfg.name}: no photos in {self.folder} "
                                  f"(looked for {', '.join(sorted(PHOTO_SUFFIXES))})")
        self._warn_if_warm_up_takes_them()
        self._index = 0
        self._pacer.restart()
        self._open = True

    def _warn_if_warm_up_takes_them(self) -> None:
        # A trail camera's burst of three photos played at 10 fps is all warm-up: nothing
        # could ever be seen in it, and only the pace (fps 1) says so.
        learnt = 1 + frames_within(self.cfg.motion.warmup_s, self.fps)
        searched = len(self.photos) - learnt
        if searched < 2 and not self.cfg.loop:
            log.warning("camera %s: %d photo(s) in %s; at %g fps motion learns the first %d "
                        "(warm-up %g s), leaving %d to search: a burst or snapshots taken "
                        "seconds apart want fps 1", self.cfg.name, len(self.photos),
                        self.folder, self.fps, learnt, self.cfg.motion.warmup_s,
                        max(0, searched))

    def read(self) -> Frame | None:
        """The next photo as a frame; :class:`EndOfStream` after the last one unless looping."""
        if self._open and not self.cfg.loop and self._index >= len(self.photos):
            raise EndOfStream(f"camera {self.cfg.name}: all {len(self.photos)} photos shown")
        index = self._next_index()
        image = read_image(str(self.photos[index % len(self.photos)]))
        return self._frame(fit_image(image, self.cfg.width, self.cfg.height))


class ArrivalsSource(_StillSource):
    """Photos that appear over a still background, each in its box for ``for_s`` seconds.

    Each photo is scaled to fit its box with its aspect ratio kept (transparent PNGs are
    blended), and sways a little inside it (a small circle, once a second), as a live animal
    never stands pixel-still: the motion detector follows recent change, and a frozen
    picture would fade into the background within a second, like a parked wheelbarrow.
    Without ``loop`` the source ends one ``for_s`` of empty scene after the last arrival
    has gone; with it the schedule repeats.
    """

    def __init__(
        self,
        cfg: CameraConfig,
        background: str,
        images: Sequence[str],
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(cfg, clock)
        if len(images) != len(cfg.arrivals):
            raise ValueError("one image path per arrival is needed")
        self.background_path = background
        self.image_paths = list(images)
        self.period_s = schedule_length(cfg.arrivals)
        self.sway_px = max(1, round(_SWAY * cfg.width))
        self._empty: Frame | None = None
        self._photos: list[tuple[np.ndarray, int, int]] = []  # scaled photo, its x, y

    def open(self) -> None:
        """Load the background and every photo; :class:`CameraOpenError` names a bad file."""
        try:
            background = read_image(self.background_path)
            photos = [read_image(p, keep_alpha=True) for p in self.image_paths]
        except BadFrameError as exc:
            raise CameraOpenError(f"camera {self.cfg.name}: {exc}") from None
        empty = cover(background, self.cfg.width, self.cfg.height)
        empty.flags.writeable = False
        self._empty = self._frame(empty)
        self._photos = [self._placed(photo, arrival) for photo, arrival in
                        zip(photos, self.cfg.arrivals, strict=True)]
        self._index = 0
        self._pacer.restart()
        self._open = True

    def _placed(self, photo: np.ndarray, arrival: ArrivalConfig) -> tuple[np.ndarray, int, int]:
        # Scaled once, to the box less the sway on each side, so the photo never leaves it.
        x, y, w, h = Box(*arrival.box).to_pixels(self.cfg.width, self.cfg.height)
        margin = self.sway_px
        scaled = scale_to_fit(photo, max(1, w - 2 * margin), max(1, h - 2 * margin))
        return scaled, x + (w - scaled.shape[1]) // 2, y + (h - scaled.shape[0]) // 2

    def arrivals_at(self, t_s: float) -> list[int]:
        """Indexes of the arrivals on show ``t_s`` seconds after the start."""
        if self.cfg.loop and self.period_s > 0:
            t_s %= self.period_s
        return [
            i for i, a in enumerate(self.cfg.arrivals) if a.at_s <= t_s < a.at_s + a.for_s
        ]

    def read(self) -> Frame | None:
        """The scene of the next frame; :class:`EndOfStream` when a non-looping schedule is over."""
        if self._open and not self.cfg.loop and self._index / self.cfg.fps >= self.period_s:
            raise EndOfStream(f"camera {self.cfg.name}: the last arrival has gone")
        index = self._next_index()
        t_s = index / self.cfg.fps
        showing = self.arrivals_at(t_s)
        assert self._empty is not None
        if not showing:
            # The empty scene is composed once: an idle demo costs no CPU per frame.
            return make_frame(self._empty.image, self._empty.grey)
        canvas = self._empty.image.copy()
        dx, dy = self._sway(t_s)
        for i in showing:
            photo, x, y = self._photos[i]
            paste_at(canvas, photo, x + dx, y + dy)
        return self._frame(canvas)

    def _sway(self, t_s: float) -> tuple[int, int]:
        angle = 2 * math.pi * t_s / _SWAY_PERIOD_S
        return round(self.sway_px * math.cos(angle)), round(self.sway_px * math.sin(angle))


def schedule_length(arrivals: Sequence[ArrivalConfig]) -> float:
    """Seconds until the last arrival has gone, plus its ``for_s`` of empty scene."""
    if not arrivals:
        return 0.0
    last = max(arrivals, key=lambda a: a.at_s + a.for_s)
    return last.at_s + 2 * last.for_s

