"""The unit that travels from a camera to the pipeline loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame.

    ``image`` is the full-resolution picture in **B,G,R** order (OpenCV's order, and what
    picamera2's ``RGB888`` format really holds in memory), HxWx3 uint8. It is converted to
    RGB only for the small crop a model sees, never for the whole frame.

    ``grey`` is a small greyscale plane (HxW uint8) for motion detection: picamera2's
    ``lores`` Y plane, or a downscaled grey copy made by the backend.

    ``capture_ns`` is when the sensor captured the frame, on the ``time.monotonic_ns()``
    clock, so that latency can be measured from the true capture time;
    ``wall_time`` is the same instant as a Unix time, for humans and logs.
    """

    seq: int
    image: np.ndarray
    grey: np.ndarray
    capture_ns: int
    wall_time: float

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the full-resolution image."""
        return int(self.image.shape[1]), int(self.image.shape[0])
