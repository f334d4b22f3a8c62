"""Motion on a small greyscale plane: what moved, and which region(s) the classifier crops.

The method is Frigate's, kept small: downscale, blur, compare with a running average of
past frames, threshold, dilate, take the outer contours. Two things make it fit a henhouse:

* a sudden change over most of the frame (the IR lamp switching on, a cloud, the lights)
  is a change of light, not an animal: the background is re-learnt from the new frame and
  nothing triggers;
* masks (polygons in the configuration) blank out places that always move (a tree, a
  road, a feeder swinging in the wind).

Example::

    detector = MotionDetector(MotionConfig(), fps=10.0)
    motion = detector.detect(frame.grey)
    if motion.moving:
        crops = [region.to_pixels(*frame.size) for region in motion.regions]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from camera.box import Box
from camera.config import MotionConfig, Point

log = logging.getLogger(__name__)

WHOLE_FRAME = Box(0.0, 0.0, 1.0, 1.0)
# Bounds the work done on a noisy frame: only the largest contours become boxes.
_MAX_CONTOURS = 32


@dataclass(frozen=True, slots=True)
class Motion:
    """What :meth:`MotionDetector.detect` found in one frame.

    ``boxes`` are the moving blobs above the minimum area; ``regions`` are those boxes
    merged into what the classifier should crop (usually one, the whole frame when most
    of it moves); ``area`` is the moving fraction of the (unmasked) frame; ``relearned``
    says the light changed and the background was re-learnt instead of triggering.
    """

    moving: bool
    boxes: tuple[Box, ...]
    regions: tuple[Box, ...]
    area: float
    relearned: bool

    @classmethod
    def still(cls, relearned: bool = False) -> Motion:
        """Nothing moving."""
        return cls(False, (), (), 0.0, relearned)


class MotionDetector:
    """A running-average motion detector over plain greyscale ``ndarray`` frames.

    Frames may come at any size (they are scaled to ``cfg.width``), but the size must not
    change between calls; a new size restarts learning, as a new camera would. ``fps`` is the
    rate frames come at: the settings' warm-up and re-learning are times, so that a camera
    giving a frame a second (a trail camera's burst, an RTSP stream, a folder of frames
    replayed) is not blind for ten seconds where one giving ten frames a second is for one.
    """

    def __init__(self, cfg: MotionConfig, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"motion needs the frame rate, more than 0 fps; got {fps}")
        self.cfg = cfg
        self._warmup_frames = frames_within(cfg.warmup_s, fps)
        self._relearn_frames = frames_within(cfg.relearn_s, fps)
        self._background: np.ndarray | None = None
        # A second, fast average (the last few frames): a box counts only where something
        # changed recently, so the ghost left where an animal stood, or a person shifting
        # slowly at a desk, does not keep "motion" going for seconds.
        self._recent: np.ndarray | None = None
        self._learning = 0  # frames left before motion may be reported
        self._mask: np.ndarray | None = None  # 255 where motion counts
        self._input_shape: tuple[int, ...] = ()
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def reset(self) -> None:
        """Forget the background: the next frames are learnt again (warm-up)."""
        self._background = None

    def detect(self, grey: np.ndarray) -> Motion:
        """Compare ``grey`` (HxW uint8) with the background, then learn from it."""
        small = self._prepare(grey)
        if self._background is None:
            self._start(small, self._warmup_frames)
            return Motion.still()
        if self._learning > 0:
            self._learn(small, max(self.cfg.alpha, 1.0 / (self._learning + 1)))
            self._learning -= 1
            return Motion.still()
        assert self._recent is not None
        changed = self._changed(small, self._background)
        active = self._changed(small, self._recent)
        fraction = self._fraction(changed)
        if fraction > self.cfg.global_change:
            log.info("light changed over %.0f%% of the frame: re-learning the background",
                     100 * fraction)
            self._start(small, self._relearn_frames)
            return Motion.still(relearned=True)
        self._learn(small, self.cfg.alpha)
        return self._describe(changed, active, fraction)

    def _prepare(self, grey: np.ndarray) -> np.ndarray:
        if grey.ndim != 2 or grey.dtype != np.uint8:
            raise ValueError(f"motion needs a 2-D uint8 grey plane, got {grey.dtype} {grey.shape}")
        if grey.shape != self._input_shape:
            self._input_shape = grey.shape
            self._background = None
            self._mask = None
        height, width = grey.shape
        if width > self.cfg.width:
            size = (self.cfg.width, max(1, round(height * self.cfg.width / width)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        if self.cfg.blur > 1:
            grey = cv2.GaussianBlur(grey, (self.cfg.blur, self.cfg.blur), 0)
        if self._mask is None:
            self._mask = polygon_mask(self.cfg.masks, grey.shape[1], grey.shape[0])
        return grey.astype(np.float32)

    def _start(self, small: np.ndarray, frames: int) -> None:
        self._background = small.copy()
        self._recent = small.copy()
        self._learning = frames

    def _learn(self, small: np.ndarray, alpha: float) -> None:
        assert self._background is not None and self._recent is not None
        cv2.accumulateWeighted(small, self._background, alpha)
        cv2.accumulateWeighted(small, self._recent, self.cfg.recent_alpha)

    def _changed(self, small: np.ndarray, reference: np.ndarray) -> np.ndarray:
        # Float difference: uint8 minus uint8 would wrap around (3 - 5 = 254).
        diff = cv2.absdiff(small, reference)
        _, changed = cv2.threshold(diff, self.cfg.threshold, 255, cv2.THRESH_BINARY)
        changed = changed.astype(np.uint8)
        if self._mask is not None:
            changed = cv2.bitwise_and(changed, self._mask)
        return changed

    def _fraction(self, changed: np.ndarray) -> float:
        counted = changed.size if self._mask is None else cv2.countNonZero(self._mask)
        return cv2.countNonZero(changed) / counted if counted else 0.0

    def _describe(self, changed: np.ndarray, active: np.ndarray, fraction: float) -> Motion:
        if fraction == 0.0:
            return Motion.still()
        if self.cfg.dilate:
            changed = cv2.dilate(changed, self._kernel, iterations=self.cfg.dilate)
        boxes = self._boxes(changed, active)
        if not boxes:
            return Motion(False, (), (), fraction, False)
        if fraction > self.cfg.whole_frame_above:
            regions: tuple[Box, ...] = (WHOLE_FRAME,)
        else:
            merged = merge_boxes(boxes, self.cfg.merge_gap, self.cfg.max_regions)
            regions = tuple(pad_box(b, self.cfg.region_pad) for b in merged)
        return Motion(True, boxes, regions, fraction, False)

    def _boxes(self, changed: np.ndarray, active: np.ndarray) -> tuple[Box, ...]:
        height, width = changed.shape
        contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects = sorted((cv2.boundingRect(c) for c in contours), key=lambda r: -r[2] * r[3])
        min_pixels = self.cfg.min_area * width * height
        min_active = self.cfg.min_active * width * height
        return tuple(
            Box(x / width, y / height, w / width, h / height)
            for x, y, w, h in rects[:_MAX_CONTOURS]
            if w * h >= min_pixels
            and cv2.countNonZero(active[y : y + h, x : x + w]) >= min_active
        )


def frames_within(seconds: float, fps: float) -> int:
    """How many frames after a first one come less than ``seconds`` after it at ``fps``."""
    # The small allowance keeps 1.0 s at 10 fps nine frames, not ten, despite rounding.
    return max(0, math.ceil(seconds * fps - 1e-6) - 1)


def polygon_mask(polygons: list[list[Point]], width: int, height: int) -> np.ndarray | None:
    """255 where motion counts, 0 inside any polygon (normalised points); ``None`` if no masks."""
    if not polygons:
        return None
    mask = np.full((height, width), 255, np.uint8)
    for polygon in polygons:
        points = np.array([[round(x * width), round(y * height)] for x, y in polygon], np.int32)
        cv2.fillPoly(mask, [points], 0)
    return mask


def _near(a: Box, b: Box, gap: float) -> bool:
    return (
        a.x - gap <= b.x + b.w and b.x - gap <= a.x + a.w
        and a.y - gap <= b.y + b.h and b.y - gap <= a.y + a.h
    )


def merge_boxes(boxes: tuple[Box, ...], gap: float, max_regions: int) -> tuple[Box, ...]:
    """Join boxes closer than ``gap`` (a fraction of the frame), then the pairs whose union
    is smallest until at most ``max_regions`` remain: one crop per animal, not per limb."""
    regions = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                if _near(regions[i], regions[j], gap):
                    regions[i] = regions[i].union(regions.pop(j))
                    merged = True
                    break
            if merged:
                break
    while len(regions) > max_regions:
        pairs = [(i, j) for i in range(len(regions)) for j in range(i + 1, len(regions))]
        i, j = min(pairs, key=lambda p: regions[p[0]].union(regions[p[1]]).area)
        regions[i] = regions[i].union(regions.pop(j))
    return tuple(sorted(regions, key=lambda b: -b.area))


def pad_box(box: Box, pad: float) -> Box:
    """``box`` grown by ``pad`` of its size on every side, clipped to the frame: the
    classifier sees the whole animal and a little context, not a tight blob."""
    dx, dy = box.w * pad, box.h * pad
    x0, y0 = max(0.0, box.x - dx), max(0.0, box.y - dy)
    x1, y1 = min(1.0, box.x + box.w + dx), min(1.0, box.y + box.h + dy)
    return Box(x0, y0, x1 - x0, y1 - y0)
