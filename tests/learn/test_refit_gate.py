"""A camera's re-fit decides near the crops it was fitted on, and the shipped head everywhere
else: on real frames of a nest-box camera and real photos of predators, through the models the
classifier runs."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from classifier import load_classifier
from classifier.config import ModelsConfig
from classifier.crop import crop_square
from classifier.feature_head import class_scores, shipped_head
from classifier.scene_gate import GatedHead
from edge.learn.default import SCHEME, PoolExtractor
from edge.learn.refit import refit_head, targets_for
from tests.conftest import SHARED_DATA


def manifest_files(manifest: Path, **match: str) -> list[Path]:
    with manifest.open(newline="", encoding="utf-8") as fh:
        return sorted(SHARED_DATA / r["file"] for r in csv.DictReader(fh)
                      if all(r[k] == v for k, v in match.items()))


@pytest.fixture(scope="module")
def embed(asset_store) -> Iterator[object]:  # type: ignore[no-untyped-def]
    with load_classifier(ModelsConfig(), asset_store) as zero_shot:
        extractor = PoolExtractor(shipped_head(), zero_shot.models)

        def features(paths: list[Path]) -> np.ndarray:
            rows = []
            for path in paths:
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                assert bgr is not None, path
                rgb = cv2.cvtColor(crop_square(bgr, (), size=224), cv2.COLOR_BGR2RGB)
                rows.append(extractor.embed(np.ascontiguousarray(rgb))[0][0])
            return np.array(rows)

        yield features


def test_the_re_fit_decides_its_own_scene_and_the_shipped_head_the_rest(embed) -> None:  # type: ignore[no-untyped-def]
    empty = manifest_files(SHARED_DATA / "train" / "MANIFEST.csv",
                           camera="chookeggcount:nestbox_cam", label="background")
    predators = manifest_files(SHARED_DATA / "MANIFEST.csv", label="predator")[:12]
    assert len(empty) >= 20 and len(predators) == 12
    given, held = embed(empty[::2]), embed(empty[1::2])   # alternate frames, as in time
    wild = embed(predators)
    base = shipped_head().layer
    refit = refit_head(base, given, targets_for(["background"] * len(given), SCHEME), 0.2)
    gated = GatedHead.around(base, refit, given)

    # Most held-out frames of the same nest box are its scene; no photo of a predator is.
    near_held = gated.gate.near(refit.standardised(held))
    assert near_held.mean() >= 0.8, near_held
    assert not gated.gate.near(refit.standardised(wild)).any()
    # Where it is near, the re-fit answers; elsewhere exactly the shipped head.
    np.testing.assert_array_equal(class_scores(gated, wild), class_scores(base, wild))
    np.testing.assert_allclose(class_scores(gated, held)[near_held],
                               class_scores(refit, held)[near_held])
    # The ungated re-fit does move the predators' scores, which the gate keeps.
    assert not np.allclose(class_scores(refit, wild), class_scores(base, wild), atol=1e-4)
