"""The archive: exact model inputs, atomic writes, retention by age and by free disk.

Two kinds of "nearly full disk": a real 8 MB tmpfs mounted for the test (the filesystem itself
says how much is free, ENOSPC is real) when this machine lets us mount, and, always, a real
folder with an injected free-space function (capacity minus what the archive holds), which
runs anywhere (CI containers often forbid mount) and lets the test state the numbers exactly.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.config.reporters import ArchiveConfig
from edge.events import Archive, ArchiveFull
from edge.events.archive import PART, load_exact
from tests.conftest import SHARED_DATA

SHARED = SHARED_DATA / "images"
PHOTO = SHARED / "predator" / "animl__Cat-21.jpg"
CHILD = Path(__file__).with_name("events_child.py")
MB = 1024 * 1024


def _noise(rng: np.random.Generator, h: int = 480, w: int = 640) -> np.ndarray:
    # Noise does not compress: each snapshot costs real space.
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _used(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def test_save_keeps_the_snapshot_and_the_exact_model_inputs(tmp_path: Path) -> None:
    photo = cv2.imread(str(PHOTO))
    assert photo is not None
    crop_rgb = np.ascontiguousarray(cv2.resize(photo, (224, 224))[..., ::-1])
    floats = np.linspace(-1, 1, 96 * 96 * 3, dtype=np.float32).reshape(96, 96, 3)
    archive = Archive(tmp_path / "archive", ArchiveConfig(min_free_mb=0))
    saved = archive.save("coop door", 1_800_000_000.25, photo,
                         {"mobilenet": crop_rgb, "candidate/v2": floats})
    assert saved.snapshot is not None and saved.snapshot.endswith("snapshot.jpg")
    snapshot = cv2.imread(saved.snapshot)
    assert snapshot is not None and snapshot.shape == photo.shape
    assert np.array_equal(load_exact(Path(saved.crops["mobilenet"])), crop_rgb)
    assert np.array_equal(load_exact(Path(saved.crops["candidate-v2"])), floats)
    (entry,) = archive.entries()
    assert entry.time == pytest.approx(1_800_000_000.25)
    assert entry.path.name == "080000.250000_coop-door"  # UTC time, safe camera name


def test_retention_by_age_deletes_old_events_only(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    archive = Archive(tmp_path, ArchiveConfig(max_age_days=2, min_free_mb=0), clock=lambda: now[0])
    image = np.zeros((32, 32, 3), np.uint8)
    for age_days in (5, 3, 1, 0):
        archive.save("coop", now[0] - age_days * 86400, image, {})
    assert archive.enforce_retention() == 2
    assert [round((now[0] - e.time) / 86400) for e in archive.entries()] == [1, 0]


def test_retention_keeps_the_reserve_free_oldest_first(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    capacity = 6 * MB
    archive = Archive(root, ArchiveConfig(min_free_mb=2),
                      free_bytes=lambda _: capacity - _used(root))
    rng = np.random.default_rng(1)
    times = [1_800_000_000.0 + i for i in range(30)]
    for when in times:
        archive.save("coop", when, _noise(rng), {})
        assert capacity - _used(root) >= 2 * MB
    kept = [e.time for e in archive.entries()]
    assert 1 < len(kept) < len(times) and kept == times[-len(kept):]


def test_a_write_that_cannot_fit_even_in_an_empty_archive_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive = Archive(root, ArchiveConfig(min_free_mb=1), free_bytes=lambda _: MB + 1000)
    with pytest.raises(ArchiveFull, match="min_free_mb"):
        archive.save("coop", 1_800_000_000.0, _noise(np.random.default_rng(2)), {})
    assert archive.entries() == [] and not list(root.rglob(f"*{PART}"))


@pytest.fixture()
def small_fs(tmp_path: Path, tmpfs: Any) -> Iterator[Path]:
    """A real 8 MB tmpfs, unmounted after the test; skipped where mount is not allowed."""
    with tmpfs(tmp_path / "card", "8m") as mountpoint:
        yield mountpoint


def test_a_real_small_filesystem_never_fills(small_fs: Path) -> None:
    root = small_fs / "archive"
    archive = Archive(root, ArchiveConfig(min_free_mb=2, jpeg_quality=95))
    rng = np.random.default_rng(3)
    crop = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    for i in range(40):
        archive.save("coop", 1_800_000_000.0 + i, _noise(rng), {"primary": crop})
        assert shutil.disk_usage(small_fs).free >= 2 * MB
    kept = archive.entries()
    assert kept and kept[-1].time == 1_800_000_039.0 and len(kept) < 40
    # Someone else fills the card, again and again: retention deletes the oldest events to
    # make room, until even an empty archive would not leave the reserve: then it refuses.
    before = len(kept)
    for n in range(10):
        _fill(small_fs / f"other{n}", leave=MB // 2)
        when = 1_800_000_100.0 + n
        try:
            archive.save("coop", when, _noise(rng), {"primary": crop})
        except ArchiveFull:
            break
        times = [e.time for e in archive.entries()]
        assert times[-1] == when and len(times) < before
        assert shutil.disk_usage(small_fs).free >= 2 * MB
        before = len(times)
    else:
        pytest.fail("the archive never refused a write on a full card")
    assert archive.entries() == [] and not list(small_fs.rglob(f"*{PART}"))


def _fill(path: Path, leave: int) -> None:
    path.write_bytes(b"\0" * (shutil.disk_usage(path.parent).free - leave))


def _complete(path: Path) -> bool:
    if path.suffix == ".jpg":
        return path.read_bytes().endswith(b"\xff\xd9") and cv2.imread(str(path)) is not None
    return load_exact(path).shape in ((224, 224, 3), (512, 1024))


def test_a_kill_during_a_write_never_lists_a_half_file(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    saw_partial = False
    for attempt in range(20):
        child = subprocess.Popen([sys.executable, str(CHILD), "archive", str(root)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        child.stdout.readline()  # at least one event written: it is busy writing now
        time.sleep(0.01 * (attempt % 7))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        saw_partial |= any(root.rglob(f"*{PART}"))
        files = [f for entry in Archive.entries(_lister(root)) for f in entry.files]
        assert files and all(not f.name.endswith(PART) and _complete(f) for f in files)
        if saw_partial and attempt >= 3:
            break
    assert saw_partial, "no kill landed mid-write: the test proved nothing"
    Archive(root, ArchiveConfig(min_free_mb=0))  # opening cleans the leftovers
    assert not any(root.rglob(f"*{PART}"))


def _lister(root: Path) -> Archive:
    # List without the clean-up that __init__ does, to see what a reader finds after the kill.
    archive = Archive.__new__(Archive)
    archive.root = root
    return archive
