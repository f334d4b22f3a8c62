"""The scene gate's arithmetic and its file: what is near, a round trip, and clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from classifier.errors import ModelError
from classifier.feature_head import load_feature_head
from classifier.head import SoftmaxHead
from classifier.scene_gate import FLOOR, GATE_FILE, GatedHead, SceneGate
from tests.conftest import gated_refit_copy


def heads(d: int = 6) -> tuple[SoftmaxHead, SoftmaxHead]:
    rng = np.random.default_rng(3)
    classes = ("background", "chicken", "predator")
    base = SoftmaxHead(classes, np.zeros(d, np.float32), np.ones(d, np.float32),
                       rng.normal(size=(d, 3)).astype(np.float32), np.zeros(3, np.float32))
    refit = dataclasses.replace(base, bias=np.array([5.0, 0.0, -5.0], np.float32))
    return base, refit


def test_near_is_within_the_fitted_crops_own_spacing() -> None:
    scene = np.array([[1, 0, 0, 0, 0, 0], [1, 0.1, 0, 0, 0, 0], [1, 0, 0.1, 0, 0, 0],
                      [1, 0.1, 0.1, 0, 0, 0]], np.float32)
    gate = SceneGate.of(scene)
    assert 0.98 < gate.similarity < 1.0
    probe = np.array([[1, 0.05, 0.05, 0, 0, 0], [0, 0, 0, 1, 0, 0], [1, 0, 0, 1, 0, 0]],
                     np.float32)
    assert gate.near(probe).tolist() == [True, False, False]


def test_one_odd_fitted_crop_does_not_stretch_the_scene() -> None:
    rng = np.random.default_rng(5)
    scene = np.array([1, 0, 0, 0, 0, 0], np.float32) + rng.normal(0, 0.05, (8, 6)).astype(
        np.float32)
    odd = np.array([[0, 0, 0, 0, 1, 0]], np.float32)
    gate = SceneGate.of(np.vstack([scene, odd]))
    assert gate.neighbours == 3
    assert gate.near(scene).all()
    assert not gate.near(odd).any()  # itself a fitted crop, but alone where it is
    assert SceneGate.of(np.vstack([scene, odd]), neighbours=1).near(odd).all()


def test_few_unlike_crops_make_no_gate_wider_than_the_floor() -> None:
    crops = np.eye(6, dtype=np.float32)[:5]  # five scenes with nothing in common
    gate = SceneGate.of(crops)
    assert gate.similarity == FLOOR
    assert gate.near(crops).all()
    assert not gate.near(np.array([[0, 0, 0, 0, 0, 1], [-1, -1, 0, 0, 0, 1]], np.float32)).any()


def test_one_crop_is_no_scene() -> None:
    crop = np.ones((1, 6), np.float32)
    assert not SceneGate.of(crop).near(crop).any()


def test_probabilities_are_the_re_fits_near_its_scene_and_the_bases_elsewhere() -> None:
    base, refit = heads()
    scene = np.eye(6, dtype=np.float32)[:1].repeat(3, axis=0) + \
        np.array([[0, 0.1, 0, 0, 0, 0], [0, 0, 0.1, 0, 0, 0], [0, 0, 0, 0.1, 0, 0]], np.float32)
    gated = GatedHead.around(base, refit, scene)
    far = np.eye(6, dtype=np.float32)[[5]]
    np.testing.assert_allclose(gated.probabilities(scene), refit.probabilities(scene))
    np.testing.assert_array_equal(gated.probabilities(far), base.probabilities(far))


def gated_folder(tmp_path: Path) -> tuple[Path, GatedHead]:
    folder = tmp_path / "head"
    return folder, gated_refit_copy(folder, "gate-1")


def test_a_gated_head_loads_from_its_folder_as_it_was_written(tmp_path: Path) -> None:
    folder, gated = gated_folder(tmp_path)
    loaded = load_feature_head(folder)
    assert isinstance(loaded.head, GatedHead)
    np.testing.assert_array_equal(loaded.layer.bias, gated.refit.bias)
    x = np.vstack([gated.gate.anchors * 3, np.ones((1, gated.inputs), np.float32)])
    np.testing.assert_array_equal(loaded.head.probabilities(x), gated.probabilities(x))
    # The gate judged before it was written is the one loaded, to the bit.
    np.testing.assert_array_equal(loaded.head.gate.anchors, gated.gate.anchors)
    assert loaded.head.gate.similarity == gated.gate.similarity


def test_a_damaged_or_foreign_gate_is_refused_naming_its_file(tmp_path: Path) -> None:
    folder, gated = gated_folder(tmp_path)
    (folder / GATE_FILE).write_bytes(b"not a gate")
    with pytest.raises(ModelError, match=f"{GATE_FILE}.*sha256"):
        load_feature_head(folder)
    (folder / GATE_FILE).write_bytes(b"not a gate")
    with pytest.raises(ModelError, match="not a scene gate file"):
        GatedHead.load(gated.refit, folder / GATE_FILE)
    small, _ = heads()
    (folder / GATE_FILE).write_bytes(gated.gate_bytes())
    with pytest.raises(ModelError, match="do not fit the head"):
        GatedHead.load(small, folder / GATE_FILE)
