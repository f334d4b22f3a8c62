"""OpenCV frame source: a USB camera by index, an RTSP/HTTP stream, or a video file.

A file is played at its recorded rate (``realtime``) or as fast as it decodes, once or in a
loop. A live device or stream paces itself; a failed read there is ``None`` (nothing this
time) and the capture's watchdog reopens the source if it lasts.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import cv2
import numpy as np

from camera.config import CameraConfig
from camera.errors import BadFrameError, CameraError, CameraOpenError, EndOfStream
from camera.frame import Frame
from camera.source import Clock, Pacer, fit_image, grey_of, grey_size, make_frame, to_bgr

log = logging.getLogger(__name__)

_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


def address_kind(address: str) -> str:
    """``device`` (a USB index such as ``0``), ``stream`` (a URL) or ``file``."""
    if address.isdigit():
        return "device"
    if address.lower().startswith(_STREAM_SCHEMES):
        return "stream"
    return "file"


class OpenCVSource:
    """Frames from ``cv2.VideoCapture``, resized to the configured size.

    Example::

        source = OpenCVSource(cfg.model_copy(update={"realtime": False, "loop": False}),
                              "/path/clip.mp4")
        source.open()
        while True:
            frame = source.read()   # EndOfStream after the last frame
    """

    def __init__(self, cfg: CameraConfig, address: str, *, clock: Clock = time.monotonic) -> None:
        self.cfg = cfg
        self.address = address
        self.kind = address_kind(address)
        self.fps = cfg.fps
        self._grey_size = grey_size(cfg)
        self._clock = clock
        self._cap: cv2.VideoCapture | None = None
        self._pacer = Pacer(cfg.fps, cfg.realtime and self.kind == "file", clock)
        self._index = 0  # frames read since the file (re)started

    def open(self) -> None:
        """Open the device, stream or file; :class:`CameraOpenError` names what failed."""
        self.close()
        if self.kind == "file" and not Path(self.address).is_file():
            raise CameraOpenError(f"camera {self.cfg.name}: video file {self.address} not found")
        cap = self._capture()
        if not cap.isOpened():
            cap.release()
            raise CameraOpenError(
                f"camera {self.cfg.name}: OpenCV cannot open {self.kind} {self.address}"
            )
        if self.kind == "file":
            recorded = cap.get(cv2.CAP_PROP_FPS)
            self.fps = recorded if math.isfinite(recorded) and 0 < recorded <= 240 else self.cfg.fps
            self._pacer = Pacer(self.fps, self.cfg.realtime, self._clock)
        self._cap = cap
        self._index = 0
        self._pacer.restart()
        log.info("camera %s: opened %s %s", self.cfg.name, self.kind, self.address)

    def _capture(self) -> cv2.VideoCapture:
        if self.kind != "device":
            return cv2.VideoCapture(self.address)
        cap = cv2.VideoCapture(int(self.address))
        # Hints only: a camera that cannot do them keeps its own mode, and frames are resized.
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.cfg.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.cfg.height)
        cap.set(cv2.CAP_PROP_FPS, self.cfg.fps)
        # One driver buffer: the newest frame, not one queued seconds ago.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def read(self) -> Frame | None:
        """The next frame; ``None`` when a live source gave nothing or a file looped."""
        if self._cap is None:
            raise CameraError(f"camera {self.cfg.name}: read() before open()")
        self._pacer.wait_for(self._index)
        ok, image = self._cap.read()
        if not ok or image is None:
            if self.kind == "file":
                self._at_end()
            return None
        self._index += 1
        return self._frame(image)

    def _frame(self, image: np.ndarray) -> Frame:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise BadFrameError(f"camera {self.cfg.name}: undecodable frame from {self.address}")
        image = fit_image(to_bgr(image), self.cfg.width, self.cfg.height)
        return make_frame(image, grey_of(image, self._grey_size))

    def _at_end(self) -> None:
        if not self.cfg.loop:
            raise EndOfStream(f"camera {self.cfg.name}: end of {self.address}")
        if self._index == 0:
            # Looping a file that yields nothing would spin: report it and let the
            # watchdog reopen with back-off.
            raise BadFrameError(f"camera {self.cfg.name}: no frame decodes from {self.address}")
        log.debug("camera %s: looping %s", self.cfg.name, self.address)
        self.open()  # reopening is more reliable than seeking in every container
        return None

    def close(self) -> None:
        """Release the capture; idempotent."""
        self._pacer.interrupt()
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
