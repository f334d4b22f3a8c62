"""A clip per event: from ``pre_s`` before the visit's first frame to ``post_s`` after the
firing (or to the visit's end), written beside the event's snapshot in the archive.

The camera loop only hands over: each frame it keeps (at most ``clips.fps`` a second) is shrunk
to ``clips.width`` (a copy, as the camera's buffer is reused) and queued; a visit's start, an
event and a visit's end are queued too. Everything else happens on this recorder's thread:

- every queued frame is JPEG-encoded into the **pre-roll**, a ring of the last ``pre_s``
  seconds bounded by ``preroll_max_mb`` too: at the defaults (640 px, 5 fps, 3 s) about 15
  frames of ~40 kB, well under 1 MB a camera (``scripts/bench_clips.py`` measures it);
- when a visit starts, a clip is opened under the archive's recording folder and the pre-roll
  from ``pre_s`` before the visit is written to it, then every frame as it comes;
- an event cuts the clip at its end time (``post_s`` after a firing, the visit's end for an
  event logged when it closed): the file is closed, checked by reading it back with OpenCV,
  and handed to the :class:`~edge.events.recorder.Recorder`, which after writing the event moves
  it into the event's folder (:meth:`Archive.adopt_clip`, a durable rename) and updates the
  event's row with ``clip``. A visit that goes on after a firing starts a new clip at once,
  for the next event, from the firing (as far as the pre-roll reaches: ``post_s`` of it when
  ``pre_s`` is as long);
- a visit that ends without an event (wind, a shadow, a person) leaves nothing: its clip is
  deleted.

A kill mid-write leaves a file only under the recording folder, which the archive empties at
start: no file named ``clip.*`` is ever half written. A full disk (or any write error) costs
the clip, never the event or the loop. When the loop hands over faster than this thread keeps
up, frames are dropped and counted (``dropped``), never queued without bound.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.clip_format import ClipFormat, best_format, readable
from edge.config.clips import ClipsConfig
from edge.event import Event
from edge.events.archive import Archive, encode_jpeg
from edge.events.errors import ArchiveError

log = logging.getLogger(__name__)

_MAX_QUEUED_FRAMES = 8  # frames waiting for this thread; more are dropped (a slow card)
_names = itertools.count(1)


@dataclass(slots=True)
class _Frame:
    t: float
    image: np.ndarray


@dataclass(slots=True)
class _Mark:
    """A visit's start (``event`` None, ``start``), an event's cut, or a visit's end."""

    kind: str
    t: float
    event: Event | None = None


@dataclass(slots=True)
class _Clip:
    """A clip being written."""

    path: Path
    writer: cv2.VideoWriter
    start: float
    frames: int = 0


@dataclass(slots=True)
class PreRoll:
    """The last ``seconds`` of frames as JPEG, at most ``max_bytes`` in all."""

    seconds: float
    max_bytes: int
    frames: deque[tuple[float, bytes]] = field(default_factory=deque)
    size: int = 0  # bytes held now
    peak: int = 0  # the most bytes ever held

    def add(self, t: float, jpeg: bytes) -> None:
        """Keep a frame; forget those older than ``seconds`` before it, or over the bytes."""
        self.frames.append((t, jpeg))
        self.size += len(jpeg)
        while self.frames and (self.frames[0][0] < t - self.seconds
                               or self.size > self.max_bytes):
            self.size -= len(self.frames.popleft()[1])
        self.peak = max(self.peak, self.size)

    def since(self, t: float) -> list[bytes]:
        """The kept frames from ``t`` on, oldest first."""
        return [jpeg for ft, jpeg in self.frames if ft >= t]


class ClipRecorder:
    """One camera's clips; the loop calls :meth:`frame`, :meth:`visit_started`,
    :meth:`event` and :meth:`visit_ended` (none blocks), :meth:`close` drains and stops.

    ``adopt(event, path)`` is called on this thread with each finished clip (the appliance's:
    :func:`adopt_through`, which hands it to the recorder)."""

    def __init__(self, camera: str, cfg: ClipsConfig, folder: Path,
                 adopt: Callable[[Event, Path | None], None], *,
                 fmt: ClipFormat | None = None, room: Callable[[], bool] = lambda: True) -> None:
        self.camera = camera
        self.cfg = cfg
        self.folder = folder
        self._adopt = adopt
        self._fmt = fmt
        self._room = room  # whether there is space to start a clip
        self.preroll = PreRoll(cfg.pre_s, int(cfg.preroll_max_mb * 2**20))
        self.dropped = 0
        self.written = 0
        self._queue: deque[_Frame | _Mark] = deque()
        self._queued_frames = 0
        self._cond = threading.Condition()
        self._closing = False
        self._last_kept: float | None = None
        self._size: tuple[int, int] | None = None
        self._clip: _Clip | None = None
        self._cuts: list[_Mark] = []
        self._in_visit = False
        self._thread = threading.Thread(target=self._run, name=f"clips-{camera}", daemon=True)
        self._thread.start()

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the clips' frames, once a frame came."""
        return self._size

    def pending(self) -> int:
        """Frames and marks not yet handled by this recorder's thread."""
        with self._cond:
            return len(self._queue)

    # -- the loop's side: hand over and return ----------------------------------------------

    def frame(self, t: float, image_bgr: np.ndarray) -> None:
        """Offer a frame taken at ``t`` (the loop's clock, seconds); kept at most ``fps``
        times a second, shrunk (a copy: the caller's buffer may be reused at once)."""
        # 10% slack: at 5 fps from a 10 fps camera, every second frame, whatever the rounding.
        if self._last_kept is not None and t - self._last_kept < 0.9 / self.cfg.fps:
            return
        self._last_kept = t
        height, width = image_bgr.shape[:2]
        scale = min(1.0, self.cfg.width / width)
        size = (max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2))
        small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
        with self._cond:
            if self._queued_frames >= _MAX_QUEUED_FRAMES:
                self.dropped += 1
                return
            self._queued_frames += 1
            self._queue.append(_Frame(t, small))
            self._cond.notify()

    def visit_started(self, t: float) -> None:
        """A visit's first frame was at ``t``: its clip starts ``pre_s`` before."""
        self._mark(_Mark("start", t))

    def event(self, event: Event, until: float) -> None:
        """``event`` gets the clip so far, up to ``until`` (or the visit's end, if sooner)."""
        self._mark(_Mark("cut", until, event))

    def visit_ended(self, t: float) -> None:
        """The visit is over: a clip no event asked for is deleted."""
        self._mark(_Mark("end", t))

    def _mark(self, mark: _Mark) -> None:
        with self._cond:
            if self._closing:
                return
            self._queue.append(mark)
            self._cond.notify()

    def close(self) -> None:
        """Finish what was asked for (pending events get their clip so far), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    # -- this recorder's thread ------------------------------------------------------------

    def _run(self) -> None:
        _yield_cpu()
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    break
                item = self._queue.popleft()
                if isinstance(item, _Frame):
                    self._queued_frames -= 1
            try:
                self._handle(item)
            except Exception:  # a clip is worth less than the thread: drop it, go on
                log.exception("clips %s: a clip was lost", self.camera)
                self._discard()
        self._end_visit()

    def _handle(self, item: _Frame | _Mark) -> None:
        if isinstance(item, _Frame):
            self._take(item)
        elif item.kind == "start":
            self._in_visit = True
            self._open(item.t - self.cfg.pre_s)
        elif item.kind == "cut":
            self._cuts.append(item)
            if self._clip is None:
                self._open(item.t)
        else:
            self._end_visit()

    def _take(self, frame: _Frame) -> None:
        self._size = (frame.image.shape[1], frame.image.shape[0])
        self.preroll.add(frame.t, encode_jpeg(frame.image, self.cfg.jpeg_quality))
        clip = self._clip
        if clip is None:
            return
        self._write(clip, frame.image)
        if self._cuts and frame.t >= self._cuts[0].t:
            fired_at = self._cuts[0].t - self.cfg.post_s
            self._finish()
            if self._in_visit:
                # The visit goes on: the next event's clip starts at this one's firing, as
                # far back as the pre-roll reaches (the next sighting may come right after).
                self._open(fired_at)
        elif not self._cuts and frame.t - clip.start > self.cfg.max_s:
            self._discard()  # a visit with no event for max_s: start again from the pre-roll
            self._open(frame.t - self.cfg.pre_s)

    def _end_visit(self) -> None:
        self._in_visit = False
        if self._cuts:
            self._finish()
        self._discard()

    def _open(self, since: float) -> None:
        if self._clip is not None or self._size is None:
            return
        if not self._room():
            log.warning("clips %s: no room for a clip (archive.min_free_mb)", self.camera)
            return
        fmt = self._fmt = self._fmt or best_format(self._size, self.cfg.fps)
        path = self.folder / f"{self.camera}-{next(_names)}{fmt.suffix}"
        writer = fmt.open(path, self.cfg.fps, self._size)
        if not writer.isOpened():
            log.warning("clips %s: cannot write %s", self.camera, path)
            path.unlink(missing_ok=True)
            return
        self._clip = clip = _Clip(path, writer, since)
        for jpeg in self.preroll.since(since):
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is not None:
                self._write(clip, image)

    @staticmethod
    def _write(clip: _Clip, image: np.ndarray) -> None:
        clip.writer.write(image)
        clip.frames += 1

    def _finish(self) -> None:
        """Close the clip and give it to the cuts' events (the first: the later ones of the
        same clip, rare, get none rather than a copy)."""
        clip, self._clip = self._clip, None
        cuts, self._cuts = self._cuts, []
        if clip is None:
            for cut in cuts:
                assert cut.event is not None
                self._adopt(cut.event, None)
            return
        clip.writer.release()
        good = clip.frames > 0 and readable(clip.path)
        if not good:
            log.warning("clips %s: %s did not write (a full disk?); the event has no clip",
                        self.camera, clip.path.name)
            clip.path.unlink(missing_ok=True)
        for n, cut in enumerate(cuts):
            assert cut.event is not None
            self._adopt(cut.event, clip.path if good and n == 0 else None)
        self.written += int(good)

    def _discard(self) -> None:
        clip, self._clip = self._clip, None
        if clip is not None:
            clip.writer.release()
            clip.path.unlink(missing_ok=True)


def _yield_cpu() -> None:
    """Run this thread 10 nice levels lower (Linux nices threads one by one): encoding clips
    must never take the CPU the frame loop needs on a 4-core Pi Zero 2 W."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + 10)
    except (OSError, AttributeError):  # not Linux: the clip thread runs at the loop's priority
        log.debug("clips: cannot lower the clip thread's priority here")


def adopt_through(archive: Archive, state_dir: Path,
                  update: Callable[[Event, Callable[[Event], None]], None]
                  ) -> Callable[[Event, Path | None], None]:
    """How finished clips reach their events: ``update`` (``Recorder.update``) runs the move
    into the archive on the recorder's thread, after the event's row and snapshot are written,
    and records ``clip`` (relative to ``state_dir``) in the row."""

    def adopt(event: Event, clip: Path | None) -> None:
        if clip is None:
            return

        def move(e: Event) -> None:
            try:
                kept = archive.adopt_clip(e.camera, e.start_time, e.snapshot, clip)
            except ArchiveError as exc:
                log.error("clips: the clip of event %s is not kept: %s", e.id, exc)
                return
            e.clip = kept.relative_to(state_dir).as_posix()

        update(event, move)

    return adopt
