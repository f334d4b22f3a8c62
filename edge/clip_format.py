"""Which video format this machine's OpenCV can write, found by trying (once per process).

In order of preference:

- ``avc1`` (H.264) in MP4: small files every browser plays. The pip wheels' FFmpeg has no
  software H.264 encoder; it tries ``h264_v4l2m2m``, the V4L2 memory-to-memory encoder, which
  exists only where the kernel offers one (a Raspberry Pi's ``/dev/video11``). So it opens on
  a Pi and is refused on a laptop or CI.
- ``mp4v`` (MPEG-4 Part 2) in MP4: the wheels' FFmpeg always has it; browsers vary.
- ``MJPG`` (Motion JPEG) in AVI: OpenCV's own AVI writer, with no FFmpeg at all; the largest.

Where a format is refused, FFmpeg and OpenCV say so on standard error ("Could not find a valid
device", "[ERROR...] Failed to initialize VideoWriter"): expected, and alarming in a log, so
the probe keeps their words about it out of the log (:func:`probe_noise_hidden`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClipFormat:
    """A codec (its FOURCC) in a container (the file's suffix, which OpenCV goes by)."""

    fourcc: str
    suffix: str
    name: str

    def open(self, path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
        """A writer of ``size`` (width, height) frames to ``path``; check ``isOpened()``."""
        fourcc = cv2.VideoWriter.fourcc(*self.fourcc)
        return cv2.VideoWriter(str(path), fourcc, fps, size)


FORMATS = (ClipFormat("avc1", ".mp4", "H.264"), ClipFormat("mp4v", ".mp4", "MPEG-4 Part 2"),
           ClipFormat("MJPG", ".avi", "Motion JPEG"))


# Words of FFmpeg's and OpenCV's messages about a refused writer or codec probe.
PROBE_NOISE = ("h264_v4l2m2m", "cap_ffmpeg_impl", "VideoWriter", "can't configure encoder",
               "Could not find a valid device")


@contextlib.contextmanager
def probe_noise_hidden() -> Iterator[None]:
    """Standard error (the file descriptor, which FFmpeg and OpenCV's C++ write to) goes to a
    file for the block; afterwards every line of it is written back but those with words of
    :data:`PROBE_NOISE`. Another thread's line in that moment is delayed, never lost."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error at all: nothing to keep quiet
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(keepends=True)
                    if not any(word.encode() in line for word in PROBE_NOISE)]
            rest = b"".join(kept)
            while rest:
                rest = rest[os.write(2, rest):]


def writes(fmt: ClipFormat, size: tuple[int, int], fps: float) -> bool:
    """Whether OpenCV here writes ``fmt`` at ``size``: a two-frame file read back."""
    with (tempfile.TemporaryDirectory(prefix="tensorchicken-clip-") as folder,
          probe_noise_hidden()):
        path = Path(folder) / f"probe{fmt.suffix}"
        writer = fmt.open(path, fps, size)
        if not writer.isOpened():
            return False
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        for _ in range(2):
            writer.write(frame)
        writer.release()
        return readable(path)


def readable(path: Path) -> bool:
    """Whether OpenCV opens the video and reads its first frame."""
    capture = cv2.VideoCapture(str(path))
    try:
        return bool(capture.isOpened() and capture.read()[0])
    finally:
        capture.release()


@functools.cache
def best_format(size: tuple[int, int], fps: float) -> ClipFormat:
    """The first of :data:`FORMATS` that this machine writes (MJPG/AVI needs no FFmpeg)."""
    for fmt in FORMATS[:-1]:
        if writes(fmt, size, fps):
            log.info("clips: %s (%s%s)", fmt.name, fmt.fourcc, fmt.suffix)
            return fmt
        log.info("clips: OpenCV cannot write %s here; trying the next format", fmt.name)
    return FORMATS[-1]
