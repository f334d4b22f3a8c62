"""One camera's examples for a re-fit: its empty scenes and the owner's labels, fit or held out.

- **Empty scenes** (:class:`~edge.learn.scenes.SceneStore`): label ``background``; crops of the
  same camera in the same hour of the same day are near-duplicates, so that hour is their group.
- **The owner's labels** (``tensorchicken label``, ``labels.csv``) of this camera's archived
  events, with the exact crop the models saw (the archive keeps it): one group per event.

A group is **held out** (never fitted on, used to judge the re-fit) by a hash of its name: one
in ``SCENE_HOLD_OUT`` for scenes, one in ``LABEL_HOLD_OUT`` for labels; so an example keeps its
side from one night to the next as new ones arrive, and the judgement is never made on what was
fitted. Each labelled class with two groups or more has at least one on each side.

Example::

    examples = camera_examples("coop", scene_store, archived_crops(...), limit=2000)
    fit = [e for e in examples if not e.held_out]
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge.events.archive import event_camera, load_exact
from edge.learn.light import light_of
from edge.learn.scenes import SceneStore
from edge.train.labels import ArchivedCrop

log = logging.getLogger(__name__)

SCENE_HOLD_OUT = 4
LABEL_HOLD_OUT = 3
OWNER = "owner"


@dataclass(frozen=True, slots=True)
class Example:
    """One crop of one camera: what it is (a verdict), where it came from, its side."""

    camera: str
    path: Path
    label: str
    kind: str  # "still" or "quiet" (empty scenes) or "owner" (labelled by the owner)
    light: str
    when: float
    group: str
    held_out: bool

    def load(self) -> np.ndarray:
        """The crop, RGB uint8, exactly as the models saw it (or as the collector cut it)."""
        return load_exact(self.path)


def _bucket(group: str, every: int) -> bool:
    return int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) % every == 0


def scene_examples(store: SceneStore, camera: str) -> list[Example]:
    """``camera``'s empty-scene crops, grouped by local hour of day and date."""
    found = []
    for s in store.scenes(camera):
        if not _readable(s.path):
            continue
        group = f"{camera}:{time.strftime('%Y%m%d%H', time.localtime(s.time))}"
        found.append(Example(camera, s.path, "background", s.kind, s.light, s.time, group,
                             _bucket(group, SCENE_HOLD_OUT)))
    return found


def owner_examples(crops: Sequence[ArchivedCrop], camera: str) -> list[Example]:
    """The owner's labels of ``camera``'s archived events, with the crops the models saw."""
    found = []
    for c in crops:
        if c.correction is None or event_camera(c.event) != camera or not _readable(c.crop):
            continue
        found.append(Example(camera, c.crop, c.correction.label, OWNER, _light(c.crop), c.time,
                             c.event, _bucket(c.event, LABEL_HOLD_OUT)))
    return _both_sides(found)


def _readable(path: Path) -> bool:
    """Whether the crop in ``path`` can be read back; one that cannot (a torn write, a bad
    sector) is left out of the re-fit with a warning, not the end of the night's re-fit."""
    try:
        load_exact(path)
    except (OSError, ValueError) as exc:
        log.warning("learn: %s; left out of the re-fit", exc)
        return False
    return True


def _light(path: Path) -> str:
    try:
        return light_of(load_exact(path))
    except (OSError, ValueError):
        return "day"


def _both_sides(examples: list[Example]) -> list[Example]:
    """Each label with two groups or more gets one held out and one fitted, at least."""
    out = list(examples)
    for label in sorted({e.label for e in out}):
        mine = [i for i, e in enumerate(out) if e.label == label]
        if len({out[i].group for i in mine}) < 2:
            continue
        if not any(out[i].held_out for i in mine):
            out[mine[-1]] = replace(out[mine[-1]], held_out=True)
        elif all(out[i].held_out for i in mine):
            out[mine[0]] = replace(out[mine[0]], held_out=False)
    return out


def camera_examples(camera: str, store: SceneStore, crops: Sequence[ArchivedCrop],
                    limit: int) -> list[Example]:
    """Every example of ``camera``: scenes then owner labels; at most ``limit`` scenes (the
    newest), since owner labels are few and each counts."""
    scenes = scene_examples(store, camera)[-limit:]
    return scenes + owner_examples(crops, camera)
