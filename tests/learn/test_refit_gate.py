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
from classifier.ensemble import Classifier
from classifier.feature_head import FeatureHead, class_scores, shipped_head
from classifier.scene_gate import GatedHead
from edge.learn.default import SCHEME, PoolExtractor
from edge.learn.refit import refit_head, targets_for
from tests.conftest import SHARED_DATA


def manifest_files(manifest: Path, **match: str) -> list[Path]:
    with manifest.open(newline="", encoding="utf-8") as fh:
        return sorted(SHARED_DATA / r["file"] for r in csv.DictReader(fh)
                      if all(r[k] == v for k, v in match.items()))


def crop_of(path: Path) -> np.ndarray:
    """The whole picture at ``path`` as the appliance's square RGB crop."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return np.ascontiguousarray(cv2.cvtColor(crop_square(bgr, (), size=224), cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="module")
def zero_shot(asset_store) -> Iterator[Classifier]:  # type: ignore[no-untyped-def]
    with load_classifier(ModelsConfig(), asset_store) as classifier:
        yield classifier


@pytest.fixture(scope="module")
def embed(zero_shot: Classifier) -> object:
    extractor = PoolExtractor(shipped_head(), zero_shot.models)

    def features(paths: list[Path]) -> np.ndarray:
        return np.array([extractor.embed(crop_of(path))[0][0] for path in paths])

    return features


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


def test_each_answer_says_whether_the_camera_s_re_fit_decided_it(  # type: ignore[no-untyped-def]
    embed, zero_shot: Classifier,
) -> None:
    """The classifier's answer for a crop of the re-fitted camera says whether its re-fit decided
    (the crop was within its scene); another camera's, or the shipped head's, says nothing."""
    empty = manifest_files(SHARED_DATA / "train" / "MANIFEST.csv",
                           camera="chookeggcount:nestbox_cam", label="background")
    predators = manifest_files(SHARED_DATA / "MANIFEST.csv", label="predator")[:6]
    given = embed(empty[::2])
    shipped = shipped_head()
    refit = refit_head(shipped.layer, given, targets_for(["background"] * len(given), SCHEME),
                       0.2)
    gated = GatedHead.around(shipped.layer, refit, given)
    pictures = empty[1::2] + predators
    expected = gated.gate.near(refit.standardised(embed(pictures)))
    assert expected.any() and not expected.all()  # both kinds of crop, so the check has teeth
    zero_shot.camera_heads = {"nest": FeatureHead(
        shipped.info.model_copy(update={"version": "gate-answer"}), gated)}
    try:
        nest = [zero_shot.classify(crop_of(p), "nest") for p in pictures]
        yard = [zero_shot.classify(crop_of(p), "yard") for p in pictures]
    finally:
        zero_shot.camera_heads = {}
    assert [a.within_scene for a in nest] == expected.tolist()
    assert {a.within_scene for a in yard} == {None}
