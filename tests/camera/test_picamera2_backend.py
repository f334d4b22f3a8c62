"""Picamera2Source against a fake Picamera2 that implements exactly the calls it makes."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from camera.capture import Capture
from camera.config import CameraConfig, MotionConfig
from camera.errors import CameraOpenError
from camera.picamera2_source import Picamera2Source
from camera.source import grey_size

CFG = CameraConfig(kind="picamera2", address="0", width=320, height=240, fps=15,
                   motion=MotionConfig(width=160))
STRIDE_PAD = 32  # libcamera pads rows to an aligned stride


class FakeRequest:
    """A completed request: arrays as picamera2's make_array lays them out, then released."""

    def __init__(self, cam: FakePicamera2, index: int) -> None:
        self.cam, self.index, self.released = cam, index, False

    def make_array(self, name: str) -> np.ndarray:
        assert not self.released, "make_array after release"
        stream = self.cam.config[name]
        w, h = stream["size"]
        if name == "main":  # RGB888 is B,G,R in memory
            image = np.empty((h, w, 3), np.uint8)
            image[:] = (10, 20, 200)  # a red scene
            return image
        yuv = np.full((h * 3 // 2, w + STRIDE_PAD), 255, np.uint8)  # padding is garbage
        yuv[:h, :w] = 40 + self.index  # Y
        yuv[h:, :w] = 128  # U and V
        return yuv

    def get_metadata(self) -> dict[str, Any]:
        assert not self.released
        return {"SensorTimestamp": self.cam.stamps[self.index], "FrameDuration": 66666}

    def release(self) -> None:
        assert not self.released, "released twice"
        self.released = True
        self.cam.released += 1


class FakePicamera2:
    def __init__(self, stamps: list[int] | None = None, fail_start: bool = False) -> None:
        self.stamps = stamps or [time.monotonic_ns() - 20_000_000]
        self.fail_start = fail_start
        self.config: dict[str, Any] = {}
        self.requested: dict[str, Any] = {}
        self.started = self.stopped = self.closed = False
        self.captured = self.released = 0

    def create_video_configuration(self, main: dict, lores: dict, controls: dict) -> dict:
        self.requested = {"main": main, "lores": lores, "controls": controls}
        return {"main": dict(main), "lores": dict(lores), "controls": dict(controls)}

    def configure(self, config: dict) -> None:
        self.config = config

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("Failed to start camera")
        self.started = True

    def capture_request(self) -> FakeRequest:
        assert self.started and not self.stopped
        request = FakeRequest(self, min(self.captured, len(self.stamps) - 1))
        self.captured += 1
        return request

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True


def test_two_streams_are_configured_together() -> None:
    cam = FakePicamera2()
    source = Picamera2Source(CFG, cam)
    source.open()
    assert cam.requested == {
        "main": {"size": (320, 240), "format": "RGB888"},
        "lores": {"size": grey_size(CFG), "format": "YUV420"},
        "controls": {"FrameRate": 15},
    }
    assert cam.started
    source.close()


def test_frame_is_bgr_luma_and_sensor_time() -> None:
    stamp = time.monotonic_ns() - 30_000_000
    cam = FakePicamera2(stamps=[stamp])
    source = Picamera2Source(CFG, cam)
    source.open()
    frame = source.read()
    assert frame is not None
    assert frame.image.shape == (240, 320, 3)
    assert tuple(frame.image[0, 0]) == (10, 20, 200)  # B,G,R kept: red stays in channel 2
    assert frame.grey.shape == (120, 160) and frame.grey.flags.c_contiguous
    assert np.all(frame.grey == 40)  # the Y plane only, no stride padding, no chroma
    assert frame.capture_ns == stamp
    assert abs(frame.wall_time - (time.time() - 0.03)) < 1.0
    assert cam.released == cam.captured == 1


def test_a_stamp_on_another_clock_falls_back_to_arrival_time() -> None:
    cam = FakePicamera2(stamps=[123])  # nanoseconds after some other epoch
    source = Picamera2Source(CFG, cam)
    source.open()
    before = time.monotonic_ns()
    frame = source.read()
    assert frame is not None and before <= frame.capture_ns <= time.monotonic_ns()


def test_close_stops_and_closes_once() -> None:
    cam = FakePicamera2()
    source = Picamera2Source(CFG, cam)
    source.open()
    source.close()
    source.close()
    assert cam.stopped and cam.closed


def test_start_failure_is_a_camera_open_error_and_releases_the_camera() -> None:
    cam = FakePicamera2(fail_start=True)
    with pytest.raises(CameraOpenError, match="Failed to start camera"):
        Picamera2Source(CFG, cam).open()
    assert cam.closed


def test_without_picamera2_installed_the_error_says_how_to_get_it() -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("picamera2 is installed here")
    with pytest.raises(CameraOpenError, match="python3-picamera2"):
        Picamera2Source(CFG).open()


def test_capture_runs_on_the_picamera2_backend() -> None:
    stop = threading.Event()
    stamps = [time.monotonic_ns() - 10_000_000 + i for i in range(50)]
    cam = FakePicamera2(stamps=stamps)
    capture = Capture(CFG, lambda: Picamera2Source(CFG, cam), stop)
    capture.start()
    got = capture.latest(0, 5.0)
    stop.set()
    capture.close()
    assert got is not None and got[0].capture_ns in stamps
    assert cam.closed and cam.released == cam.captured
