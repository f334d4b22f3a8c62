"""Capture: frames flow into the ring, bad frames are survived, the watchdog reopens."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.capture import Capture
from camera.config import CameraConfig, MotionConfig
from camera.errors import CameraOpenError, EndOfStream
from camera.frame import Frame
from camera.opening import open_source
from camera.source import grey_size, make_frame

CFG = CameraConfig(kind="replay", width=64, height=48, fps=50, stall_s=0.3, loop=False,
                   motion=MotionConfig(width=32))
GREY_W, GREY_H = grey_size(CFG)


def good(value: int = 7) -> Frame:
    image = np.full((48, 64, 3), value, np.uint8)
    return make_frame(image, np.full((GREY_H, GREY_W), value, np.uint8))


class ScriptedSource:
    """A FrameSource that plays a script: a Frame, None, an exception to raise, or
    "hang" (block until closed or released, like a camera that stopped answering)."""

    def __init__(self, script: list[object], release: threading.Event | None = None) -> None:
        self.script = list(script)
        self.release = release or threading.Event()
        self.opened = self.closed = 0
        self.fps = 10.0

    def open(self) -> None:
        self.opened += 1

    def read(self) -> Frame | None:
        step = self.script.pop(0) if self.script else "hang"
        if step == "hang":
            self.release.wait(10)
            return None
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[return-value]

    def close(self) -> None:
        self.closed += 1


@pytest.fixture()
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def take_all(capture: Capture, timeout: float = 5.0) -> list[int]:
    """Values of every frame taken until the capture ends (or times out)."""
    values, seq = [], 0
    while not capture.ended:
        got = capture.latest(seq, timeout)
        if got is None:
            break
        seq = got[0].seq
        values.append(int(got[0].image[0, 0, 0]))
    return values


def test_every_bad_frame_case_is_counted_and_survived(stop: threading.Event) -> None:
    wrong_shape = make_frame(np.zeros((10, 10, 3), np.uint8), np.zeros((GREY_H, GREY_W), np.uint8))
    wrong_type = make_frame(np.zeros((48, 64, 3), np.float32), np.zeros((GREY_H, GREY_W), np.uint8))
    source = ScriptedSource([good(1), RuntimeError("driver hiccup"), None, wrong_shape,
                             wrong_type, good(2), EndOfStream("done")])
    capture = Capture(CFG, lambda: source, stop)
    capture.start()
    values = take_all(capture)
    capture.close()
    assert values[-1] == 2 and set(values) <= {1, 2}
    stats = capture.stats
    assert (stats.frames, stats.bad_frames, stats.ended) == (2, 4, True)
    assert source.closed >= 1


def test_a_corrupt_photo_is_counted_and_the_rest_still_come(
    tmp_path: Path, stop: threading.Event
) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((30, 40, 3), 50, np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    cv2.imwrite(str(tmp_path / "c.png"), np.full((30, 40, 3), 90, np.uint8))
    cfg = CFG.model_copy(update={"address": str(tmp_path), "realtime": False})
    capture = Capture(cfg, lambda: open_source(cfg), stop)
    capture.start()
    values = take_all(capture)
    capture.close()
    assert values[-1] == 90 and capture.stats.bad_frames == 1 and capture.ended


def test_watchdog_reopens_a_source_that_returns_nothing(stop: threading.Event) -> None:
    sources = [ScriptedSource([good(1)] + [None] * 10_000), ScriptedSource([good(2)] * 10_000)]
    made = iter(sources)
    capture = Capture(CFG, lambda: next(made), stop)
    capture.start()
    seen = wait_for_value(capture, 2)
    capture.close()
    assert seen and capture.stats.reopens == 1
    assert sources[0].closed >= 1 and sources[1].opened == 1


def test_watchdog_abandons_a_hung_read_and_reopens(stop: threading.Event) -> None:
    release = threading.Event()
    hung = ScriptedSource([good(1), "hang"], release)
    fresh = ScriptedSource([good(3)] * 10_000)
    made = iter([hung, fresh])
    capture = Capture(CFG, lambda: next(made), stop)
    capture.start()
    try:
        assert wait_for_value(capture, 3)
        assert capture.stats.reopens == 1
    finally:
        release.set()
        capture.close()
    assert hung.closed == 1  # closed by its own thread once the read returned


def test_failed_reopens_back_off_and_recover(stop: threading.Event) -> None:
    attempts: list[int] = []

    def factory() -> ScriptedSource:
        attempts.append(1)
        if len(attempts) == 1:
            return ScriptedSource([good(1)] + [None] * 10_000)
        if len(attempts) in (2, 3):
            raise CameraOpenError("camera unplugged")
        return ScriptedSource([good(4)] * 10_000)

    capture = Capture(CFG, factory, stop)
    capture.start()
    assert wait_for_value(capture, 4, timeout=10)
    capture.close()
    assert capture.stats.reopens == 3 and len(attempts) == 4


def test_close_is_idempotent_and_stop_ends_the_thread(stop: threading.Event) -> None:
    source = ScriptedSource([good(1)] * 100_000)
    capture = Capture(CFG, lambda: source, stop)
    capture.start()
    assert capture.latest(0, 5.0) is not None
    stop.set()
    capture.close()
    capture.close()
    assert source.closed == 1


def test_a_source_that_cannot_open_fails_at_start(stop: threading.Event) -> None:
    cfg = CFG.model_copy(update={"kind": "opencv", "address": "/nonexistent/clip.mp4"})
    capture = Capture(cfg, lambda: open_source(cfg), stop)
    with pytest.raises(CameraOpenError, match=r"/nonexistent/clip\.mp4"):
        capture.start()


def wait_for_value(capture: Capture, value: int, timeout: float = 5.0) -> bool:
    seq = 0
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            got = capture.latest(seq, 0.2)
            if got is not None:
                seq = got[0].seq
                if int(got[0].image[0, 0, 0]) == value:
                    return True
        return False
    finally:
        timer.cancel()
