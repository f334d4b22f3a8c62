"""The local archive: each event's snapshot and the exact input every model saw.

Layout (UTC, so the names sort in time order across DST changes)::

    <root>/2026-05-01/211403.250117_coop/snapshot.jpg
                                         crop_mobilenet.png    # lossless: the exact uint8 input
                                         crop_candidate.npy    # any other dtype, bit for bit

Every file is written under a temporary name (``*.part``), fsynced, renamed and its folder
fsynced, so a power cut or a kill never leaves a half file under a real name; ``*.part``
leftovers are removed at start and are never listed. Retention deletes whole events, oldest
first: those older than ``max_age_days``, then as many as needed to keep ``min_free_mb`` free
after the next write. If even an empty archive would leave less than that, the write is refused
(:class:`ArchiveFull`) rather than filling the card.

Example::

    archive = Archive(state_dir / "archive", cfg.reporters.archive)
    saved = archive.save("coop", time.time(), frame_bgr, {"mobilenet": crop_rgb})
    event.snapshot, event.crops = saved.snapshot, saved.crops
"""

from __future__ import annotations

import calendar
import contextlib
import io
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.config.reporters import ArchiveConfig
from edge.events.errors import ArchiveError, ArchiveFull
from groundwork.durable import fsync_path, replace_durably, write_durably

log = logging.getLogger(__name__)

PART = ".part"
# Clips being recorded, under names of their own: never an event's file until finished.
RECORDING = ".recording"
_EVENT_DIR = re.compile(r"^(\d{6}\.\d{6})_([A-Za-z0-9_-]+?)(?:~\d+)?$")
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SWEEP_EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class SavedImages:
    """Where :meth:`Archive.save` put an event's images (absolute paths as strings)."""

    snapshot: str | None = None
    crops: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArchivedEvent:
    """One event's folder in the archive: its time (Unix seconds) and complete files."""

    path: Path
    time: float
    files: tuple[Path, ...]

    @property
    def size(self) -> int:
        """Bytes on disk (files only)."""
        return sum(f.stat().st_size for f in self.files if f.exists())


def event_camera(folder_name: str) -> str | None:
    """The camera an event folder (``211403.250117_coop`` or ``.../211403.250117_coop~1``)
    belongs to; None if the name is not an event folder's."""
    m = _EVENT_DIR.match(folder_name.rstrip("/").rsplit("/", 1)[-1])
    return m.group(2) if m else None


def disk_free(path: Path) -> int:
    """Bytes free for an unprivileged writer on the filesystem holding ``path``."""
    return shutil.disk_usage(path).free


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either absent or complete, never half
    (through ``<name>.part``, which a restart sweeps; private: the owner's photos)."""
    try:
        write_durably(path, data, temp=path.with_name(path.name + PART))
    except OSError as exc:
        raise ArchiveError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc


def encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    """A BGR (or grey) uint8 image as JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image_bgr.shape} {image_bgr.dtype} image as JPEG")
    return buf.tobytes()


def encode_exact(array: np.ndarray) -> tuple[str, bytes]:
    """A model input, losslessly: PNG for uint8 RGB or grey (viewable), else ``.npy``."""
    if array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        # PNG stores what OpenCV is given as B,G,R: reverse the RGB crop so viewers show it right.
        pixels = array if array.ndim == 2 else np.ascontiguousarray(array[..., ::-1])
        ok, buf = cv2.imencode(".png", pixels)
        if ok:
            return ".png", buf.tobytes()
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return ".npy", out.getvalue()


def load_exact(path: Path) -> np.ndarray:
    """Read back a model input written by :func:`encode_exact` (RGB for PNG)."""
    if path.suffix == ".npy":
        return np.asarray(np.load(path, allow_pickle=False))
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ArchiveError(f"{path}: not a readable image")
    return image if image.ndim == 2 else np.ascontiguousarray(image[..., ::-1])


class Archive:
    """Snapshots and model inputs on local disk, with retention by age and by free space.

    ``free_bytes`` (default: the filesystem's) and ``clock`` are injectable for tests.
    Not thread-safe: one writer (the :class:`~edge.events.recorder.Recorder` thread).
    """

    def __init__(self, root: Path, cfg: ArchiveConfig, *,
                 free_bytes: Callable[[Path], int] = disk_free,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.cfg = cfg
        self._free = free_bytes
        self._clock = clock
        self._last_sweep = float("-inf")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a full disk at start: each save tries again
            log.error("archive: cannot create %s now: %s", self.root, exc.strerror)
        self._remove_partials()

    @property
    def reserve_bytes(self) -> int:
        """The free space retention keeps."""
        return int(self.cfg.min_free_mb * 1024 * 1024)

    def free_bytes(self) -> int:
        """Bytes free on the archive's filesystem now."""
        return self._free(self.root)

    def save(self, camera: str, when: float, snapshot_bgr: np.ndarray | None,
             crops: dict[str, np.ndarray]) -> SavedImages:
        """Encode and write one event's images; raises :class:`ArchiveFull` or ArchiveError."""
        blobs: dict[str, bytes] = {}
        if snapshot_bgr is not None:
            blobs["snapshot.jpg"] = encode_jpeg(snapshot_bgr, self.cfg.jpeg_quality)
        if self.cfg.save_crops:
            for model, array in crops.items():
                suffix, data = encode_exact(array)
                blobs[f"crop_{_SAFE.sub('-', model)}{suffix}"] = data
        if not blobs:
            return SavedImages()
        self._make_room(sum(len(b) for b in blobs.values()))
        folder = self._new_folder(camera, when)
        for name, data in blobs.items():
            write_atomic(folder / name, data)
        return self._saved(folder, blobs)

    def adopt_clip(self, camera: str, when: float, snapshot: str | None, clip: Path) -> Path:
        """Move a finished clip (a file under :meth:`recording_dir`) into its event's folder,
        the snapshot's (a new one when the event has none), durably: until this returns the
        clip has no event's name. Raises :class:`ArchiveFull` or ArchiveError; the clip is
        removed either way on failure."""
        try:
            self._make_room(clip.stat().st_size)
            folder = Path(snapshot).parent if snapshot else self._new_folder(camera, when)
            target = folder / ("clip" + clip.suffix)
            replace_durably(clip, target)
        except ArchiveError:
            raise
        except OSError as exc:
            raise ArchiveError(exc.errno, f"cannot archive the clip {clip}: {exc.strerror}"
                               ) from exc
        finally:
            clip.unlink(missing_ok=True)
        return target

    def recording_dir(self) -> Path:
        """Where clips are written while they are recorded (same filesystem: adopted by a
        rename); emptied at start, as a kill leaves a clip there half written."""
        folder = self.root / RECORDING
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _saved(self, folder: Path, blobs: dict[str, bytes]) -> SavedImages:
        snapshot = str(folder / "snapshot.jpg") if "snapshot.jpg" in blobs else None
        crops = {}
        for name in blobs:
            if name.startswith("crop_"):
                crops[Path(name).stem.removeprefix("crop_")] = str(folder / name)
        return SavedImages(snapshot=snapshot, crops=crops)

    def _new_folder(self, camera: str, when: float) -> Path:
        stamp = time.gmtime(when)
        day = self.root / time.strftime("%Y-%m-%d", stamp)
        micros = int(when % 1 * 1e6)
        base = f"{time.strftime('%H%M%S', stamp)}.{micros:06d}_{_SAFE.sub('-', camera)}"
        new_day = not day.exists()
        day.mkdir(parents=True, exist_ok=True)
        if new_day:
            fsync_path(self.root)
        for n in range(1000):
            folder = day / (base if n == 0 else f"{base}~{n}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            fsync_path(day)
            return folder
        raise ArchiveError(f"{day}: too many events named {base}")

    def entries(self) -> list[ArchivedEvent]:
        """Every archived event, oldest first, with its complete files only."""
        found = []
        for day in sorted(p for p in self._listdir(self.root) if _DATE_DIR.match(p.name)):
            for folder in sorted(self._listdir(day)):
                when = _folder_time(day.name, folder.name)
                if when is None or not folder.is_dir():
                    continue  # not ours: never list or delete it
                files = tuple(sorted(f for f in self._listdir(folder) if not f.name.endswith(PART)))
                found.append(ArchivedEvent(folder, when, files))
        return found

    @staticmethod
    def _listdir(path: Path) -> list[Path]:
        try:
            return list(path.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def enforce_retention(self, need_bytes: int = 0) -> int:
        """Delete events past ``max_age_days``, then the oldest until ``need_bytes`` plus the
        reserve are free. Returns the number of events deleted."""
        self._last_sweep = self._clock()
        oldest_kept = self._clock() - self.cfg.max_age_days * 86400
        entries = self.entries()
        deleted = 0
        for entry in entries:
            if entry.time >= oldest_kept and self.free_bytes() >= need_bytes + self.reserve_bytes:
                break
            self._delete(entry)
            deleted += 1
        if deleted:
            log.info("archive: deleted %d old event(s); %.1f MB free", deleted,
                     self.free_bytes() / 2**20)
        return deleted

    def _make_room(self, need_bytes: int) -> None:
        short = self.free_bytes() < need_bytes + self.reserve_bytes
        if short or self._clock() - self._last_sweep >= _SWEEP_EVERY_S:
            self.enforce_retention(need_bytes)
        free = self.free_bytes()
        if free < need_bytes + self.reserve_bytes:
            raise ArchiveFull(
                f"{self.root}: {need_bytes} bytes to write but only {free} free and "
                f"{self.reserve_bytes} must stay free (archive.min_free_mb); nothing older "
                "is left to delete")

    def _delete(self, entry: ArchivedEvent) -> None:
        shutil.rmtree(entry.path, ignore_errors=True)
        day = entry.path.parent
        with contextlib.suppress(OSError):
            day.rmdir()  # only when empty

    def _remove_partials(self) -> None:
        for tmp in [*self.root.glob(f"*/*/*{PART}"), *self.root.glob(f"{RECORDING}/*")]:
            log.info("archive: removing %s, left by an interrupted write", tmp)
            tmp.unlink(missing_ok=True)


def _folder_time(day: str, name: str) -> float | None:
    match = _EVENT_DIR.match(name)
    if not match:
        return None
    try:
        stamp = time.strptime(f"{day} {match.group(1)[:6]}", "%Y-%m-%d %H%M%S")
    except ValueError:
        return None
    return calendar.timegm(stamp) + float("0" + match.group(1)[6:])
