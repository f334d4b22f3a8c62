"""The default head: features read from the running models, blended into the answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from classifier import Classifier, ModelError, load_classifier, load_image
from classifier.blend import blend
from classifier.feature_head import DEFAULT_HEAD_DIR, head_for, load_feature_head, shipped_head
from classifier.loader import load_model
from classifier.runtime import interpreter_class
from classifier.spec import load_specs
from edge.assets import AssetStore
from edge.config import ModelsConfig

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
OWL = DATA / "images" / "predator" / "coral__owl.jpg"
HEN_AT_NIGHT = DATA / "train" / "chicken"


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


def test_the_shipped_head_is_blended_into_the_answer(asset_store: AssetStore) -> None:
    head = shipped_head()
    with_head = load_classifier(ModelsConfig(default_head=True), asset_store)  # type: ignore[call-arg]
    assert with_head.head is head
    plain = load_classifier(ModelsConfig(default_head=False), asset_store)  # type: ignore[call-arg]
    with plain:
        assert plain.head is None
        rgb = load_image(OWL)
        zero_shot = plain.classify(rgb)
    with with_head:
        answer = with_head.classify(rgb)
    mine = answer.models[head.name]
    assert head.name not in zero_shot.models
    expected = blend(mine.predator_score, zero_shot.predator_score, head.info.blend)
    assert answer.predator_score == pytest.approx(expected, abs=2e-3)
    assert answer.regime == "day_colour"


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
