"""The recorder: the loop hands an event over and goes on; the event is never lost."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.config.reporters import ArchiveConfig
from edge.event import Event
from edge.events import Archive, ArchiveFull, EventLog, EventLogError, Recorder, RecorderClosed
from edge.events.archive import SavedImages, load_exact
from tests.conftest import SHARED_DATA

PHOTO = SHARED_DATA / "images/predator/animl__Cat-21.jpg"


def _event(i: int) -> Event:
    return Event(camera="coop", start_time=1_800_000_000.0 + i, end_time=1_800_000_000.5 + i,
                 verdict="predator", label="cat", score=0.9, deterrents=["siren"],
                 latency_ms={"total": 90.0})


@pytest.fixture()
def log(state_dir: Path):  # type: ignore[no-untyped-def]
    with EventLog(state_dir / "events.sqlite3") as opened:
        yield opened


def test_events_and_images_are_written_in_order(log: EventLog, state_dir: Path) -> None:
    photo = cv2.imread(str(PHOTO))
    crop = np.ascontiguousarray(cv2.resize(photo, (224, 224))[..., ::-1])
    archive = Archive(state_dir / "archive", ArchiveConfig(min_free_mb=0))
    with Recorder(log, archive) as recorder:
        for i in range(5):
            recorder.submit(_event(i), photo, {"primary": crop})
        crop[:] = 0  # the caller's arrays are the caller's: the recorder copied them
    events = log.after(0)
    assert [e.start_time for e in events] == [_event(i).start_time for i in range(5)]
    for event in events:
        assert event.snapshot and cv2.imread(event.snapshot).shape == photo.shape
        assert load_exact(Path(event.crops["primary"])).any()


class _StuckArchive(Archive):
    """A real archive whose writes wait until the test lets them go (a card stalled)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, ArchiveConfig(min_free_mb=0))
        self.entered = threading.Event()
        self.release = threading.Event()

    def save(self, camera: str, when: float, snapshot_bgr: np.ndarray | None,
             crops: dict[str, np.ndarray]) -> SavedImages:
        self.entered.set()
        self.release.wait(30)
        return super().save(camera, when, snapshot_bgr, crops)


def test_a_stalled_archive_drops_images_never_events(log: EventLog, state_dir: Path) -> None:
    archive = _StuckArchive(state_dir / "archive")
    recorder = Recorder(log, archive, max_pending_images=3)
    recorder.start()
    image = np.full((48, 64, 3), 7, np.uint8)
    recorder.submit(_event(0), image, {})
    assert archive.entered.wait(10)
    for i in range(1, 20):
        recorder.submit(_event(i), image, {})
    assert recorder.dropped_images == 19 - 2  # one in the writer's hands, three queued in all
    archive.release.set()
    recorder.close()
    events = log.after(0)
    assert len(events) == 20 and [e.id for e in events] == list(range(1, 21))
    assert sum(1 for e in events if e.snapshot) == 3


class _FullArchive(Archive):
    def save(self, camera: str, when: float, snapshot_bgr: np.ndarray | None,
             crops: dict[str, np.ndarray]) -> SavedImages:
        raise ArchiveFull("card full")


def test_an_archive_failure_still_logs_the_event(log: EventLog, state_dir: Path) -> None:
    archive = _FullArchive(state_dir / "archive", ArchiveConfig())
    with Recorder(log, archive) as recorder:
        recorder.submit(_event(0), np.zeros((8, 8, 3), np.uint8), {})
    (event,) = log.after(0)
    assert event.snapshot is None and event.label == "cat"


def test_submit_after_close_is_an_error(log: EventLog) -> None:
    recorder = Recorder(log, None)
    recorder.start()
    recorder.close()
    recorder.close()
    with pytest.raises(RecorderClosed):
        recorder.submit(_event(0), None, {})


def test_close_without_start_still_writes(log: EventLog) -> None:
    recorder = Recorder(log, None)
    recorder.submit(_event(0), None, {})
    recorder.close()
    assert len(log.after(0)) == 1


KILLS = 40


def _record_for_ever(folder: Path, first: int, ready: Any) -> None:
    """What the loop does at each firing: hand the event and its images to the recorder."""
    rng = np.random.default_rng()
    snapshot = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    crop = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    log = EventLog(folder / "events.sqlite3")
    recorder = Recorder(log, Archive(folder / "archive",
                                     ArchiveConfig(min_free_mb=0, save_crops=True)))
    recorder.start()
    ready.set()
    for i in range(first, first + 1_000_000):  # each child's events have times of their own
        recorder.submit(_event(i), snapshot, {"primary": crop})
        threading.Event().wait(0.02)


def test_killed_at_random_points_no_fired_event_is_lost(tmp_path: Path) -> None:
    """SIGKILL a recording process at random moments, again and again, on one state folder.
    The event row is written before the slower snapshot: a snapshot whose event is not in the
    log (a firing lost) never appears, and after the restart every row is delivered."""
    rng = random.Random(16)
    fork = multiprocessing.get_context("fork")  # a real process, without a new interpreter's start
    for kill in range(KILLS):
        ready = fork.Event()
        child = fork.Process(target=_record_for_ever, args=(tmp_path, kill * 10_000, ready),
                             daemon=True)
        child.start()
        assert ready.wait(30)
        threading.Event().wait(rng.uniform(0.02, 0.3))
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join()
    archive = Archive(tmp_path / "archive", ArchiveConfig(min_free_mb=0))
    # A snapshot is written only after its firing: its time must be an event's in the log.
    snapshots = {round(e.time, 3) for e in archive.entries() if any(
        f.name == "snapshot.jpg" for f in e.files)}
    with EventLog(tmp_path / "events.sqlite3") as log:
        Recorder(log, None).start()  # a restart: events left behind their images are let go
        rows = log.after(0, limit=100_000)
        assert len(rows) == len(log.list()) and rows, "every row is there for the reporters"
        logged = {round(e.start_time, 3) for e in rows}
    assert snapshots and snapshots <= logged, \
        f"{len(snapshots - logged)} fired event(s) lost: a snapshot, no row"


def test_events_wait_in_memory_bounded_while_the_log_cannot_open(state_dir: Path) -> None:
    refusing = threading.Event()
    refusing.set()

    def open_log() -> EventLog:
        if refusing.is_set():  # what EventLog raises when SQLite says the disk is full
            raise EventLogError(f"{state_dir}: cannot open the event log: database or disk is full")
        return EventLog(state_dir / "events.sqlite3")

    recorder = Recorder(open_log, None, max_held_events=3)
    assert recorder.log is None and "disk is full" in (recorder.problem or "")
    recorder.start()
    for i in range(5):
        event = _event(i)
        event.deterrents = ["siren"] if i in (0, 3) else []
        recorder.submit(event, None, {})
    assert recorder.pending() == 3 and recorder.dropped_events == 2
    refusing.clear()  # space returns
    recorder.close()
    assert recorder.problem is None and recorder.log is not None
    kept = [e.start_time - 1_800_000_000.0 for e in recorder.log.list()]
    assert kept == [0, 3, 4]  # firings first to stay; the rest in order
    recorder.log.close()
