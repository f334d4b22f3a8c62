"""Where, and how large, a camera's motion crops are: so its empty scenes are cut the same way.

An empty-scene crop teaches the head what "nothing" looks like only if it looks like what the
head will be asked about: a square cut around something that moved, at the size and place
motion happens on this camera (the hens' run, the gate, the perch). Each camera keeps its last
``keep`` motion regions (a few kB); a sample takes one of them at random, moved by up to half
its size, so the crops cover the places motion happens and their surroundings. Before any
motion has been seen, squares of a tenth to a half of the frame's height anywhere in the frame
are taken.

Example::

    places = MotionPlaces(keep=200, seed=0)
    places.saw("coop", motion.regions)        # on motion frames
    box = places.sample("coop")                # a normalised Box to cut an empty crop around
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Sequence

from camera.box import Box

# Without motion seen yet: squares of this share of the frame's height.
FIRST_SIDES = (0.1, 0.5)


class MotionPlaces:
    """The recent motion regions of every camera; thread-safe."""

    def __init__(self, keep: int = 200, seed: int | None = None) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        self._boxes: dict[str, deque[Box]] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def saw(self, camera: str, regions: Sequence[Box]) -> None:
        """Remember ``regions`` (normalised boxes) as where ``camera`` saw motion."""
        with self._lock:
            boxes = self._boxes.setdefault(camera, deque(maxlen=self.keep))
            boxes.extend(regions)

    def sample(self, camera: str, aspect: float = 16 / 9) -> Box:
        """A box the size of one of ``camera``'s motion regions, near where it was; or, with
        none seen yet, a square box of 0.1-0.5 of the frame's height (``aspect``: width over
        height of the frame)."""
        with self._lock:
            boxes = self._boxes.get(camera)
            r = self._random
            if boxes:
                b = r.choice(boxes)
                x = b.x + r.uniform(-0.5, 0.5) * b.w
                y = b.y + r.uniform(-0.5, 0.5) * b.h
                w, h = b.w, b.h
            else:
                h = r.uniform(*FIRST_SIDES)
                w = h / aspect
                x, y = r.uniform(0.0, 1.0 - w), r.uniform(0.0, 1.0 - h)
        return Box(min(max(x, 0.0), 1.0 - w), min(max(y, 0.0), 1.0 - h), w, h)
