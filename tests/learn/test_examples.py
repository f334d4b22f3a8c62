"""A night's re-fit gathers each camera's examples; a crop that cannot be read back is left out
with a warning, not the end of the re-fit (a nightly timer would fail every night)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edge.learn.examples import scene_examples
from edge.learn.scenes import SceneStore

NOON = 1_765_022_400.0  # 6 Dec 2025, 12:00 UTC


def test_an_unreadable_scene_is_left_out_of_the_re_fit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SceneStore(tmp_path, per_hour=4, refresh_h=24.0, clock=lambda: NOON)
    rng = np.random.default_rng(3)
    kept = [store.add("yard", NOON + 3600 * h, rng.integers(0, 255, (64, 64, 3), np.uint8),
                      "still") for h in range(3)]
    assert all(kept)
    torn = kept[1]
    assert torn is not None
    torn.path.write_bytes(b"\x89PNG torn off")
    with caplog.at_level(logging.WARNING, logger="edge.learn.examples"):
        examples = scene_examples(store, "yard")
    assert sorted(e.path for e in examples) == sorted(s.path for s in kept if s is not torn)
    assert f"{torn.path}: not a readable image; left out of the re-fit" in caplog.text
