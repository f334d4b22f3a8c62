"""The bounded, per-camera store of this camera's own empty scenes.

Layout (the hour is the camera's local hour of day, when the scene was seen)::

    <state_dir>/learn/scenes/<camera>/<HH>/<YYYYmmddTHHMMSSZ>_<day|night>_<kind>.png

``kind`` is ``still`` (sampled while nothing moved) or ``quiet`` (motion the decider called
nothing and the owner never contested, see :mod:`edge.learn.quiet`). Crops are the square a
model sees, lossless. Each hour slot holds at most ``per_hour`` crops; a full slot replaces its
oldest only when that is older than ``refresh_h``, so a slot spans days, not the last hour,
and disk stays bounded at 24 x ``per_hour`` crops per camera. Files are written atomically
(the archive's :func:`~edge.events.archive.write_atomic`), so a power cut never leaves half a
crop under a real name.

The index of what is stored is kept in memory (filled from disk once per camera), so the frame
loop can ask :meth:`SceneStore.wants` without touching the card.

Example::

    store = SceneStore(state_dir / "learn" / "scenes", per_hour=8, refresh_h=72)
    if store.wants("coop", time.time()):
        store.add("coop", time.time(), crop_rgb, "still")
    store.coverage("coop").hours          # hours of the day with at least one crop
"""

from __future__ import annotations

import calendar
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.events.archive import PART, write_atomic
from edge.learn.light import LIGHTS, Light, light_of

log = logging.getLogger(__name__)

KINDS = ("still", "quiet")
PENDING = "pending"
_NAME = re.compile(r"^(\d{8}T\d{6}Z)_(day|night)_(still|quiet)(?:~\d+)?\.png$")
_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class Scene:
    """One stored crop: its file, when it was seen (Unix seconds), its light and kind."""

    path: Path
    time: float
    light: Light
    kind: str

    @property
    def hour(self) -> int:
        """The local hour of day it was seen in (its slot)."""
        return int(self.path.parent.name)

    def load(self) -> np.ndarray:
        """The crop, RGB uint8."""
        bgr = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"{self.path}: cannot read the scene crop")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of its own scene a camera has learned: crops, hours of the day covered, and
    crops by light."""

    camera: str
    crops: int
    hours: tuple[int, ...]
    by_light: dict[str, int]
    by_kind: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        """For ``--json``, ``doctor`` and the status file."""
        return {"camera": self.camera, "crops": self.crops, "hours_covered": len(self.hours),
                "hours": list(self.hours), "by_light": dict(self.by_light),
                "by_kind": dict(self.by_kind)}

    def describe(self) -> str:
        """One line for people."""
        lights = ", ".join(f"{self.by_light.get(light, 0)} {light}" for light in LIGHTS)
        return (f"{self.camera}: {self.crops} empty-scene crops, {len(self.hours)} of 24 hours "
                f"of the day ({lights})")


def hour_of(when: float) -> int:
    """The local hour of day of Unix time ``when``."""
    return time.localtime(when).tm_hour


def scene_name(when: float, light: Light, kind: str) -> str:
    """The file name of a crop seen at ``when`` (UTC in the name, so names sort in time)."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(when))}_{light}_{kind}.png"


def _parse(path: Path) -> Scene | None:
    m = _NAME.match(path.name)
    if m is None or not path.parent.name.isdigit():
        return None
    when = float(calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%SZ")))
    light: Light = "night" if m.group(2) == "night" else "day"
    return Scene(path, when, light, m.group(3))


class SceneStore:
    """Every camera's empty-scene crops under ``root``; thread-safe (one lock)."""

    def __init__(self, root: Path, per_hour: int, refresh_h: float, *,
                 clock: Callable[[], float] = time.time) -> None:
        if per_hour < 1:
            raise ValueError(f"per_hour must be >= 1, got {per_hour}")
        self.root = Path(root)
        self.per_hour = per_hour
        self.refresh_s = refresh_h * 3600.0
        self._clock = clock
        self._lock = threading.Lock()
        self._index: dict[str, dict[int, list[Scene]]] = {}

    def folder(self, camera: str) -> Path:
        """Where ``camera``'s crops live."""
        if not _SAFE.match(camera):
            raise ValueError(f"camera name {camera!r} must be letters, digits, _ or -")
        return self.root / camera

    def _slots(self, camera: str) -> dict[int, list[Scene]]:
        """The index of ``camera`` (read from disk the first time; caller holds the lock)."""
        slots = self._index.get(camera)
        if slots is None:
            slots = {h: [] for h in range(24)}
            folder = self.folder(camera)
            for path in sorted(folder.glob("[0-2][0-9]/*")) if folder.is_dir() else []:
                if path.name.endswith(PART):
                    path.unlink(missing_ok=True)  # a write cut short by a power cut
                    continue
                scene = _parse(path)
                if scene is not None and 0 <= scene.hour < 24:
                    slots[scene.hour].append(scene)
            for scenes in slots.values():
                scenes.sort(key=lambda s: s.time)
            self._index[camera] = slots
        return slots

    def wants(self, camera: str, when: float) -> bool:
        """Whether a crop seen at ``when`` would be kept: its hour slot has room, or its oldest
        crop is older than ``refresh_h``. No disk access after the camera's first call."""
        with self._lock:
            slot = self._slots(camera)[hour_of(when)]
            return len(slot) < self.per_hour or when - slot[0].time >= self.refresh_s

    def add(self, camera: str, when: float, rgb: np.ndarray, kind: str,
            light: Light | None = None) -> Scene | None:
        """Keep ``rgb`` (the crop a model sees, RGB uint8) as seen at ``when``; the oldest crop
        of a full slot goes. None when the slot does not want it (see :meth:`wants`)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"a scene crop is HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
        if not self.wants(camera, when):
            return None
        light = light or light_of(rgb)
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError("the crop could not be encoded as PNG")
        hour = hour_of(when)
        folder = self.folder(camera) / f"{hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / scene_name(when, light, kind)
        n = 1
        while path.exists():
            path = folder / f"{path.name.split('~')[0].removesuffix('.png')}~{n}.png"
            n += 1
        write_atomic(path, png.tobytes())
        scene = Scene(path, when, light, kind)
        with self._lock:
            slot = self._slots(camera)[hour]
            slot.append(scene)
            slot.sort(key=lambda s: s.time)
            while len(slot) > self.per_hour:
                slot.pop(0).path.unlink(missing_ok=True)
        return scene

    def hold(self, camera: str, when: float, rgb: np.ndarray, limit: int) -> Path | None:
        """Keep ``rgb`` aside as motion the decider called nothing at ``when``: it joins the
        scenes later if nobody contests it (:mod:`edge.learn.quiet`). At most ``limit`` wait
        per camera; beyond that it is not kept (None)."""
        folder = self.folder(camera) / PENDING
        waiting = sorted(folder.glob("*.png")) if folder.is_dir() else []
        if len(waiting) >= limit:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / scene_name(when, light_of(rgb), "quiet")
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError("the crop could not be encoded as PNG")
        write_atomic(path, png.tobytes())
        return path

    def held(self, camera: str) -> list[Scene]:
        """The crops waiting to join ``camera``'s scenes, oldest first (their hour is not a slot
        yet: :attr:`Scene.hour` is not meaningful for them)."""
        folder = self.folder(camera) / PENDING
        found = []
        for path in sorted(folder.glob("*.png")) if folder.is_dir() else []:
            m = _NAME.match(path.name)
            if m is not None:
                when = float(calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%SZ")))
                found.append(Scene(path, when, "night" if m.group(2) == "night" else "day",
                                   "quiet"))
        return found

    def scenes(self, camera: str) -> list[Scene]:
        """Every stored crop of ``camera``, oldest first."""
        with self._lock:
            every = [s for slot in self._slots(camera).values() for s in slot]
        return sorted(every, key=lambda s: s.time)

    def cameras(self) -> list[str]:
        """Cameras with a folder in the store."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _SAFE.match(p.name))

    def coverage(self, camera: str) -> Coverage:
        """How much of its scene ``camera`` has collected."""
        scenes = self.scenes(camera)
        return Coverage(
            camera, len(scenes), tuple(sorted({s.hour for s in scenes})),
            {light: sum(s.light == light for s in scenes) for light in LIGHTS},
            {kind: sum(s.kind == kind for s in scenes) for kind in KINDS},
        )


def scenes_dir(state_dir: Path) -> Path:
    """Where the appliance keeps its cameras' empty scenes: ``<state_dir>/learn/scenes``."""
    return Path(state_dir) / "learn" / "scenes"
