"""A camera's re-fitted default head waiting for its judgement is scored beside the blended
default head on every crop of that camera, from the same features, and never decides; what
edge.learn.shadow reads from its answer in an event is the verdict it gives once promoted for that
camera; another camera's crops are decided by the default head all along."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from classifier import load_classifier
from classifier.config import ModelsConfig
from classifier.ensemble import Classifier, Thresholds
from classifier.feature_head import FeatureHead, shipped_head
from edge.event import Event
from edge.learn.shadow import candidate_verdict
from tests.conftest import SHARED_DATA


def other_head() -> FeatureHead:
    """The shipped head with its predator and chicken classes swapped (a new name): a re-fit
    gone badly wrong, which decides otherwise on many crops."""
    shipped = shipped_head()
    order = list(shipped.head.classes)
    p, c = order.index("predator"), order.index("chicken")
    swap = list(range(len(order)))
    swap[p], swap[c] = c, p
    head = dataclasses.replace(shipped.head, weights=shipped.head.weights[:, swap],
                               bias=shipped.head.bias[swap])
    return FeatureHead(shipped.info.model_copy(update={"version": "shadow-test"}), head)


def crops() -> Iterator[np.ndarray]:
    """A few of each label of the shared photos, as day colour and as grey (night IR)."""
    with (SHARED_DATA / "MANIFEST.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for label in ("predator", "chicken", "background"):
        for row in [r for r in rows if r["label"] == label][:4]:
            bgr = cv2.imread(str(SHARED_DATA / row["file"]))
            if bgr is None:
                continue
            rgb = cv2.cvtColor(cv2.resize(bgr, (224, 224)), cv2.COLOR_BGR2RGB)
            grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            yield np.ascontiguousarray(rgb)
            yield np.ascontiguousarray(grey)


@pytest.fixture(scope="module")
def classifier(asset_store) -> Iterator[Classifier]:  # type: ignore[no-untyped-def]
    with load_classifier(ModelsConfig(), asset_store) as c:
        yield c


def test_the_shadow_is_scored_beside_the_default_head_and_changes_no_decision(
    classifier: Classifier,
) -> None:
    shadow = other_head()
    pictures = list(crops())
    alone = [classifier.classify(c, "nest") for c in pictures]
    classifier.shadow_heads = {"nest": shadow}
    try:
        beside = [classifier.classify(c, "nest") for c in pictures]
        elsewhere = [classifier.classify(c, "yard") for c in pictures]
    finally:
        classifier.shadow_heads = {}
    assert len(pictures) >= 20
    for a, b, other in zip(alone, beside, elsewhere, strict=True):
        assert shadow.name in b.models and shadow.name not in a.models
        assert shadow.name not in other.models  # the nest camera's shadow, not the yard's
        assert (b.verdict, b.predator_score, b.chicken_score, b.decided_by) == \
            (a.verdict, a.predator_score, a.chicken_score, a.decided_by)


def test_its_verdict_read_from_an_event_is_the_one_it_gives_when_promoted_for_its_camera(
    classifier: Classifier,
) -> None:
    shadow, running = other_head(), classifier.head
    assert running is not None
    pictures = list(crops())
    classifier.shadow_heads = {"nest": shadow}
    try:
        as_shadow = [classifier.classify(c, "nest") for c in pictures]
    finally:
        classifier.shadow_heads = {}
    classifier.camera_heads = {"nest": shadow}  # promoted: blended for the nest camera now
    try:
        promoted = [classifier.classify(c, "nest") for c in pictures]
        yard = [classifier.classify(c, "yard") for c in pictures]
        unknown = [classifier.classify(c) for c in pictures]
    finally:
        classifier.camera_heads = {}
    said, changed = [], 0
    for answer, truth in zip(as_shadow, promoted, strict=True):
        event = Event(camera="nest", start_time=0.0, end_time=1.0, verdict=answer.verdict.value,
                      label=answer.label, score=answer.score,
                      scores={n: s.to_dict() for n, s in answer.models.items()},
                      decision={"predator_score": answer.predator_score,
                                "chicken_score": answer.chicken_score,
                                "zero_shot_chicken": answer.zero_shot_chicken})
        said.append(candidate_verdict(event, shadow.name, running.name, shadow.info.blend,
                                      classifier.thresholds))
        changed += truth.verdict != answer.verdict
    assert all(a.zero_shot_chicken is not None for a in as_shadow)
    assert said == [t.verdict.value for t in promoted]
    assert changed > 0  # the moved head decides otherwise somewhere, so the check has teeth
    # The other camera, and a picture of no camera, are still decided by the default head.
    for a, y, u in zip(as_shadow, yard, unknown, strict=True):
        assert running.name in y.models and shadow.name not in y.models
        assert (y.verdict, y.predator_score) == (u.verdict, u.predator_score) == \
            (a.verdict, a.predator_score)


def test_a_candidate_s_chicken_score_is_the_higher_of_its_own_and_the_zero_shot_models() -> None:
    # The running head saw no hen (0.1), nor did the zero-shot models (0.05); the candidate
    # does (0.6). Recorded now, the event keeps the zero-shot models' chicken score, and the
    # candidate's is the higher of the two: a hen. An event recorded when chicken scores were
    # blended in log-odds has no such field and is judged as it was blended then: 0.16.
    scores = {"candidate": {"predator": 0.1, "chicken": 0.6},
              "running": {"predator": 0.2, "chicken": 0.1}}
    now = Event(camera="nest", start_time=0.0, end_time=1.0, verdict="background",
                label="hay", score=0.9, scores=scores,
                decision={"predator_score": 0.3, "chicken_score": 0.1,
                          "zero_shot_chicken": 0.05})
    before = dataclasses.replace(now, decision={"predator_score": 0.3, "chicken_score": 0.05})
    thresholds = Thresholds()
    assert candidate_verdict(now, "candidate", "running", 0.5, thresholds) == "chicken"
    assert candidate_verdict(before, "candidate", "running", 0.5, thresholds) == "background"
