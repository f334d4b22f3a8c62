"""Clips on real footage: from the pre-roll to post_s after the firing, none for a visit
without an event, durable or absent, and a full card costs the clip, never the event."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.clip_format import readable
from edge.clips import ClipRecorder, adopt_through
from edge.config.clips import ClipsConfig
from edge.config.reporters import ArchiveConfig
from edge.event import Event
from edge.events.archive import RECORDING, Archive
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from tests.conftest import SHARED_DATA

VIDEO = SHARED_DATA / "video" / "intel__one-by-one-person-detection.mp4"
FPS = 10
CFG = ClipsConfig.model_validate({"pre_s": 1, "post_s": 1, "fps": 5, "width": 320})


@pytest.fixture(scope="module")
def footage() -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(VIDEO))
    frames = [capture.read()[1] for _ in range(60)]
    capture.release()
    return frames


class Handed:
    """What the clip recorder hands over, by event label."""

    def __init__(self) -> None:
        self.clips: dict[str, Path | None] = {}

    def adopt(self, event: Event, path: Path | None) -> None:
        self.clips[event.label] = path


def play(clips: ClipRecorder, footage: list[np.ndarray], marks: dict[int, list]) -> None:  # type: ignore[type-arg]
    """Frame k at k / FPS s; at frame k, the marks ``(method, *args)``; waits for each frame
    to be handled, as a live camera's pace would allow."""
    for k, image in enumerate(footage):
        while clips.pending():
            threading.Event().wait(0.001)
        clips.frame(k / FPS, image)
        for method, *args in marks.get(k, []):
            getattr(clips, method)(*args)
    clips.close()


def frames_in(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture()
def recording(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "recording"
    folder.mkdir()
    yield folder


def test_an_event_gets_its_visit_from_the_pre_roll_to_post_s_after_the_firing(
        footage: list[np.ndarray], recording: Path) -> None:
    handed = Handed()
    clips = ClipRecorder("coop", CFG, recording, handed.adopt)
    fox = Event("coop", 0, 0, "predator", "fox", 0.9, deterrents=["siren"])
    # The visit starts at 2 s, fires at 3 s; the clip runs from 1 s to 4 s: 16 frames at 5 fps.
    play(clips, footage, {20: [("visit_started", 2.0)], 30: [("event", fox, 3.0 + CFG.post_s)],
                          50: [("visit_ended", 5.0)]})
    path = handed.clips["fox"]
    assert path is not None and readable(path)
    assert 15 <= frames_in(path) <= 17
    assert clips.preroll.peak <= CFG.preroll_max_mb * 2**20
    assert list(recording.iterdir()) == [path]  # nothing else left behind


def test_a_visit_without_an_event_leaves_no_file(footage: list[np.ndarray],
                                                 recording: Path) -> None:
    handed = Handed()
    clips = ClipRecorder("coop", CFG, recording, handed.adopt)
    play(clips, footage, {10: [("visit_started", 1.0)], 40: [("visit_ended", 4.0)]})
    assert handed.clips == {} and list(recording.iterdir()) == []


def fox_through(archive: Archive, state: Path, footage: list[np.ndarray]) -> Event:
    """A fox's event through the recorder with its clip (visit 1 s to 4 s, fired at 2 s):
    the event as the log holds it after."""
    log = EventLog(state / "events.sqlite3")
    recorder = Recorder(log, archive)
    recorder.start()
    clips = ClipRecorder("coop", CFG, archive.recording_dir(),
                         adopt_through(archive, state, recorder.update))
    fox = Event("coop", 0, 0, "predator", "fox", 0.9, deterrents=["siren"])
    recorder.submit(fox, footage[0], {})
    play(clips, footage, {10: [("visit_started", 1.0)], 20: [("event", fox, 3.0)],
                          40: [("visit_ended", 4.0)]})
    recorder.close()
    [kept] = log.list()
    log.close()
    return kept


def test_a_full_card_costs_the_clip_not_the_event(footage: list[np.ndarray],
                                                  tmp_path: Path) -> None:
    full = Archive(tmp_path / "archive", ArchiveConfig.model_validate({"min_free_mb": 10}),
                   free_bytes=lambda path: 0)
    kept = fox_through(full, tmp_path, footage)  # its snapshot is refused too: ArchiveFull
    assert kept.verdict == "predator" and kept.clip is None and kept.snapshot is None
    assert list(full.recording_dir().iterdir()) == []


def test_an_adopted_clip_lands_beside_the_snapshot_named_relative_to_the_state_folder(
        footage: list[np.ndarray], tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive", ArchiveConfig.model_validate({"min_free_mb": 0}))
    kept = fox_through(archive, tmp_path, footage)
    assert kept.clip is not None and kept.snapshot is not None
    assert (tmp_path / kept.clip).parent == Path(kept.snapshot).parent
    assert readable(tmp_path / kept.clip)


KILLED_WRITER = """
import sys, threading
from pathlib import Path
import cv2
from edge.clips import ClipRecorder
from edge.config.clips import ClipsConfig
from edge.config.reporters import ArchiveConfig
from edge.events.archive import Archive
archive = Archive(Path(sys.argv[1]), ArchiveConfig.model_validate({"min_free_mb": 0}))
clips = ClipRecorder("coop", ClipsConfig.model_validate({"pre_s": 1, "fps": 5, "width": 320}),
                     archive.recording_dir(), lambda event, path: None)
capture = cv2.VideoCapture(sys.argv[2])
t = 0.0
while (got := capture.read())[0]:
    clips.frame(t, got[1])
    if t == 0.5:
        clips.visit_started(t)
    if t > 1.0 and any(p.stat().st_size for p in archive.recording_dir().iterdir()):
        print("writing", flush=True)
        threading.Event().wait(60)  # killed here, the clip half written
    t = round(t + 0.1, 1)
"""


def test_a_clip_killed_mid_write_is_swept_and_never_an_events(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(root), str(VIDEO)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
    finally:
        child.kill()
        child.wait(timeout=30)
    half = list((root / RECORDING).iterdir())
    assert len(half) == 1 and half[0].stat().st_size > 0
    Archive(root, ArchiveConfig.model_validate({"min_free_mb": 0}))  # the next start
    assert list((root / RECORDING).iterdir()) == []
    assert not list(root.glob("*/*/clip.*"))
