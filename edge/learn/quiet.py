"""Motion the decider called nothing, and the owner did not contest, joins the empty scenes.

The appliance does not log a visit whose best answer was "background" (a swaying branch, a
moth, the shadow of a cloud), so the owner never sees it. Its crop is held aside
(:meth:`SceneStore.hold`); after ``uncontested_after_h`` it joins the camera's scenes as a
``quiet`` crop, unless the owner contested it meanwhile: labelled an event of the same camera
within ``CONTEST_WINDOW_S`` of it as something (a hen, a predator). An owner who says "there
was a fox at 03:12" makes every "nothing" of that camera around 03:12 suspect, and it is
dropped rather than taught as empty.

Example::

    adopt_uncontested(store, "coop", time.time(), delay_s=86400, owner_said=[t1, t2])
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edge.learn.scenes import SceneStore

log = logging.getLogger(__name__)

# An owner's label of "something" this close in time to a "nothing" contests it.
CONTEST_WINDOW_S = 900.0


@dataclass(frozen=True, slots=True)
class Adopted:
    """What one pass did with the held crops of a camera."""

    joined: int
    contested: int
    waiting: int
    not_wanted: int


def contested(when: float, owner_said: Sequence[float]) -> bool:
    """Whether an owner's label of something (times, sorted) falls within the window of
    ``when``."""
    i = bisect.bisect_left(owner_said, when - CONTEST_WINDOW_S)
    return i < len(owner_said) and owner_said[i] <= when + CONTEST_WINDOW_S


def adopt_uncontested(store: SceneStore, camera: str, now: float, delay_s: float,
                      owner_said: Sequence[float]) -> Adopted:
    """Move ``camera``'s held crops older than ``delay_s`` into its scenes, except those
    contested (``owner_said``: times of the owner's labels of something on this camera)."""
    said = sorted(owner_said)
    joined = dropped = waiting = refused = 0
    for scene in store.held(camera):
        if now - scene.time < delay_s:
            waiting += 1
            continue
        if contested(scene.time, said):
            dropped += 1
        elif store.add(camera, scene.time, scene.load(), "quiet", scene.light) is not None:
            joined += 1
        else:
            refused += 1  # its hour is full of fresher crops
        scene.path.unlink(missing_ok=True)
    if joined or dropped:
        log.info("camera %s: %d uncontested 'nothing' crops joined its scenes, %d contested "
                 "ones dropped", camera, joined, dropped)
    return Adopted(joined, dropped, waiting, refused)
