"""Sampling each camera's empty scene, off the frame loop's critical path.

The frame loop calls :meth:`SceneCollector.moved` on frames with motion and
:meth:`SceneCollector.still` on frames without. ``still`` decides in memory whether a sample is
due (the camera has been still for ``still_s``, its last visit did not see a hen or a
predator within ``after_visit_min`` (:meth:`SceneCollector.visit_ended`: an animal at rest does
not move), its last sample is ``scene_interval_s`` old, and the store wants a crop for this
hour); only then does it cut one square (the size of a
model's input, a fraction of a millisecond) around a place where motion happens on this camera
(:class:`~edge.learn.places.MotionPlaces`) and hand it to the collector's own thread through a
queue of one: if that thread is still busy with the previous crop, the new one is dropped and
counted, never waited for. The thread encodes and writes the crop (:class:`SceneStore`).

The crop is cut on the loop's thread because the frame's pixels belong to the capture ring,
which reuses them for a later frame.

Example::

    collector = SceneCollector(store, MotionPlaces(), cfg.learn, cameras=["coop"])
    collector.still("coop", frame, side=224)    # in the loop, on a frame without motion
    collector.close()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from camera.box import Box
from camera.frame import Frame
from classifier.crop import crop_square
from edge.config.learn import LearnConfig
from edge.learn.places import MotionPlaces
from edge.learn.scenes import SceneStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Sample:
    camera: str
    when: float
    crop: np.ndarray
    kind: str  # "still", or "quiet": held until it is known nobody contests it


class SceneCollector:
    """Samples empty scenes from the frame loops into a :class:`SceneStore`, on its own thread.

    ``clock`` (monotonic seconds) paces the samples; the frame's own wall time names them.
    """

    def __init__(self, store: SceneStore, places: MotionPlaces, cfg: LearnConfig, *,
                 cameras: Sequence[str] = (), clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.store = store
        self.places = places
        self.cfg = cfg
        self._clock = clock
        self._queue: queue.Queue[_Sample | None] = queue.Queue(maxsize=1)
        self._last_motion: dict[str, float] = {}
        self._last_sample: dict[str, float] = {}
        self._occupied_until: dict[str, float] = {}
        self.kept = 0
        self.dropped = 0  # due, but the writer was still busy with the previous crop
        self.failed = 0
        self.held_back = 0  # still frames not sampled: a hen or a predator may be at rest there
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(
            target=self._work, args=(tuple(cameras),), name="scene-collector", daemon=True)
        self._thread.start()

    def moved(self, camera: str, regions: Sequence[Box]) -> None:
        """A frame of ``camera`` moved in ``regions``: remember where, and restart its stillness."""
        self.places.saw(camera, regions)
        self._last_motion[camera] = self._clock()

    def still(self, camera: str, frame: Frame, side: int) -> bool:
        """A frame of ``camera`` without motion: sample it if due; whether a crop was queued."""
        now = self._clock()
        # A camera's stillness counts from its first frame: the first seconds after a start
        # may hold motion the detector has not learned yet.
        if now - self._last_motion.setdefault(camera, now) < self.cfg.still_s:
            return False
        if now < self._occupied_until.get(camera, now):
            self.held_back += 1
            return False
        last = self._last_sample.get(camera)
        if last is not None and now - last < self.cfg.scene_interval_s:
            return False
        self._last_sample[camera] = now
        if not self.store.wants(camera, frame.wall_time):
            return False
        if self._queue.full():
            self.dropped += 1
            return False
        width, height = frame.size
        box = self.places.sample(camera, aspect=width / height)
        crop = crop_square(frame.image, [box], size=side)
        try:
            self._idle.clear()
            self._queue.put_nowait(_Sample(camera, frame.wall_time, crop, "still"))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def visit_ended(self, camera: str, saw_something: bool) -> None:
        """A visit of ``camera`` ended. If it ``saw_something`` (a hen or a predator in any of
        its frames), the animal may still be there at rest (a hen laying, a fox waiting), which
        the motion detector cannot tell from an empty scene: the scene is not sampled for
        ``learn.after_visit_min``. A visit that saw nothing ends the wait."""
        if saw_something:
            self._occupied_until[camera] = self._clock() + self.cfg.after_visit_min * 60.0
        else:
            self._occupied_until.pop(camera, None)

    def quiet(self, camera: str, when: float, crop: np.ndarray) -> bool:
        """Motion of ``camera`` at ``when`` that the decider called nothing (``crop``, the
        visit's best square, is not changed afterwards): held, to join the scenes if nobody
        contests it (:mod:`edge.learn.quiet`). Dropped when the writer is busy."""
        try:
            self._idle.clear()
            self._queue.put_nowait(_Sample(camera, when, crop, "quiet"))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _work(self, cameras: tuple[str, ...]) -> None:
        for camera in cameras:  # read each camera's index from disk here, not in the loop
            try:
                self.store.wants(camera, time.time())
            except (OSError, ValueError) as exc:
                log.warning("empty scenes of camera %s: %s", camera, exc)
        while True:
            sample = self._queue.get()
            if sample is None:
                return
            try:
                if sample.kind == "quiet":
                    kept = self.store.hold(sample.camera, sample.when, sample.crop,
                                           limit=self.cfg.per_hour * 3) is not None
                else:
                    kept = self.store.add(sample.camera, sample.when, sample.crop,
                                          "still") is not None
                self.kept += kept
            except (OSError, ValueError) as exc:
                self.failed += 1
                log.warning("camera %s: an empty-scene crop was not kept: %s", sample.camera,
                            exc)
            finally:
                if self._queue.empty():
                    self._idle.set()

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Wait until the queued crop (if any) is written; whether it was (tests, shutdown)."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        """Finish the queued crop, then stop the thread; idempotent."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5.0)
