"""Capture with ``keep_trying``: a camera missing at start is awaited, not fatal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.capture import Capture
from camera.config import CameraConfig, MotionConfig
from camera.errors import CameraOpenError, SourceConfigError
from camera.opening import open_source
from camera.source import FrameSource

CFG = CameraConfig(kind="replay", width=64, height=48, fps=50, stall_s=0.2, loop=True,
                   realtime=False, motion=MotionConfig(width=32))


@pytest.fixture()
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A folder of real photo files, written only once the test says the camera is there."""
    path = tmp_path / "camera"
    path.mkdir()
    return path


def plug_in(folder: Path) -> None:
    cv2.imwrite(str(folder / "a.png"), np.full((48, 64, 3), 80, np.uint8))


def late_factory(folder: Path, attempts: list[str]) -> FrameSource:
    """A camera that refuses to open until its photos exist (the real folder backend)."""
    cfg = CFG.model_copy(update={"address": str(folder)})
    if not any(folder.iterdir()):
        attempts.append("refused")
        raise CameraOpenError(f"camera {cfg.name}: {folder} is not answering yet")
    attempts.append("opened")
    return open_source(cfg)


def test_a_camera_missing_at_start_is_awaited_and_then_read(
    folder: Path, stop: threading.Event
) -> None:
    attempts: list[str] = []
    capture = Capture(CFG, lambda: late_factory(folder, attempts), stop)
    capture.start(keep_trying=True)  # used to raise CameraOpenError here
    try:
        assert capture.latest(0, timeout=0.5) is None  # no frame, but no exception either
        assert not capture.connected and capture.waiting
        wait_for(lambda: len(attempts) >= 2)  # the watchdog tries again on its own
        plug_in(folder)
        assert capture.latest(0, timeout=10.0) is not None
        assert capture.connected and not capture.waiting
    finally:
        capture.close()
    stats = capture.stats
    assert stats.open_failures == attempts.count("refused") >= 2
    assert stats.reopens >= stats.open_failures and stats.frames > 0


def test_without_keep_trying_a_failed_open_still_raises(
    folder: Path, stop: threading.Event
) -> None:
    capture = Capture(CFG, lambda: late_factory(folder, []), stop)
    with pytest.raises(CameraOpenError, match="not answering yet"):
        capture.start()
    assert capture.stats.open_failures == 1


def test_a_configuration_that_cannot_work_raises_even_when_keep_trying(
    tmp_path: Path, stop: threading.Event
) -> None:
    cfg = CFG.model_copy(update={"address": str(tmp_path / "nowhere.mp4")})
    capture = Capture(cfg, lambda: open_source(cfg), stop)
    with pytest.raises(SourceConfigError, match=r"nowhere\.mp4"):
        capture.start(keep_trying=True)


def test_a_source_that_fails_to_open_is_closed(folder: Path, stop: threading.Event) -> None:
    class Refusing:
        closed = 0

        def open(self) -> None:
            raise CameraOpenError("RTSP 503")

        def read(self) -> None:
            raise AssertionError("never read")

        def close(self) -> None:
            Refusing.closed += 1

    capture = Capture(CFG, Refusing, stop)
    capture.start(keep_trying=True)
    capture.close()
    assert Refusing.closed == capture.stats.open_failures >= 1


def wait_for(condition: object, timeout: float = 10.0) -> None:
    done = threading.Event()
    timer = threading.Timer(timeout, done.set)
    timer.start()
    try:
        while not done.wait(0.02):
            if condition():  # type: ignore[operator]
                return
        raise AssertionError("condition not reached in time")
    finally:
        timer.cancel()
