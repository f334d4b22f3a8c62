"""``tensorchicken eval --clips PATH...``: recorded clips and frame folders through the
appliance's own path (motion → crop → classify → decide), reported per visit.

Each ``PATH`` is a video file, a folder of frames (played in name order at ``--fps``) or
``camera:NAME``, a replay or arrivals camera of the configuration (the demo's, with
``-c edge/demo.yaml``); ``LABEL=PATH`` says what walks through it (``predator``,
``chicken``, ``background``, ``person``; ``--expect`` gives it for the rest). A visit of a
``predator`` clip should fire; a firing in any other is a false firing. Motion settings come
from the configuration's camera (``--camera``, the first by default), the decision rules and
deterrents from the configuration, the deterrents on mock pins. ``--board-ms`` plays a slower
board: that long per classified frame, the frames arriving meanwhile skipped.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from camera.config import CameraConfig
from camera.errors import BadFrameError
from camera.replay import PHOTO_SUFFIXES, read_image
from classifier import ClassifierError
from edge.cli import CliError
from edge.cli.classify import open_classifier
from edge.cli.common import config_from, number_in, print_json, store_from
from edge.cli.motion import camera_named, video_config
from edge.config import Config
from edge.visit_replay import VisitReport, replay_visits

log = logging.getLogger(__name__)

CLIP_LABELS = ("predator", "chicken", "background", "person")
CAMERA_PREFIX = "camera:"


def add_clip_args(parser: argparse.ArgumentParser) -> None:
    """The clip mode's options."""
    parser.add_argument(
        "--clips", nargs="+", default=[], metavar="[LABEL=]PATH",
        help="video files, folders of frames or camera:NAME (a replay or arrivals camera of the "
        "configuration) to run through motion, crop, classify and decide, reported per visit; "
        f"LABEL is one of {', '.join(CLIP_LABELS)}",
    )
    parser.add_argument("--expect", choices=CLIP_LABELS,
                        help="what walks through the clips not labelled LABEL=PATH")
    parser.add_argument("--board-ms", type=number_in(0, 60_000), default=0.0, metavar="MS",
                        help="play a slower board: MS per classified frame (default 0: every "
                        "frame)")
    parser.add_argument("--fps", type=number_in(0.01, 120), default=None,
                        help="frame rate of frame folders (default: the camera's); a trail "
                        "camera's burst or snapshots: 1, so that the motion warm-up (a "
                        "time) takes one frame, not ten")
    parser.add_argument("--camera", help="motion settings of this camera (default: the first)")


def parse_clip(arg: str, expect: str | None) -> tuple[str | None, Path]:
    """``LABEL=PATH`` or ``PATH`` as (label, path); a CliError for an unknown label."""
    label, sep, rest = arg.partition("=")
    if sep and label in CLIP_LABELS:
        return label, Path(rest)
    if sep and "/" not in label and not Path(arg).exists():
        raise CliError(f"--clips {arg}: {label!r} is not one of {', '.join(CLIP_LABELS)}",
                       code=2)
    return expect, Path(arg)


def clip_camera(
    config: Config, camera: CameraConfig, path: Path, fps: float | None
) -> CameraConfig:
    """``camera`` replaying ``path``: a video at its own size, or a folder of frames at the
    first frame's size and ``fps``; ``camera:NAME`` is the configuration's camera NAME."""
    if str(path).startswith(CAMERA_PREFIX):
        named = camera_named(config, str(path).removeprefix(CAMERA_PREFIX))
        if named.kind not in ("replay", "arrivals"):
            raise CliError(f"{path}: a {named.kind} camera is live, not a recording", code=2)
        return named
    if not path.is_dir():
        return video_config(camera, path)
    frames = sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not frames:
        raise CliError(f"{path}: no frames in the folder (looked for "
                       f"{', '.join(sorted(PHOTO_SUFFIXES))})", code=2)
    try:
        height, width = read_image(str(frames[0])).shape[:2]
    except BadFrameError as exc:
        raise CliError(str(exc)) from None
    return camera.model_copy(update={
        "kind": "replay", "address": str(path), "width": max(64, width),
        "height": max(48, height), "fps": fps or camera.fps, "realtime": False, "loop": False,
    })


def clip_summary(label: str | None, visits: list[VisitReport]) -> dict[str, Any]:
    """Per clip: visits, fired ones, the time each took to fire, and what went wrong."""
    fired = [v for v in visits if v.fired]
    times = [v.time_to_fire_s for v in fired if v.time_to_fire_s is not None]
    summary: dict[str, Any] = {
        "expect": label,
        "visits": len(visits),
        "fired": len(fired),
        "confirmed": sum(v.confirmed for v in visits),
        "time_to_fire_s": {
            "median": round(statistics.median(times), 2) if times else None,
            "max": round(max(times), 2) if times else None,
        },
        "predator_events": sum(v.verdict == "predator" for v in visits),
    }
    if label == "predator":  # confirmed but held (cooldown, veto...) is not a miss
        summary["missed"] = sum(not v.confirmed for v in visits)
    elif label is not None:
        summary["false_firings"] = sum(v.firings for v in fired)
    return summary


def run_clips(args: argparse.Namespace) -> int:
    """Replay every clip; print the report (or one JSON object)."""
    config = config_from(args)
    store = store_from(args, config)
    camera = camera_named(config, args.camera)
    clips = [parse_clip(arg, args.expect) for arg in args.clips]
    for _, path in clips:
        if not path.exists() and not str(path).startswith(CAMERA_PREFIX):
            raise CliError(f"{path}: no such video file or folder", code=2)
    results = []
    # Each camera's crops judged as the appliance judges them: with its own re-fitted default
    # head once promoted (tensorchicken learn).
    with open_classifier(args, [c.name for c in config.cameras]) as classifier, \
            tempfile.TemporaryDirectory() as tmp:
        for n, (label, path) in enumerate(clips):
            cam = clip_camera(config, camera, path, args.fps)
            # Its log lines (motion, firings) name the camera whose settings and head it has.
            log.info("clip %s: replayed as camera %s", path, cam.name)
            try:
                visits = replay_visits(cam, config, classifier, state_dir=Path(tmp) / str(n),
                                       board_ms=args.board_ms, resolve=store.resolve)
            except ClassifierError as exc:
                raise CliError(str(exc)) from None
            results.append({"clip": str(path), **clip_summary(label, visits),
                            "per_visit": [asdict(v) | {"fired": v.fired, "confirmed": v.confirmed}
                                          for v in visits]})
    report = {"board_ms": args.board_ms, "models_used": list(classifier.model_names),
              "clips": results}
    if args.json:
        print_json(report)
    else:
        print_clips(report)
    return 0


def print_clips(report: dict[str, Any]) -> None:
    """The report for a human: a line per clip, then one per visit."""
    pace = f", a board taking {report['board_ms']:g} ms per frame" if report["board_ms"] else ""
    print(f"models: {', '.join(report['models_used'])}{pace}")
    for clip in report["clips"]:
        judged = ""
        if "missed" in clip:
            judged = f", missed {clip['missed']}"
        elif "false_firings" in clip:
            judged = f", false firings {clip['false_firings']}"
        ttf = clip["time_to_fire_s"]
        when = f", time to fire median {ttf['median']} s (max {ttf['max']} s)" if ttf["median"] \
            is not None else ""
        print(f"{clip['clip']} ({clip['expect'] or 'no label'}): {clip['visits']} visit(s), "
              f"fired {clip['fired']}, confirmed {clip['confirmed']}{judged}{when}, "
              f"predator events {clip['predator_events']}")
        for v in clip["per_visit"]:
            outcome = (f"fired after {v['time_to_fire_s']:.1f} s" if v["fired"]
                       else "confirmed, held" if v["confirmed"] else "not fired")
            rules = ", ".join(f"{k} {n}" for k, n in sorted(v["rules"].items()))
            devices = "".join(
                [f"; on: {' '.join(v['deterrents'])}" if v["deterrents"] else "",
                 f"; vetoed: {' '.join(v['vetoed'])}" if v["vetoed"] else ""])
            print(f"  {v['start_s']:7.1f}-{v['end_s']:7.1f} s  {v['classified']:4d} classified, "
                  f"{v['predator_frames']:3d} predator  {outcome:<20} event "
                  f"{v['verdict'] or '-':<10} ({rules}{devices})")
