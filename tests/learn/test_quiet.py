"""Motion called nothing joins the empty scenes after the delay, unless the owner contested it."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from edge.learn.quiet import CONTEST_WINDOW_S, adopt_uncontested
from edge.learn.scenes import SceneStore
from tests.conftest import SHARED_DATA

DAY = SHARED_DATA / "train" / "background" / "chookegg__EggCheck_image_2016-06-18_0900.jpg"
NOON = time.mktime((2026, 6, 1, 12, 0, 0, 0, 0, -1))


def crop() -> np.ndarray:
    bgr = cv2.imread(str(DAY), cv2.IMREAD_COLOR)
    return cv2.cvtColor(cv2.resize(bgr, (224, 224)), cv2.COLOR_BGR2RGB)


def test_uncontested_nothing_joins_after_the_delay_and_contested_is_dropped(tmp_path: Path
                                                                           ) -> None:
    store = SceneStore(tmp_path, per_hour=8, refresh_h=0)
    for minutes in (0, 30, 120):
        assert store.hold("coop", NOON + minutes * 60, crop(), limit=10) is not None
    owner_said = [NOON + 30 * 60 + CONTEST_WINDOW_S / 2]  # "a fox" near the 30-minute one
    early = adopt_uncontested(store, "coop", NOON + 3600, 86400, owner_said)
    assert (early.joined, early.waiting) == (0, 3) and store.coverage("coop").crops == 0
    later = adopt_uncontested(store, "coop", NOON + 2 * 86400, 86400, owner_said)
    assert (later.joined, later.contested) == (2, 1)
    scenes = store.scenes("coop")
    assert [s.time for s in scenes] == [NOON, NOON + 7200]
    assert all(s.kind == "quiet" for s in scenes) and store.held("coop") == []


def test_held_crops_are_bounded(tmp_path: Path) -> None:
    store = SceneStore(tmp_path, per_hour=8, refresh_h=0)
    kept = [store.hold("coop", NOON + i, crop(), limit=2) for i in range(3)]
    assert kept[2] is None and len(store.held("coop")) == 2
