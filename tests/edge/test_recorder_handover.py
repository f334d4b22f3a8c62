"""The loop hands an event's images to the recorder: copied by default, taken over (no copy on
the loop's thread) with ``copy=False``, and archived either way."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np

from edge.config.reporters import ArchiveConfig
from edge.event import Event
from edge.events.archive import Archive
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from tests.conftest import SHARED_DATA

FOX = SHARED_DATA / "images" / "predator" / "wikianimals__fox.webp"


def test_copy_false_hands_the_images_over_without_copying(tmp_path: Path) -> None:
    photo = cv2.imread(str(FOX))
    assert photo is not None
    frame = cv2.resize(photo, (1280, 720))  # 2.7 MB, as a 720p snapshot
    crop = np.ascontiguousarray(cv2.resize(frame, (224, 224))[..., ::-1])
    log = EventLog(tmp_path / "events.sqlite3")
    recorder = Recorder(log, Archive(tmp_path / "archive", ArchiveConfig.model_validate(
        {"min_free_mb": 0})))
    events = [Event("coop", 1_700_000_000.0 + i, 1_700_000_001.0 + i, "predator", "red fox", 0.9)
              for i in range(2)]
    tracemalloc.start()
    try:
        recorder.submit(events[0], frame, {"mobilenet": crop}, copy=False)
        handed_over, _ = tracemalloc.get_traced_memory()
        recorder.submit(events[1], frame, {"mobilenet": crop})
        copied = tracemalloc.get_traced_memory()[0] - handed_over
    finally:
        tracemalloc.stop()
    assert handed_over < frame.nbytes // 10  # a queue entry, not a frame
    assert copied >= frame.nbytes + crop.nbytes
    recorder.close()  # never started: writes on this thread
    written = log.list()
    log.close()
    assert len(written) == 2
    for event in written:
        assert event.snapshot and Path(event.snapshot).is_file()
        saved = cv2.imread(event.crops["mobilenet"])
        assert saved is not None and np.array_equal(saved[..., ::-1], crop)
