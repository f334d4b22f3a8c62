"""Arrivals (real photos over a real background), photo-folder replay and OpenCV files."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.box import Box
from camera.capture import Capture
from camera.config import ArrivalConfig, CameraConfig
from camera.errors import CameraOpenError, EndOfStream, SourceConfigError
from camera.frame import Frame
from camera.motion import MotionDetector
from camera.opening import open_source
from camera.replay import ArrivalsSource
from camera.source import FrameSource, grey_size
from tests.conftest import SHARED_DATA

BOX = (0.5, 0.25, 0.4, 0.5)
ARRIVAL = ArrivalConfig(image="asset:raccoon__raccoon-7.jpg", at_s=1.0, for_s=0.5, box=BOX,
                        label="raccoon")
CFG = CameraConfig(kind="arrivals", address="asset:speciesnet__blank2.jpg", width=320,
                   height=240, fps=10, realtime=False, loop=False, arrivals=[ARRIVAL])


def read_all(source: FrameSource, limit: int = 1000) -> list[Frame]:
    frames: list[Frame] = []
    while len(frames) < limit:
        try:
            frame = source.read()
        except EndOfStream:
            break
        if frame is not None:
            frames.append(frame)
    return frames


def changed_rect(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.any(a != b, axis=2))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_photo_appears_at_the_right_time_and_place(asset_store) -> None:  # type: ignore[no-untyped-def]
    resolved: list[str] = []

    def resolve(address: str) -> str:
        resolved.append(address)
        return asset_store.resolve(address)

    source = open_source(CFG, resolve)
    assert sorted(resolved) == ["asset:raccoon__raccoon-7.jpg", "asset:speciesnet__blank2.jpg"]
    source.open()
    frames = read_all(source)
    source.close()
    # 1.0 s empty, 0.5 s raccoon, then one for_s (0.5 s) empty: 20 frames at 10 fps.
    assert len(frames) == 20
    empty = frames[0].image
    for i, frame in enumerate(frames):
        assert frame.image.shape == (240, 320, 3) and frame.grey.shape[::-1] == grey_size(CFG)
        showing = 10 <= i < 15
        assert (not np.array_equal(frame.image, empty)) == showing, f"frame {i}"
    # The raccoon is inside its box, scaled to fit it, with its own aspect ratio.
    x0, y0, x1, y1 = changed_rect(frames[12].image, empty)
    bx, by, bw, bh = Box(*BOX).to_pixels(320, 240)
    assert bx <= x0 and by <= y0 and x1 <= bx + bw and y1 <= by + bh
    margin = 2 * source.sway_px + 2  # type: ignore[attr-defined]
    assert (x1 - x0) >= bw - margin or (y1 - y0) >= bh - margin  # fills the box one way
    photo = cv2.imread(asset_store.resolve(ARRIVAL.image))
    assert (x1 - x0) / (y1 - y0) == pytest.approx(photo.shape[1] / photo.shape[0], rel=0.05)


def test_motion_follows_an_arrival_for_its_whole_stay(asset_store) -> None:  # type: ignore[no-untyped-def]
    # The demo's contract with the motion detector (default settings): a photo that stays
    # 3 s is motion for (nearly) all of it, and the empty scene around it is not.
    arrival = ARRIVAL.model_copy(update={"for_s": 3.0})
    cfg = CFG.model_copy(update={"width": 640, "height": 360, "arrivals": [arrival]})
    source = open_source(cfg, asset_store.resolve)
    source.open()
    detector = MotionDetector(cfg.motion, cfg.fps)
    moving = [detector.detect(f.grey).moving for f in read_all(source)]
    assert not any(moving[:10])
    assert sum(moving[10:40]) >= 28
    assert not any(moving[48:])  # gone: the ghost fades within the tolerance of a second


def test_looping_schedule_repeats(asset_store) -> None:  # type: ignore[no-untyped-def]
    source = open_source(CFG.model_copy(update={"loop": True}), asset_store.resolve)
    source.open()
    frames = read_all(source, limit=45)
    source.close()
    empty = frames[0].image
    showing = [i for i, f in enumerate(frames) if not np.array_equal(f.image, empty)]
    assert showing == [10, 11, 12, 13, 14, 30, 31, 32, 33, 34]


def test_transparent_png_is_blended_over_the_background(tmp_path: Path) -> None:
    background = tmp_path / "bg.png"
    cv2.imwrite(str(background), np.full((240, 320, 3), 60, np.uint8))
    sticker = np.zeros((100, 100, 4), np.uint8)
    sticker[:, 50:] = (0, 0, 255, 255)  # right half opaque red, left half transparent
    cv2.imwrite(str(tmp_path / "sticker.png"), sticker)
    arrival = ArrivalConfig(image=str(tmp_path / "sticker.png"), at_s=0, for_s=1,
                            box=(0.0, 0.0, 0.5, 0.5))
    cfg = CFG.model_copy(update={"address": str(background), "arrivals": [arrival]})
    source = open_source(cfg)
    source.open()
    image = read_all(source, limit=1)[0].image
    assert tuple(image[60, 30]) == (60, 60, 60)  # transparent: background shows
    assert tuple(image[60, 110]) == (0, 0, 255)


def test_a_missing_arrival_photo_is_named_at_open(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "bg.png"), np.zeros((48, 64, 3), np.uint8))
    cfg = CFG.model_copy(update={
        "address": str(tmp_path / "bg.png"),
        "arrivals": [ARRIVAL.model_copy(update={"image": str(tmp_path / "fox.jpg")})],
    })
    with pytest.raises(CameraOpenError, match=r"fox\.jpg"):
        ArrivalsSource(cfg, cfg.address, [cfg.arrivals[0].image]).open()


def test_photo_folder_replays_every_format_at_the_configured_size(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "1_grey.jpg"), np.full((100, 100), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "2_rgba.png"), np.full((50, 200, 4), 200, np.uint8))
    (tmp_path / "notes.txt").write_text("not a photo")
    cfg = CFG.model_copy(update={"kind": "replay", "address": str(tmp_path)})
    source = open_source(cfg)
    source.open()
    frames = read_all(source)
    assert [f.image.shape for f in frames] == [(240, 320, 3)] * 2
    # A square photo in a 4:3 frame is letterboxed, not stretched.
    assert frames[0].image[120, 0].sum() == 0 and frames[0].image[120, 160].sum() > 0


def test_a_folder_the_warm_up_would_swallow_is_named(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):  # a trail camera's burst
        cv2.imwrite(str(tmp_path / f"burst_{n}.jpg"), np.full((48, 64, 3), 60 * n, np.uint8))
    for fps, warned in ((10, True), (1, False)):
        cfg = CFG.model_copy(update={"kind": "replay", "address": str(tmp_path), "fps": fps})
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="camera.replay"):
            open_source(cfg).open()
        assert ("leaving 0 to search" in caplog.text and "want fps 1" in caplog.text) == warned


def five_frame_clip(path: Path, fps: float) -> Path:
    """A small MJPG file of five flat frames, darkest first, recorded at ``fps``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for value in range(0, 250, 50):
        writer.write(np.full((48, 64, 3), value, np.uint8))
    writer.release()
    return path


def test_opencv_file_source_plays_once_or_loops(tmp_path: Path) -> None:
    clip = five_frame_clip(tmp_path / "clip.avi", 10)
    once = CFG.model_copy(update={"kind": "replay", "address": str(clip)})
    source = open_source(once)
    source.open()
    frames = read_all(source)
    source.close()
    assert len(frames) == 5 and frames[0].image.shape == (240, 320, 3)
    looping = open_source(once.model_copy(update={"loop": True}))
    looping.open()
    assert len(read_all(looping, limit=12)) == 12
    looping.close()


def test_the_capture_reports_the_rate_its_source_delivers(tmp_path: Path) -> None:
    # A file plays at its recorded rate whatever the camera's fps says; the capture passes it
    # on, so that the camera loop counts motion's warm-up in the file's frames.
    clip = five_frame_clip(tmp_path / "clip_25.avi", 25)
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.full((48, 64, 3), 90, np.uint8))
    stop = threading.Event()
    for address, expected in ((clip, 25.0), (tmp_path, 10.0)):
        cfg = CFG.model_copy(update={"kind": "replay", "address": str(address)})
        capture = Capture(cfg, lambda cfg=cfg: open_source(cfg), stop)
        assert capture.fps == 10.0  # the configured rate until a source opens
        capture.start()
        try:
            assert capture.fps == pytest.approx(expected), address
        finally:
            capture.close()


def test_real_clip_frames_are_resized_and_stamped_now() -> None:
    clip = SHARED_DATA / "video" / "dlc__m3v1mp4.mp4"
    if not clip.is_file():
        pytest.skip("shared clip not here")
    cfg = CFG.model_copy(update={"kind": "opencv", "address": str(clip)})
    source = open_source(cfg)
    source.open()
    frame = source.read()
    source.close()
    assert frame is not None and frame.image.shape == (240, 320, 3)


def test_bad_addresses_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    source = open_source(CFG.model_copy(update={"kind": "opencv", "address": str(junk)}))
    with pytest.raises(CameraOpenError, match=r"junk\.mp4"):
        source.open()
    with pytest.raises(SourceConfigError, match="neither a video file nor a folder"):
        open_source(CFG.model_copy(update={"kind": "replay", "address": str(tmp_path / "no")}))
    (tmp_path / "e").mkdir()
    empty = open_source(CFG.model_copy(update={"kind": "replay", "address": str(tmp_path / "e")}))
    with pytest.raises(CameraOpenError, match="no photos"):
        empty.open()
