"""Motion episodes into events: the most telling frame is kept, background-only visits are not
logged, and an event carries every model's answer and why nothing fired."""

from __future__ import annotations

import time

import numpy as np
import pytest

from camera.frame import Frame
from classifier import load_classifier, load_image
from classifier.config import ModelsConfig
from classifier.feature_head import shipped_head
from edge.episode import Episode, event_from, worth_logging
from tests.conftest import SHARED_DATA

HEN = SHARED_DATA / "images" / "chicken" / "h730breeds__australorp.jpg"
FOX = SHARED_DATA / "images" / "predator" / "wikianimals__fox.webp"
FENCE = SHARED_DATA / "images" / "background" / "inet__n03930313_picket_fence.JPEG"


@pytest.fixture(scope="module")
def classify(asset_store):  # type: ignore[no-untyped-def]
    classifier = load_classifier(ModelsConfig(), asset_store)
    yield lambda path: classifier.classify(load_image(path))
    classifier.close()


def frame(seq: int) -> Frame:
    image = np.full((90, 160, 3), seq, np.uint8)
    return Frame(seq, image, image[..., 0], time.monotonic_ns(), 1_700_000_000.0 + seq)


def test_the_predator_frame_is_the_snapshot_whatever_the_order(classify) -> None:  # type: ignore[no-untyped-def]
    episode = Episode("coop", 1_700_000_000.0, time.monotonic())
    crop = np.zeros((224, 224, 3), np.uint8)
    for seq, (path, rule) in enumerate(
        [(HEN, "no_predator"), (FOX, "held"), (HEN, "no_predator")]
    ):
        episode.consider(frame(seq), classify(path), crop, {"total": 10.0}, rule,
                         confirmed=rule == "held")
    assert episode.best is not None
    assert episode.best.classification.verdict.value == "predator"
    assert int(episode.best.snapshot[0, 0, 0]) == 1  # the fox's frame, copied
    assert episode.verdicts == {"chicken": 2, "predator": 1}
    assert episode.rules == {"no_predator": 2, "held": 1}


def test_a_predator_frame_of_an_unconfirmed_visit_is_never_its_sighting(classify) -> None:  # type: ignore[no-untyped-def]
    # A person walking past: one frame taken for a dog, the others background. The visit never
    # confirmed, so it must not be logged (nor published) as a predator.
    episode = Episode("yard", 1_700_000_000.0, time.monotonic())
    crop = np.zeros((8, 8, 3), np.uint8)
    episode.consider(frame(0), classify(FENCE), crop, {}, "no_predator", confirmed=False)
    episode.consider(frame(1), classify(FOX), crop, {}, "unconfirmed", confirmed=False)
    episode.consider(frame(2), classify(FENCE), crop, {}, "no_predator", confirmed=False)
    assert episode.verdicts == {"background": 2, "predator": 1}
    assert episode.best is not None and episode.best.classification.verdict.value == "background"
    assert not worth_logging(episode)


def test_an_event_holds_every_model_and_the_reason(classify) -> None:  # type: ignore[no-untyped-def]
    episode = Episode("coop", 1_700_000_000.0, time.monotonic())
    episode.consider(
        frame(0), classify(FOX), np.zeros((8, 8, 3), np.uint8), {"total": 12.345}, "held",
        confirmed=True,
    )
    event = event_from(episode, 1_700_000_005.0, [], {"rule": "no firing", "rules": episode.rules})
    assert event.verdict == "predator" and event.deterrents == []
    assert set(event.scores) == {"mobilenet_v2_imagenet", "mobilenet_v2_inat_birds",
                                 shipped_head().name}
    assert event.decision["rules"] == {"held": 1}
    # The default head was blended: the zero-shot models' own chicken score is kept, and the
    # decided one is the higher of it and the head's.
    best = episode.best
    assert best is not None
    zero_shot = event.decision["zero_shot_chicken"]
    assert zero_shot == best.classification.zero_shot_chicken is not None
    assert event.decision["chicken_score"] == pytest.approx(
        max(zero_shot, event.scores[shipped_head().name]["chicken"]), abs=1e-4)
    assert event.latency_ms == {"total": 12.35}
    assert event.to_dict()["time"] == 1_700_000_000.0


def test_background_only_visits_are_not_logged(classify) -> None:  # type: ignore[no-untyped-def]
    episode = Episode("yard", 1_700_000_000.0, time.monotonic())
    assert not worth_logging(episode)
    episode.consider(frame(0), classify(FENCE), np.zeros((8, 8, 3), np.uint8), {}, "no_predator",
                     confirmed=False)
    assert episode.best is not None and episode.best.classification.verdict.value == "background"
    assert not worth_logging(episode)
    episode.consider(frame(1), classify(HEN), np.zeros((8, 8, 3), np.uint8), {}, "no_predator",
                     confirmed=False)
    assert worth_logging(episode)
