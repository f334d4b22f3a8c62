"""How much of its own scene each camera has learned, and the last re-fit, as metrics.

Read at scrape time (:class:`~edge.health.metrics.ScrapeTimeGauges`): the scene store's index is
in memory, the record a small file.

- ``tensorchicken_scene_crops{camera,light}``: empty-scene crops kept, by day and night;
- ``tensorchicken_scene_hours_covered{camera}``: hours of the day (of 24) with at least one;
- ``tensorchicken_learn_last_refit_timestamp_seconds``: when the last re-fit ran;
- ``tensorchicken_learn_candidate_waiting``: 1 while a re-fitted head waits as a shadow;
- ``tensorchicken_learn_held_out_empty_alarms{camera,head}``: what the last re-fit changed on
  each camera: of its held-out empty scenes, how many the running head and the re-fit
  (``head="running"`` / ``"candidate"``) call predator;
- ``tensorchicken_learn_held_out_empty_scenes{camera}``: how many it held out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge.health.appliance_metrics import PREFIX
from edge.health.metrics import ScrapeTimeGauges
from edge.learn.light import LIGHTS
from edge.learn.record import LearnRecord
from edge.learn.scenes import SceneStore

CROPS = PREFIX + "scene_crops"
HOURS = PREFIX + "scene_hours_covered"
LAST_REFIT = PREFIX + "learn_last_refit_timestamp_seconds"
WAITING = PREFIX + "learn_candidate_waiting"
EMPTY_ALARMS = PREFIX + "learn_held_out_empty_alarms"
EMPTY_HELD = PREFIX + "learn_held_out_empty_scenes"


def watch_learning(gauges: ScrapeTimeGauges, store: SceneStore, record: LearnRecord,
                   cameras: Sequence[str]) -> None:
    """Define the learning figures in ``gauges``, read from ``store`` and ``record``."""
    gauges.define(CROPS, "Empty-scene crops kept per camera", ("camera", "light"))
    gauges.define(HOURS, "Hours of the day (of 24) with empty-scene crops", ("camera",))
    gauges.define(LAST_REFIT, "Unix time of the last re-fit of the head on the cameras' scenes")
    gauges.define(WAITING, "1 while a re-fitted head waits as a shadow for its judgement")
    gauges.define(EMPTY_ALARMS, "Held-out empty scenes called predator at the last re-fit, by "
                  "the running head and by the re-fit", ("camera", "head"))
    gauges.define(EMPTY_HELD, "Empty scenes held out at the last re-fit", ("camera",))
    for camera in cameras:
        for light in LIGHTS:
            gauges.watch(CROPS, _crops_of(store, camera, light), camera=camera, light=light)
        gauges.watch(HOURS, _hours_of(store, camera), camera=camera)
        gauges.watch(EMPTY_HELD, _held_out(record, camera, "n"), camera=camera)
        for head in ("running", "candidate"):
            gauges.watch(EMPTY_ALARMS, _held_out(record, camera, f"{head}_alarms"),
                         camera=camera, head=head)

    def last_refit() -> float | None:
        run = record.last("refit")
        return None if run is None else float(run["at"])

    gauges.watch(LAST_REFIT, last_refit)
    gauges.watch(WAITING, lambda: float(record.candidate() is not None))


def _crops_of(store: SceneStore, camera: str, light: str) -> Callable[[], float]:
    return lambda: float(store.coverage(camera).by_light.get(light, 0))


def _hours_of(store: SceneStore, camera: str) -> Callable[[], float]:
    return lambda: float(len(store.coverage(camera).hours))


def _held_out(record: LearnRecord, camera: str, key: str) -> Callable[[], float | None]:
    """A figure of ``camera``'s held-out empty scenes at the last re-fit (None before one, or
    when it did not compare that camera)."""
    def read() -> float | None:
        run = record.last("refit")
        found = next((c for c in (run or {}).get("offline", {}).get("cameras", [])
                      if c.get("camera") == camera), None)
        return None if found is None else float(found["empty"][key])
    return read
