"""``tensorchicken motion VIDEO``: the motion segments the configured detector finds in a
video, so thresholds can be tuned on footage from the coop itself.

The file is decoded as fast as possible at its own size; motion settings come from the
first camera of ``--config`` (or ``--camera NAME``), defaults otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from camera.config import CameraConfig
from camera.errors import CameraError, EndOfStream
from camera.motion import MotionDetector
from camera.opencv_source import OpenCVSource
from camera.segments import Segment, SegmentTracker
from edge.cli import CliError
from edge.cli.common import add_config_arg, add_json_arg, config_from, number_in
from edge.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("motion", help="print the motion segments found in a video file")
    p.add_argument("video", type=Path, help="video file (any format OpenCV reads)")
    add_config_arg(p)
    add_json_arg(p)
    p.add_argument("--camera", help="take motion settings from this camera (default: the first)")
    p.add_argument("--gap", type=number_in(0, 3600), default=1.0, metavar="S",
                   help="pauses shorter than this do not split a segment (default 1.0 s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line (or one JSON object) per motion segment; exit 0."""
    if args.gap < 0:
        raise CliError(f"--gap must be 0 or more seconds, got {args.gap}", code=2)
    camera = camera_named(config_from(args), args.camera)
    cfg = video_config(camera, args.video)
    source = OpenCVSource(cfg, str(args.video))
    try:
        source.open()
        segments = _scan(source, MotionDetector(cfg.motion, source.fps), args.gap, args.json)
    except CameraError as exc:
        raise CliError(str(exc)) from None
    finally:
        source.close()
    if not args.json:
        total = sum(s.end_s - s.start_s for s in segments)
        print(f"{len(segments)} segment(s), {total:.1f} s of motion")
    return 0


def camera_named(config: Config, name: str | None) -> CameraConfig:
    """The camera called ``name`` (the first when ``None``); a CliError listing the names."""
    if name is None:
        return config.cameras[0]
    for camera in config.cameras:
        if camera.name == name:
            return camera
    names = ", ".join(c.name for c in config.cameras)
    raise CliError(f"no camera named {name!r} in the configuration (cameras: {names})", code=2)


def video_config(camera: CameraConfig, video: Path) -> CameraConfig:
    """``camera`` replaying ``video`` once, at the file's own size, as fast as it decodes."""
    if not video.exists():
        raise CliError(f"{video}: no such video file", code=2)
    if not video.is_file():
        raise CliError(f"{video}: not a video file (a folder of frames goes to eval --clips)"
                       if video.is_dir() else f"{video}: not a regular file", code=2)
    probe = cv2.VideoCapture(str(video))
    width = int(probe.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT))
    probe.release()
    if width < 64 or height < 48:
        raise CliError(f"{video}: not a video OpenCV can read (frame size {width}x{height})")
    # Decode at the file's own size, as fast as possible, once.
    return camera.model_copy(update={
        "kind": "replay", "address": str(video), "width": width, "height": height,
        "realtime": False, "loop": False,
    })


def _scan(
    source: OpenCVSource, detector: MotionDetector, gap: float, as_json: bool
) -> list[Segment]:
    tracker = SegmentTracker(gap_s=gap)
    segments: list[Segment] = []
    frame_s = 1.0 / source.fps
    index = 0
    while True:
        try:
            frame = source.read()
        except EndOfStream:
            break
        if frame is None:
            continue
        ended = tracker.add(index * frame_s, detector.detect(frame.grey), frame_s)
        index += 1
        for segment in ended:
            _show(segment, as_json)
        segments += ended
    for segment in tracker.finish():
        _show(segment, as_json)
        segments.append(segment)
    return segments


def _show(segment: Segment, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(segment.as_dict()) + "\n")
    else:
        print(f"{segment.start_s:7.1f} s - {segment.end_s:7.1f} s   "
              f"peak {100 * segment.peak_area:5.1f} %   {len(segment.boxes)} box(es)")
    sys.stdout.flush()
