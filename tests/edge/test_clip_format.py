"""The clip format probe: its expected refusals stay out of the log, nothing else does."""

from __future__ import annotations

import os

import pytest

from edge.clip_format import FORMATS, probe_noise_hidden, writes


def test_the_probe_hides_ffmpeg_s_refusal_and_keeps_every_other_line(
        capfd: pytest.CaptureFixture[str]) -> None:
    with probe_noise_hidden():
        os.write(2, b"[h264_v4l2m2m @ 0x55] Could not find a valid device\n")
        os.write(2, b"[ERROR:0@0.03] global cap_ffmpeg_impl.hpp:3753 open VIDEOIO/FFMPEG: "
                    b"Failed to initialize VideoWriter\n")
        os.write(2, b"camera coop: frame late\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "camera coop: frame late\nafter\n"


def test_probing_every_format_writes_no_refusal_to_standard_error(
        capfd: pytest.CaptureFixture[str]) -> None:
    # Here (no V4L2 encoder) H.264 is refused, and FFmpeg and OpenCV say so on fd 2.
    found = [writes(fmt, (64, 48), 10.0) for fmt in FORMATS]
    assert found[-1], "OpenCV's own Motion JPEG writer always works"
    err = capfd.readouterr().err
    assert "h264_v4l2m2m" not in err and "VideoWriter" not in err, err
