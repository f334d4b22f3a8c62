"""What the live page shows, handed from the camera loops to the web thread at no idle cost.

A frame in the capture ring is overwritten by the next one, so the page cannot keep it: the
loop copies it, but only when an open page has asked for a picture since the last copy. With no
page open, a frame costs the loop one dictionary look-up; with the page open, one copy of the
frame each time the page asks (every ``web.refresh_s``). The JPEG is encoded on the web thread,
never on the loop.

Example::

    feed = LiveFeed()
    # camera loop, per frame after motion detection:
    if feed.wanted("coop"):
        feed.offer("coop", frame, motion.regions)
    # web thread:
    shot = feed.latest("coop", wait_s=1.0)      # asks, then waits for the loop's copy
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from camera.box import Box
from camera.frame import Frame


@dataclass(frozen=True, slots=True)
class Sighting:
    """The last answer a camera's loop decided on, and the rule that decided."""

    verdict: str
    label: str
    score: float
    rule: str
    at: float  # Unix seconds


@dataclass(frozen=True, slots=True)
class Shot:
    """A copy of one frame (B,G,R) with its motion boxes, owned by the web thread."""

    image: np.ndarray
    boxes: tuple[Box, ...]
    seq: int
    wall_time: float


class LiveFeed:
    """Per camera: the latest requested frame copy and the last answer decided on.

    The loops write, the web thread reads; each value is replaced whole (never changed in
    place), so a reader sees either the old value or the new one.
    """

    def __init__(self) -> None:
        self._wanted: dict[str, threading.Event] = {}
        self._shots: dict[str, Shot] = {}
        self._sightings: dict[str, Sighting] = {}
        self._fresh = threading.Condition()

    def wanted(self, camera: str) -> bool:
        """Whether a page asked for ``camera``'s picture since the last :meth:`offer`."""
        flag = self._wanted.get(camera)
        return flag is not None and flag.is_set()

    def offer(self, camera: str, frame: Frame, boxes: tuple[Box, ...]) -> None:
        """Copy ``frame`` for the page (called by the loop, only when :meth:`wanted`)."""
        shot = Shot(frame.image.copy(), tuple(boxes), frame.seq, frame.wall_time)
        with self._fresh:
            self._shots[camera] = shot
            self._wanted[camera].clear()
            self._fresh.notify_all()

    def saw(self, camera: str, verdict: str, label: str, score: float, rule: str) -> None:
        """Record the answer a loop decided on (one small object per classified frame)."""
        self._sightings[camera] = Sighting(verdict, label, float(score), rule, time.time())

    def sighting(self, camera: str) -> Sighting | None:
        """The last answer decided on for ``camera``, if any."""
        return self._sightings.get(camera)

    def latest(self, camera: str, wait_s: float) -> Shot | None:
        """Ask the loop for a fresh copy and wait up to ``wait_s`` for it; the last copy made
        (perhaps older) when none comes in time (a camera awaited, or ended); None if never."""
        with self._fresh:
            before = self._shots.get(camera)
            self._wanted.setdefault(camera, threading.Event()).set()
            self._fresh.wait_for(lambda: self._shots.get(camera) is not before, timeout=wait_s)
            return self._shots.get(camera)
