"""The default head: features read from the running models, blended into the answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from classifier import Classifier, ModelError, Verdict, load_classifier, load_image
from classifier.blend import blend, log_odds
from classifier.config import ModelsConfig
from classifier.ensemble import thresholds_of
from classifier.feature_head import (
    DEFAULT_HEAD_DIR,
    FeatureHead,
    head_for,
    load_feature_head,
    shipped_head,
    to_operating_point,
)
from classifier.loader import load_model
from classifier.regime import Regime
from classifier.runtime import interpreter_class
from classifier.spec import load_specs
from edge.assets import AssetStore
from edge.config.decision import DecisionConfig
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
OWL = DATA / "images" / "predator" / "coral__owl.jpg"
BADGER_IN_IR = (DATA / "train" / "predator"
                / "carpat__data_example_photos_badger_example_1.jpg")
HEN_IN_NEST_BOX = DATA / "train" / "chicken" / "chookegg__EggCheck_image_2016-06-17_1430.jpg"


@pytest.mark.parametrize("name", ["mobilenet_v2_imagenet", "mobilenet_v2_inat_birds"])
def test_features_are_the_pool_the_network_computed(name: str, asset_store: AssetStore) -> None:
    """Read without preserving every tensor, the pool holds what a preserving interpreter
    (every tensor kept, nothing reused) holds for the same picture."""
    spec = load_specs()[name]
    model = load_model(spec, asset_store, threads=1)
    rgb = load_image(OWL)
    _, features, _ = model.infer(rgb)
    assert features is not None and features.shape == (1280,) and features.max() > 0
    reference = interpreter_class()(model_path=str(model.path), num_threads=1,
                                    experimental_preserve_all_tensors=True)
    reference.allocate_tensors()
    reference.set_tensor(model.input.index, model.prepare(rgb))
    reference.invoke()
    assert model.features is not None
    raw = reference.get_tensor(model.features.index).reshape(-1).astype(np.float32)
    expected = (raw - model.features.zero_point) * model.features.scale
    assert np.allclose(features, expected)


def test_a_tensor_whose_memory_is_reused_is_refused(asset_store: AssetStore) -> None:
    """The last convolution's output is overwritten by later tensors: reading it would give
    another tensor's bytes, so the load fails instead."""
    spec = load_specs()["mobilenet_v2_imagenet"].model_copy(update={
        "features": "MobilenetV2/Conv_1/Relu6;MobilenetV2/Conv_1/add_fold;"
        "MobilenetV2/Conv_1/Conv2D_Fold;MobilenetV2/Conv_1/BatchNorm_Fold/bias"})
    with pytest.raises(ModelError, match=r"features|memory"):
        load_model(spec, asset_store, threads=1)


def test_the_shipped_head_is_blended_into_the_answer_in_every_light(
    asset_store: AssetStore
) -> None:
    head = shipped_head()
    assert set(head.info.operating_points) == set(Regime)
    # The default head's own blend: the second look would decide the badger in its place.
    with_head = load_classifier(ModelsConfig(second_look=False), asset_store)  # type: ignore[call-arg]
    assert with_head.head is head  # on by default
    plain = load_classifier(ModelsConfig(default_head=False), asset_store)  # type: ignore[call-arg]
    night, day = load_image(BADGER_IN_IR), load_image(OWL)
    with plain:
        assert plain.head is None
        zero_shot = {"night": plain.classify(night), "day": plain.classify(day)}
    with with_head:
        answers = {"night": with_head.classify(night), "day": with_head.classify(day)}
    assert answers["night"].regime == "night_ir" and answers["day"].regime == "day_colour"
    # The head's predator score, moved to the light's operating point, is blended in.
    for light in ("night", "day"):
        mine = answers[light].models[head.name]
        assert head.name not in zero_shot[light].models
        expected = blend(mine.predator_score, zero_shot[light].predator_score, head.info.blend)
        assert answers[light].predator_score == pytest.approx(expected, abs=2e-3)


def test_a_hen_in_a_nest_box_the_zero_shot_models_miss_reaches_the_chicken_veto(
    asset_store: AssetStore
) -> None:
    # The zero-shot models see no chicken in this nest-box frame; the shipped head (it learnt
    # this camera) does. The chicken score is the higher of the two, so the veto holds: an
    # average in log-odds would have left it near the models' 0.
    hen = load_image(HEN_IN_NEST_BOX)
    with load_classifier(ModelsConfig(default_head=False), asset_store) as plain:  # type: ignore[call-arg]
        zero_shot = plain.classify(hen)
    with load_classifier(ModelsConfig(), asset_store) as with_head:  # type: ignore[call-arg]
        answer = with_head.classify(hen)
    head = answer.models[shipped_head().name]
    assert zero_shot.chicken_score < 0.05 < DecisionConfig().chicken_veto <= head.chicken_score
    assert answer.verdict is Verdict.CHICKEN
    assert answer.chicken_score == pytest.approx(head.chicken_score)


def test_in_a_light_without_an_operating_point_the_zero_shot_models_decide_alone(
    asset_store: AssetStore
) -> None:
    shipped = shipped_head()
    points = {r: p for r, p in shipped.info.operating_points.items() if r != Regime.DAY_COLOUR}
    night_only = FeatureHead(shipped.info.model_copy(update={"operating_points": points}),
                             shipped.head)
    day = load_image(OWL)
    cfg = ModelsConfig(default_head=False)  # type: ignore[call-arg]
    with load_classifier(cfg, asset_store) as plain:
        zero_shot = plain.classify(day)
        with Classifier(list(plain.models), thresholds_of(cfg), cfg.deadline_ms,
                        head=night_only) as classifier:
            answer = classifier.classify(day)
    assert answer.regime == "day_colour" and night_only.name not in answer.models
    assert answer.predator_score == zero_shot.predator_score


@pytest.mark.parametrize("point", [0.5, 0.55, 0.7, 0.9])
def test_a_blend_at_the_operating_point_comes_out_at_one_half(point: float) -> None:
    """Where the unmoved blend gives ``point``, the moved one gives 0.5, whatever the
    zero-shot score; above it stays above, below stays below."""
    weight = 0.5
    for zero_shot in (0.05, 0.3, 0.6, 0.95):
        # The head score at which the plain blend is exactly ``point``.
        head = 1.0 / (1.0 + np.exp(-(log_odds(point) - (1 - weight) * log_odds(zero_shot))
                                   / weight))
        moved = to_operating_point(np.array([head, head * 1.02, head * 0.98]), point, weight)
        blended = [blend(float(h), zero_shot, weight) for h in moved]
        assert blended[0] == pytest.approx(0.5, abs=1e-6)
        assert blended[1] > 0.5 > blended[2]


def test_an_operating_point_outside_0_and_1_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "head"
    shutil.copytree(DEFAULT_HEAD_DIR, folder)
    info = (folder / "head.yaml").read_text()
    (folder / "head.yaml").write_text(info.replace("night_ir: ", "night_ir: 1", 1))
    with pytest.raises(ModelError, match="operating_points"):
        load_feature_head(folder)


def test_the_head_needs_both_models_and_their_files(
    asset_store: AssetStore, caplog: pytest.LogCaptureFixture
) -> None:
    spec = load_specs()["mobilenet_v2_imagenet"]
    alone = load_model(spec, asset_store, threads=1)
    assert head_for(True, [alone]) is None
    assert "mobilenet_v2_inat_birds is not on the critical path" in caplog.text
    assert head_for(False, [alone]) is None
    with Classifier([alone]) as classifier:
        assert set(classifier.classify(load_image(OWL)).models) == {alone.name}


def test_a_changed_head_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "head"
    shutil.copytree(DEFAULT_HEAD_DIR, folder)
    data = bytearray((folder / "head.npz").read_bytes())
    data[-40] ^= 0xFF
    (folder / "head.npz").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_feature_head(folder)
