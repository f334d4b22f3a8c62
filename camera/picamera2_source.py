"""The Raspberry Pi camera through picamera2: two streams configured together.

* ``main``: full resolution, format ``RGB888``, which picamera2 lays out as **B,G,R** in
  memory, so it is already OpenCV's order and is never converted;
* ``lores``: a small ``YUV420`` stream whose Y (luma) plane is the grey plane motion uses,
  at no conversion cost.

Each request's ``SensorTimestamp`` (ns) is the frame's capture time. libcamera takes it from
the V4L2 buffer timestamp, which is on ``CLOCK_MONOTONIC`` (libcamera bug 254; picamera2
issues 703 and 787 compare it with ``time.monotonic_ns()`` directly), the clock of
``time.monotonic_ns()`` on Linux. It is used as is, after a sanity check: a stamp in the
future or more than a few seconds old means some other clock, and the time of arrival is
used instead (logged once).

picamera2 needs libcamera and cannot be pip-installed everywhere, so it is imported here
only, and only when the source opens; tests pass a fake ``picam2`` object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from camera.config import CameraConfig
from camera.errors import BadFrameError, CameraError, CameraOpenError
from camera.frame import Frame
from camera.source import grey_size, make_frame

log = logging.getLogger(__name__)

# A capture-to-dequeue delay beyond this means the stamp is on some other clock.
_PLAUSIBLE_AGE_NS = 5_000_000_000


class Picamera2Source:
    """Frames from a Pi camera; ``picam2`` is an already created ``Picamera2`` object (tests),
    or ``None`` to create one for camera number ``cfg.address`` (``0`` when not a number).

    :meth:`read` returns copies (``request.make_array``), never views of the camera's
    buffers, and releases every request at once, so the camera never runs out of buffers
    however long the frame is kept.
    """

    def __init__(
        self,
        cfg: CameraConfig,
        picam2: Any | None = None,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.cfg = cfg
        self.fps = cfg.fps  # asked of the sensor as FrameRate
        self._given = picam2
        self._cam: Any | None = None
        self._grey_size = grey_size(cfg)
        self._clock_ns = clock_ns
        self._warned_clock = False

    def open(self) -> None:
        """Configure ``main`` + ``lores`` and start; :class:`CameraOpenError` on failure."""
        self.close()
        cam = self._given if self._given is not None else self._create()
        try:
            config = cam.create_video_configuration(
                main={"size": (self.cfg.width, self.cfg.height), "format": "RGB888"},
                lores={"size": self._grey_size, "format": "YUV420"},
                controls={"FrameRate": self.cfg.fps},
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:
            _close_quietly(cam)
            raise CameraOpenError(
                f"camera {self.cfg.name}: picamera2 failed to start: {exc}"
            ) from exc
        self._cam = cam
        log.info("camera %s: picamera2 started, main %dx%d, lores %dx%d", self.cfg.name,
                 self.cfg.width, self.cfg.height, *self._grey_size)

    def _create(self) -> Any:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraOpenError(
                f"camera {self.cfg.name}: picamera2 is not installed; on Raspberry Pi OS: "
                f"sudo apt install python3-picamera2 ({exc})"
            ) from exc
        number = int(self.cfg.address) if self.cfg.address.isdigit() else 0
        try:
            return Picamera2(number)
        except Exception as exc:  # libcamera raises plain exceptions (IndexError, RuntimeError)
            raise CameraOpenError(f"camera {self.cfg.name}: no Pi camera {number}: {exc}") from exc

    def read(self) -> Frame | None:
        """The next completed request as a frame (blocks for about one frame interval)."""
        if self._cam is None:
            raise CameraError(f"camera {self.cfg.name}: read() before open()")
        request = self._cam.capture_request()
        try:
            image = request.make_array("main")
            yuv = request.make_array("lores")
            metadata = request.get_metadata()
        finally:
            request.release()
        return make_frame(self._image(image), self._luma(yuv), self._stamp(metadata))

    def _image(self, image: np.ndarray) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3:
            raise BadFrameError(f"camera {self.cfg.name}: main stream gave shape {image.shape}")
        if image.shape[:2] != (self.cfg.height, self.cfg.width):
            # The sensor mode may not give exactly the size asked for.
            size = (self.cfg.width, self.cfg.height)
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return image

    def _luma(self, yuv: np.ndarray) -> np.ndarray:
        # make_array gives YUV420 as (h * 3 / 2, stride): h rows of Y, then U and V; the
        # stride may pad each row on the right.
        width, _ = self._grey_size
        if yuv.ndim != 2 or yuv.shape[0] % 3 or yuv.shape[1] < width:
            raise BadFrameError(f"camera {self.cfg.name}: lores stream gave shape {yuv.shape}")
        luma = yuv[: yuv.shape[0] * 2 // 3, :width]
        if luma.shape[::-1] != self._grey_size:
            luma = cv2.resize(luma, self._grey_size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(luma)

    def _stamp(self, metadata: dict[str, Any]) -> int | None:
        stamp = metadata.get("SensorTimestamp")
        now = self._clock_ns()
        if isinstance(stamp, int) and 0 <= now - stamp <= _PLAUSIBLE_AGE_NS:
            return stamp
        if not self._warned_clock:
            self._warned_clock = True
            log.warning("camera %s: SensorTimestamp %r is not on the monotonic clock (now %d); "
                        "using arrival times", self.cfg.name, stamp, now)
        return None

    def close(self) -> None:
        """Stop and close the camera; idempotent."""
        cam, self._cam = self._cam, None
        if cam is not None:
            _close_quietly(cam)


def _close_quietly(cam: Any) -> None:
    # Closing is best effort: a camera that failed half-way must still let go of libcamera.
    for step in (cam.stop, cam.close):
        try:
            step()
        except Exception as exc:
            log.debug("picamera2 %s failed while closing: %s", step.__name__, exc)
