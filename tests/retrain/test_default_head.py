"""The default head's builder: the same manifests give the same weights; the head records what
it was trained on."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import yaml

from camera.box import Box
from classifier import load_image
from classifier.feature_head import load_feature_head
from classifier.regime import Regime
from classifier.second_look import load_second_look
from edge.assets import sha256_of
from edge.board import runtime_name
from edge.train.augment import BACKGROUND_TILES
from edge.train.default_head import (
    Example,
    Recipe,
    blended_scores,
    built_with,
    cache_stamp,
    figures,
    load_cache,
    load_sources,
    operating_points,
    save_cache,
    source_outputs,
    training_boxes,
)
from edge.train.detector import DETECTOR_FILE, LABELS_FILE, Found, SsdDetector
from tests.conftest import SHARED_DATA, SHARED_MODELS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_default_head.py"
DATA = SHARED_DATA
RAT = "ratdet__yolov7_data_train_143_jpg.rf.1b4375cd79a73b81e7c30e6894e1590e.jpg"


def _small_manifest(tmp_path: Path) -> Path:
    """A few rows of every label (people too) from the training corpus, several cameras."""
    with (DATA / "train" / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = reader.fieldnames or []
    picked: list[dict[str, str]] = []
    for label, n in (("chicken", 4), ("predator", 4), ("background", 3), ("person", 2)):
        picked += [r for r in rows if r["label"] == label][:n]
    path = tmp_path / "MANIFEST.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(picked)
    return path


def _build(manifest: Path, out: Path, *more: str) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(DATA), "--manifest", str(manifest),
         "--out", str(out), "--folds", "0", "--threads", "1", *more],
        check=True, capture_output=True, text=True, timeout=900)


def test_the_builder_gives_the_same_weights_twice_and_records_its_files(
    tmp_path: Path, asset_store: object
) -> None:
    manifest = _small_manifest(tmp_path)
    _build(manifest, tmp_path / "a")
    # The second build also builds the second look: the default head must not change by it.
    _build(manifest, tmp_path / "b", "--second-look", str(tmp_path / "look"))
    assert (tmp_path / "a" / "head.npz").read_bytes() == (tmp_path / "b" / "head.npz").read_bytes()
    look = load_second_look(cast(Any, asset_store), threads=1, folder=tmp_path / "look")
    assert look.head.head.inputs == 2560 + 1024 and look.undecided_from == 0.2
    assert look.head.sources == ("mobilenet_v2_imagenet", "mobilenet_v2_inat_birds",
                                 "mobilenet_v1_embedding")
    head = load_feature_head(tmp_path / "a")
    assert head.head.inputs == 2560 and head.sources == (
        "mobilenet_v2_imagenet", "mobilenet_v2_inat_birds")
    info = yaml.safe_load((tmp_path / "a" / "head.yaml").read_text())
    assert info["training"]["manifests"][0]["sha256"] == sha256_of(manifest)
    listed = (tmp_path / "a" / "training_files.txt").read_text().splitlines()
    assert len(listed) == 13 == info["training"]["files"]["count"]
    assert info["training"]["files"]["sha256"] == sha256_of(tmp_path / "a" / "training_files.txt")
    with manifest.open(newline="", encoding="utf-8") as fh:
        hashes = {r["sha256"] for r in csv.DictReader(fh)}
    assert {line.split()[0] for line in listed} == hashes
    # Every picture under each night copy, and its detector boxes as motion crops.
    detector = SsdDetector(SHARED_MODELS / DETECTOR_FILE, SHARED_MODELS / LABELS_FILE, 1)
    with manifest.open(newline="", encoding="utf-8") as fh:
        boxes = sum(len(training_boxes(detector.detect(load_image(DATA / r["file"])), r["label"]))
                    for r in csv.DictReader(fh))
    # Pictures of nothing (3 empty scenes, 2 people) also as their quarters and centre, and
    # the 4 hens as flocks.
    tiles = dict.fromkeys(BACKGROUND_TILES, 5)
    assert info["training"]["copies"] == {"original": 13, "ir_night": 13, "noir_purple": 13,
                                          **tiles, "flock": 4,
                                          **({"box": boxes} if boxes else {})}
    assert info["training"]["boxes"]["sha256"] == sha256_of(SHARED_MODELS / DETECTOR_FILE)
    # The libraries the features and weights came from, so a rebuild can be matched.
    assert info["training"]["built_with"] == built_with()
    assert info["training"]["built_with"]["runtime"] == runtime_name() != "none installed"
    assert info["training"]["built_with"]["numpy"] == np.__version__


def test_the_operating_point_is_the_lowest_that_adds_no_false_alarm_in_its_light() -> None:
    """Per light: the lowest point at which the blend calls no more hens, empty scenes or
    people predator than the zero-shot models; a light where none does is left out."""
    ex = [Example(f"{i}.jpg", label, "", "cam", "0" * 64) for i, label in
          enumerate(["predator", "predator", "chicken", "background", "predator", "chicken"])]
    night, day = Regime.NIGHT_IR, Regime.DAY_COLOUR
    regimes = [night, night, night, night, day, day]
    zero_shot = np.array([[0.3, 0], [0.6, 0], [0.2, 0.5], [0.1, 0], [0.4, 0], [0.45, 0.6]])
    # The head is sure of the first predator, and rather taken with the night hen.
    head = np.array([[0.01, 0, 0.99], [0.1, 0, 0.9], [0.05, 0.1, 0.85], [0.9, 0, 0.1],
                     [0.1, 0, 0.9], [0, 0.01, 0.99]])
    recipe = Recipe(regimes=(night, day), points=(0.5, 0.6, 0.7))
    points = operating_points(ex, head, zero_shot, regimes, recipe)
    blended = {p: blended_scores(head, zero_shot, regimes, {night: p}, 0.5)[:, 0]
               for p in recipe.points}
    assert blended[0.5][2] >= 0.5 > blended[0.6][2]  # the night hen: called predator at 0.5
    assert points[night] == 0.6
    assert blended[0.6][0] >= 0.5  # the predator the zero-shot models missed is still found
    # By day the hen is called predator at every point, the zero-shot models do not: left out.
    assert day not in points
    # Where the head is not used, the scores are the zero-shot ones.
    assert np.array_equal(blended_scores(head, zero_shot, regimes, {}, 0.5), zero_shot)


def test_the_light_where_hens_are_called_predator_moves_up_until_they_are_within_the_limit(
) -> None:
    """Matching the zero-shot models is not enough for the hens (they call more hens predator
    than the limit): the light where the blend calls most of them moves up a point at a time
    until all lights together are within ``hens_limit``; the other light stays where it was."""
    labels = ["predator", "chicken", "chicken", "chicken", "predator", "chicken", "chicken"]
    ex = [Example(f"{i}.jpg", label, "", "cam", "0" * 64) for i, label in enumerate(labels)]
    night, day = Regime.NIGHT_IR, Regime.DAY_COLOUR
    regimes = [day, day, day, day, night, night, night]
    # The zero-shot models call the first day hen predator; so does the head.
    zero_shot = np.array([[0.4, 0], [0.7, 0.2], [0.2, 0.6], [0.1, 0.6], [0.3, 0], [0.2, 0.5],
                          [0.1, 0.5]])
    head = np.array([[0.05, 0, 0.95], [0.1, 0.1, 0.8], [0.1, 0.2, 0.7], [0.1, 0.8, 0.1],
                     [0.05, 0, 0.95], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])

    def hens_called(points: dict[Regime, float]) -> int:
        scores = blended_scores(head, zero_shot, regimes, points, 0.5)[:, 0]
        return sum(1 for e, s in zip(ex, scores, strict=True) if e.label == "chicken" and s >= 0.5)

    lenient = operating_points(ex, head, zero_shot, regimes, Recipe(regimes=(day, night),
                                                                   hens_limit=0.2))
    assert lenient == {day: 0.5, night: 0.5} and hens_called(lenient) == 1  # 1 of 5 allowed
    strict = operating_points(ex, head, zero_shot, regimes, Recipe(regimes=(day, night),
                                                                  hens_limit=0.0))
    assert strict[night] == 0.5 and strict[day] > 0.5
    assert hens_called(strict) == 0
    assert hens_called({**strict, day: round(strict[day] - 0.05, 2)}) == 1  # the lowest that does


def test_the_boxes_learnt_as_motion_crops_are_the_subjects_of_the_picture() -> None:
    """Animals in a predator's or a hen's picture, people in a person's, anything the detector
    draws in an empty scene; never a box under the score, a speck, or nearly the whole
    picture; the best two."""
    def found(label: str, score: float, side: float, x: float = 0.1) -> Found:
        return Found(label, score, Box(x, 0.1, side, side))

    fox, person = found("dog", 0.9, 0.4), found("person", 0.8, 0.5)
    bench = found("bench", 0.5, 0.3)
    seen = [fox, person, bench, found("cat", 0.35, 0.4), found("bird", 0.9, 0.05),
            found("bear", 0.9, 0.9)]
    assert training_boxes(seen, "predator") == [fox.box]
    assert training_boxes(seen, "chicken") == [fox.box]
    assert training_boxes(seen, "person") == [person.box]
    assert training_boxes(seen, "background") == [fox.box, person.box]
    assert training_boxes([bench], "background") == [bench.box]
    assert training_boxes([bench], "predator") == []


def test_the_figures_tell_hens_called_chicken_from_hens_the_veto_would_keep_the_sprinkler_off_for(
) -> None:
    """A hen at chicken 0.35 is called chicken (0.3) but does not reach the veto (0.4)."""
    ex = [Example(f"{i}.jpg", label, scene, "cam", "0" * 64) for i, (label, scene) in
          enumerate([("chicken", "photo"), ("chicken", "fixed_day"), ("chicken", "fixed_day"),
                     ("predator", "fixed_night_ir")])]
    scores = np.array([[0.1, 0.9], [0.1, 0.35], [0.2, 0.45], [0.8, 0.0]])
    got = figures(ex, scores)
    assert got["chicken_recognised"] == 1.0
    assert got["chicken_reaching_veto"] == round(2 / 3, 4)
    assert got["fixed_cameras"]["chicken_reaching_veto"] == 0.5
    assert got["per_scene"]["photo"]["chicken_reaching_veto"] == 1.0
    assert "chicken_reaching_veto" not in got["per_scene"]["fixed_night_ir"]  # no hen there


def test_a_cache_of_the_models_outputs_is_not_used_once_a_verdict_map_has_changed(
    tmp_path: Path
) -> None:
    """The cache keeps each picture's zero-shot scores, which a verdict map decides: one made
    before a map changed would otherwise hand the builder the old scores."""
    weights = tmp_path / "model.tflite"
    weights.write_bytes(b"weights")

    def model(predator: list[int]) -> Any:
        return SimpleNamespace(name="mobilenet_v2_imagenet", path=weights, verdicts=SimpleNamespace(
            predator=np.array(predator), chicken=np.array([8]), birds=np.array([9])))

    before = cache_stamp([cast(Any, model([1, 2]))])
    after = cache_stamp([cast(Any, model([1, 2, 676]))])
    assert before != after == cache_stamp([cast(Any, model([1, 2, 676]))])
    path = tmp_path / "cache.npz"
    x, z = np.arange(4, dtype=np.float16), np.array([0.25, 0.5], np.float32)
    save_cache(path, {("abc", "original"): (x, z)}, before)
    (kept,) = load_cache(path, before).items()
    assert kept[0] == ("abc", "original") and (kept[1][0] == x).all() and (kept[1][1] == z).all()
    assert load_cache(path, after) == {}


def test_an_extractor_s_embedding_follows_the_pooled_features_and_changes_no_score(
    asset_store: Any
) -> None:
    """``scripts/measure_second_look.py`` learns the extractor's 1024 numbers after the two
    networks' 2560: the first 2560 and the zero-shot scores are what the builder learns without
    it, and a cache of such rows is stamped apart from the builder's."""
    from classifier.embeddings import load_extractor

    models = load_sources(asset_store, threads=1)
    extractor = load_extractor(asset_store, threads=1)
    rgb = load_image(DATA / "train" / "predator" / RAT)
    x, z = source_outputs(models, rgb)
    x_more, z_more = source_outputs(models, rgb, extractor)
    assert x.shape == (2560,) and x_more.shape == (2560 + 1024,)
    assert (x_more[:2560] == x).all() and (z_more == z).all()
    embedding, _ = extractor.embed(rgb)
    assert np.allclose(x_more[2560:], embedding, atol=1e-2 * float(np.abs(embedding).max()))
    assert cache_stamp([*models, extractor.model]) != cache_stamp(models)
