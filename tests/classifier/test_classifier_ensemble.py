"""The classifier over real models and photos, and how the models' answers are combined."""

from __future__ import annotations

import itertools
import threading

import cv2
import numpy as np
import pytest

from camera.box import Box
from classifier import (
    Classifier,
    ModelError,
    Verdict,
    combine,
    crop_square,
    load_classifier,
    load_image,
)
from classifier.blend import blend, hen_score
from classifier.config import ModelsConfig, ModelUse
from classifier.ensemble import Answer, Evidence, Thresholds, by_priority, verdict_for
from edge.assets import AssetStore
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA / "images"
OWL = DATA / "predator" / "coral__owl.jpg"
HEN = DATA / "chicken" / "c4f__47.png"  # a backyard hen (name banner over the bottom third)


def _uses(*pairs: tuple[str, str]) -> ModelsConfig:
    return ModelsConfig(use=[ModelUse(name=n, role=r, threads=1) for n, r in pairs])  # type: ignore[call-arg, arg-type]


def test_golden_inat_owl_is_predator_hen_is_chicken(default_classifier: Classifier) -> None:
    owl = default_classifier.classify(load_image(OWL))
    inat = owl.models["mobilenet_v2_inat_birds"]
    assert inat.verdict is Verdict.PREDATOR and inat.label.startswith("Athene cunicularia")
    assert owl.verdict is Verdict.PREDATOR
    hen = default_classifier.classify(load_image(HEN))
    assert hen.models["mobilenet_v2_inat_birds"].verdict is Verdict.CHICKEN
    assert hen.verdict is Verdict.CHICKEN and hen.models["mobilenet_v2_imagenet"].label == "hen"


def test_classification_carries_every_model(default_classifier: Classifier) -> None:
    result = default_classifier.classify(load_image(OWL))
    assert default_classifier.model_names == ("mobilenet_v2_imagenet", "mobilenet_v2_inat_birds")
    assert default_classifier.head is not None  # the default head, used in every light
    assert set(result.models) == {*default_classifier.model_names, default_classifier.head.name}
    assert result.decided_by in result.models
    for score in result.models.values():
        assert len(score.top) == 3 and score.top[0][1] >= score.top[1][1]
        assert 0 < score.invoke_ms <= score.total_ms


def test_crop_of_a_small_bird_in_a_wide_frame(default_classifier: Classifier) -> None:
    # The owl pasted small into a wide empty frame: classified whole it is a few pixels; the crop
    # around its box gives it back to the model.
    owl_bgr = load_image(OWL)[..., ::-1]
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    frame[400 : 400 + 150, 900 : 900 + 108] = cv2.resize(owl_bgr, (108, 150))
    box = Box(900 / 1920, 400 / 1080, 108 / 1920, 150 / 1080)
    crop = crop_square(frame, [box], size=224)
    assert default_classifier.classify(crop).verdict is Verdict.PREDATOR


def test_thread_safe_same_answers(default_classifier: Classifier) -> None:
    """Two threads classifying at once: every model that answers gives exactly its answer
    alone (no interpreter mixes two crops); a critical model busy with the other thread's crop
    is skipped by design, and the answer names it (the head, which reads both models'
    features, is then left out too)."""
    pictures = [load_image(OWL), load_image(HEN)]
    expected = [default_classifier.classify(p) for p in pictures]
    got: dict[int, list[Answer]] = {0: [], 1: []}

    def work(i: int) -> None:
        for _ in range(5):
            got[i].append(default_classifier.classify(pictures[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, answers in got.items():
        assert len(answers) == 5
        for answer in answers:
            for name, score in answer.models.items():
                assert score.predator_score == expected[i].models[name].predator_score
                assert score.chicken_score == expected[i].models[name].chicken_score
                assert score.top == expected[i].models[name].top
            missing = set(expected[i].models) - set(answer.models)
            skipped = set(answer.busy) | set(answer.late)
            assert missing <= skipped | ({default_classifier.head.name} if skipped
                                         and default_classifier.head else set())
            if not missing:
                assert answer.predator_score == expected[i].predator_score


def test_combination_asks_the_specialist_only_about_birds() -> None:
    gen = Evidence("gen", predator=0.1, chicken=0.0, birds=0.8, background=0.0, specialist=False)
    owl = Evidence("spec", predator=0.9, chicken=0.0, birds=0.0, background=0.1, specialist=True)
    c = combine([gen, owl], "gen")
    assert c.predator == pytest.approx(0.1 + 0.8 * 1.0) and c.decided_by == "spec"
    # An empty yard: the generalist sees no bird, so the specialist's "hawk" does not count.
    yard = Evidence("gen", predator=0.0, chicken=0.0, birds=0.01, background=0.9, specialist=False)
    hawk = Evidence("spec", predator=0.5, chicken=0.0, birds=0.0, background=0.0, specialist=True)
    assert combine([yard, hawk], "gen").predator == pytest.approx(0.005)
    # A hen the specialist takes for an owl: the generalist's chicken leaves no bird mass.
    hen = Evidence("gen", predator=0.0, chicken=0.97, birds=0.02, background=0.0, specialist=False)
    assert combine([hen, owl], "gen").predator < 0.03


def test_combination_without_a_generalist_is_the_specialist() -> None:
    spec = Evidence("spec", predator=0.4, chicken=0.2, birds=0.0, background=0.3, specialist=True)
    c = combine([spec], "spec")
    assert (c.predator, c.chicken, c.decided_by) == (0.4, 0.2, "spec")


def test_a_trained_head_is_blended_with_the_zero_shot_answer_not_chosen_over_it() -> None:
    gen = Evidence("gen", predator=0.04, chicken=0.9, birds=0.0, background=0.0, specialist=False)
    head = Evidence("coop", predator=0.9, chicken=0.05, birds=0.0, background=0.05,
                    specialist=False, blend=0.5)
    c = combine(by_priority([gen, head]), "gen")
    # Equal weights in log-odds: 0.9 and 0.04 give sqrt(0.9 * 0.04 / (0.1 * 0.96)) odds.
    odds = (0.9 * 0.04 / (0.1 * 0.96)) ** 0.5
    assert c.predator == pytest.approx(odds / (1 + odds)) and c.decided_by == "coop"
    # The chicken score is the higher of the two: a hen either side sees keeps the sprinkler off.
    assert c.chicken == pytest.approx(0.9)
    # Either side alone, when the other did not answer in time.
    assert combine([gen], "gen").predator == pytest.approx(0.04)
    alone = combine([head], "gen")
    assert (alone.predator, alone.chicken, alone.decided_by) == (0.9, 0.05, "coop")


def test_a_hen_only_the_head_sees_stays_a_hen() -> None:
    # A hen in a nest box: the zero-shot models are sure it is no chicken (a "hog"), the head
    # trained on hens says 0.7. Averaged in log-odds that would be 0.015, below every veto.
    hog = Evidence("gen", predator=0.02, chicken=0.0, birds=0.0, background=0.9,
                   specialist=False)
    head = Evidence("coop", predator=0.2, chicken=0.7, birds=0.0, background=0.1,
                    specialist=False, blend=0.5)
    c = combine(by_priority([hog, head]), "gen")
    assert c.chicken == pytest.approx(0.7)
    assert c.predator == pytest.approx(blend(0.2, 0.02, 0.5))
    assert verdict_for(c.predator, c.chicken, Thresholds()) == (Verdict.CHICKEN, pytest.approx(0.7))


@pytest.mark.parametrize("head, zero_shot, expected", [
    (0.7, 0.0, 0.7), (0.05, 0.9, 0.9), (0.3, 0.3, 0.3), (0.0, 0.0, 0.0)])
def test_hen_score_is_the_higher_of_the_two(head: float, zero_shot: float,
                                             expected: float) -> None:
    assert hen_score(head, zero_shot) == pytest.approx(expected)
    assert np.allclose(hen_score(np.array([head, 0.1]), np.array([zero_shot, 0.2])),
                       [expected, 0.2])


def test_priority_never_takes_a_head_for_the_generalist() -> None:
    primary = Evidence("gen", 0.1, 0.0, 0.0, 0.9, specialist=False)
    head = Evidence("coop", 0.8, 0.0, 0.0, 0.2, specialist=False, blend=0.5)
    spec = Evidence("spec", 0.3, 0.0, 0.0, 0.7, specialist=True)
    # The head is a critical model (listed before the primary), yet the primary stays the
    # generalist that the specialist refines and the head is blended with.
    assert by_priority([primary, head, spec]) == [spec, primary, head]


@pytest.mark.parametrize("head, zero_shot, weight, expected", [
    (0.5, 0.5, 0.5, 0.5),
    (0.7, 0.7, 0.3, 0.7),          # agreeing models: the same score whatever the weight
    (0.7, 0.01, 1.0, 0.7),         # weight 1: the head alone
    (0.996, 0.35, 0.5, 0.9205),    # a confident model outweighs a hesitant one
    (1.0, 0.0, 0.5, 0.5),          # clipped: neither certainty decides alone
])
def test_blend_in_log_odds(head: float, zero_shot: float, weight: float, expected: float) -> None:
    assert blend(head, zero_shot, weight) == pytest.approx(expected, abs=1e-4)


def test_blend_weight_outside_its_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"blend weight is in \(0, 1\], got 0"):
        blend(0.5, 0.5, 0.0)
    assert np.allclose(blend(np.array([0.2, 0.9]), np.array([0.2, 0.9]), 0.5), [0.2, 0.9])


def test_single_model_classifier(asset_store: AssetStore) -> None:
    with load_classifier(_uses(("mobilenet_v2_imagenet", "primary")), asset_store) as c:
        result = c.classify(load_image(HEN))
        assert c.model_names == ("mobilenet_v2_imagenet",) and result.verdict is Verdict.CHICKEN
        assert result.models["mobilenet_v2_imagenet"].verdict is Verdict.CHICKEN
    with pytest.raises(RuntimeError, match="closed"):
        c.classify(load_image(HEN))


def test_deadline_skips_late_critical_models(asset_store: AssetStore) -> None:
    ticks = itertools.count(step=0.6)  # every clock reading is 600 ms after the last
    base = load_classifier(
        _uses(("mobilenet_v1_025_imagenet", "primary"), ("mobilenet_v2_inat_birds", "critical")),
        asset_store,
    )
    slow = Classifier(base.models, Thresholds(), deadline_ms=1000, clock=lambda: next(ticks))
    result = slow.classify(load_image(HEN))
    assert list(result.models) == ["mobilenet_v1_025_imagenet"]


@pytest.mark.parametrize(
    ("use", "message"),
    [
        (("no_such_model", "shadow"), r"'no_such_model' is not in the manifest"),
        (("mobilenet_v1_embedding", "critical"), r"embedding model, not a classifier"),
        (("no_such_model", "critical"), r"'no_such_model' is not in the manifest"),
    ],
)
def test_refused_at_load(asset_store: AssetStore, use: tuple[str, str], message: str) -> None:
    cfg = _uses(
        (
            "mobilenet_v1_025_imagenet"
            if use[0] != "mobilenet_v1_025_imagenet"
            else "mobilenet_v2_imagenet",
            "primary",
        ),
        use,
    )
    with pytest.raises(ModelError, match=message):
        load_classifier(cfg, asset_store)
