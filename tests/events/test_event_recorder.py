"""The recorder: the loop hands an event over and goes on; the event is never lost."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config.reporters import ArchiveConfig
from edge.event import Event
from edge.events import Archive, ArchiveFull, EventLog, Recorder, RecorderClosed
from edge.events.archive import SavedImages, load_exact

PHOTO = Path(__file__).resolve().parents[3] / "shared/data/images/predator/animl__Cat-21.jpg"


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
