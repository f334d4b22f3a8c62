"""A preallocated ring of frame slots: one writer (the capture thread), one reader (the
pipeline loop); the reader always gets the newest frame.

Frames are copied into slots allocated once, so capture allocates nothing per frame and a
slow reader never builds a backlog: frames it did not take are overwritten and counted as
skipped. The writer never touches the slot lent to the reader, nor the newest finished
frame while another slot is free, so what :meth:`take` returns stays intact until the
next :meth:`take`.

Example::

    ring = FrameRing(slots=4, image_shape=(720, 1280, 3), grey_shape=(90, 160))
    ring.put(frame)                       # capture thread
    got = ring.take(after_seq=0, timeout=0.5)   # loop: (frame, skipped) or None
"""

from __future__ import annotations

import threading
import time

import numpy as np

from camera.errors import BadFrameError
from camera.frame import Frame

_NONE = -1


class FrameRing:
    """``slots`` preallocated frames of fixed shapes; thread-safe for one writer and one reader."""

    def __init__(
        self, slots: int, image_shape: tuple[int, ...], grey_shape: tuple[int, ...]
    ) -> None:
        if slots < 2:
            raise ValueError(f"a frame ring needs at least 2 slots, got {slots}")
        self.images = np.zeros((slots, *image_shape), np.uint8)
        self.greys = np.zeros((slots, *grey_shape), np.uint8)
        self._frames: list[Frame | None] = [None] * slots
        self._cond = threading.Condition()
        self._newest = _NONE  # slot of the newest finished frame
        self._lent = _NONE  # slot the reader holds
        self._writing = _NONE
        self._next = 0
        self.seq = 0  # of the newest frame put
        self.taken_seq = 0  # of the newest frame taken
        self.skipped = 0  # frames overwritten or passed over without being taken
        self.closed = False

    def check(self, frame: Frame) -> None:
        """Raise :class:`BadFrameError` unless ``frame`` fits the slots."""
        for name, array, slot in (("image", frame.image, self.images[0]),
                                  ("grey", frame.grey, self.greys[0])):
            if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
                raise BadFrameError(f"frame {name} is {type(array).__name__} "
                                    f"{getattr(array, 'dtype', '')}, expected uint8 ndarray")
            if array.shape != slot.shape:
                raise BadFrameError(f"frame {name} has shape {array.shape}, expected {slot.shape}")

    def put(self, frame: Frame) -> int:
        """Copy ``frame`` into a free slot and publish it; returns its sequence number."""
        self.check(frame)
        with self._cond:
            slot = self._free_slot()
            self._writing = slot
            if slot == self._newest:
                self._newest = _NONE  # being overwritten: not readable meanwhile
        # The copy runs outside the lock: the reader can take the previous frame meanwhile.
        np.copyto(self.images[slot], frame.image)
        np.copyto(self.greys[slot], frame.grey)
        with self._cond:
            self.seq += 1
            self._frames[slot] = Frame(self.seq, self.images[slot], self.greys[slot],
                                       frame.capture_ns, frame.wall_time)
            self._newest = slot
            self._writing = _NONE
            self._cond.notify_all()
            return self.seq

    def _free_slot(self) -> int:
        slots = len(self._frames)
        for step in range(slots):
            slot = (self._next + step) % slots
            if slot not in (self._lent, self._newest):
                self._next = slot + 1
                return slot
        # Two slots, one lent and one newest: overwrite the newest (it is superseded anyway).
        return self._newest

    def take(self, after_seq: int, timeout: float) -> tuple[Frame, int] | None:
        """The newest frame with ``seq > after_seq`` and how many frames came after
        ``after_seq`` but before it (skipped); ``None`` after ``timeout`` seconds or once
        the ring is closed with nothing newer. Lends the frame until the next call."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready(after_seq):
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame = self._frames[self._newest]
            assert frame is not None
            self._lent = self._newest
            skipped = frame.seq - max(after_seq, self.taken_seq) - 1
            self.skipped += max(0, skipped)
            self.taken_seq = frame.seq
            return frame, max(0, frame.seq - after_seq - 1)

    def _ready(self, after_seq: int) -> bool:
        if self._newest == _NONE:
            return False
        frame = self._frames[self._newest]
        return frame is not None and frame.seq > after_seq

    @property
    def pending(self) -> bool:
        """A finished frame newer than the last one taken is waiting."""
        with self._cond:
            return self._newest != _NONE and self.seq > self.taken_seq

    def close(self) -> None:
        """Wake a waiting reader; :meth:`take` returns ``None`` once nothing newer is left."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
