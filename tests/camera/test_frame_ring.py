"""FrameRing: the newest frame wins, skipped frames are counted, the lent slot is safe."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from camera.errors import BadFrameError
from camera.frame import Frame
from camera.ring import FrameRing

IMAGE, GREY = (6, 8, 3), (3, 4)


def frame(value: int, image_shape: tuple[int, ...] = IMAGE) -> Frame:
    return Frame(0, np.full(image_shape, value, np.uint8), np.full(GREY, value, np.uint8),
                 capture_ns=value, wall_time=float(value))


def test_newest_frame_wins_and_skipped_are_counted() -> None:
    ring = FrameRing(4, IMAGE, GREY)
    for value in (1, 2, 3, 4, 5):
        ring.put(frame(value))
    got = ring.take(after_seq=0, timeout=0.1)
    assert got is not None
    newest, skipped = got
    assert newest.seq == 5 and int(newest.image[0, 0, 0]) == 5 and newest.capture_ns == 5
    assert skipped == 4 and ring.skipped == 4
    ring.put(frame(6))
    ring.put(frame(7))
    again = ring.take(after_seq=newest.seq, timeout=0.1)
    assert again is not None and again[0].seq == 7 and again[1] == 1
    assert ring.skipped == 5


def test_take_times_out_when_nothing_newer() -> None:
    ring = FrameRing(3, IMAGE, GREY)
    ring.put(frame(1))
    assert ring.take(after_seq=1, timeout=0.05) is None


def test_lent_frame_is_never_overwritten() -> None:
    for slots in (2, 3):
        ring = FrameRing(slots, IMAGE, GREY)
        ring.put(frame(1))
        got = ring.take(0, 0.1)
        assert got is not None
        lent = got[0]
        for value in range(2, 12):
            ring.put(frame(value))
        assert int(lent.image.min()) == 1 and int(lent.grey.max()) == 1
        assert ring.take(lent.seq, 0.1)[0].seq == 11  # type: ignore[index]


def test_a_waiting_reader_wakes_on_a_new_frame() -> None:
    ring = FrameRing(3, IMAGE, GREY)
    timer = threading.Timer(0.05, ring.put, args=(frame(9),))
    timer.start()
    got = ring.take(after_seq=0, timeout=5.0)
    timer.join()
    assert got is not None and got[0].seq == 1


def test_wrong_shape_or_type_is_refused_with_the_reason() -> None:
    ring = FrameRing(2, IMAGE, GREY)
    with pytest.raises(BadFrameError, match="shape"):
        ring.put(frame(1, image_shape=(6, 8)))
    floats = Frame(0, np.zeros(IMAGE, np.float32), np.zeros(GREY, np.uint8), 0, 0.0)
    with pytest.raises(BadFrameError, match="uint8"):
        ring.put(floats)
    assert ring.seq == 0


def test_closed_ring_returns_at_once() -> None:
    ring = FrameRing(2, IMAGE, GREY)
    ring.put(frame(1))
    ring.close()
    assert ring.take(0, 5.0) is not None  # what is there can still be taken
    assert ring.take(1, 5.0) is None and not ring.pending
