"""``tensorchicken train`` end to end: train, report, register, promote, roll back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from classifier import Verdict, load_classifier
from classifier.blend import blend
from classifier.config import ModelsConfig
from classifier.registry import ModelRegistry
from edge.assets import AssetStore
from edge.cli import main
from edge.cli.train import missed_bars
from edge.train.trainer import TrainSettings

if TYPE_CHECKING:
    from tests.retrain.conftest import PhotoSet


@pytest.mark.parametrize("argv, problem", [
    (["train"], "give --manifest CSV [--root DIR], or --from-archive"),
    (["train", "--root", "photos", "--from-archive"], "--root goes with --manifest"),
    (["train", "--from-archive", "--folds", "1"], "--folds must be 0 or at least 2"),
    (["train", "--from-archive", "--threads", "100000"], "--threads must be between 1 and 16"),
    (["train", "--from-archive", "--name", "../../etc/x"], "--name '../../etc/x': letters"),
    (["train", "--from-archive", "--version", ""], "--version '': letters"),
    (["train", "--from-archive", "--target-recall", "1.5"], "--target-recall must be between"),
])
def test_wrong_arguments_exit_2_with_one_line(
    argv: list[str], problem: str, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1


def test_too_few_labelled_crops_is_a_clear_error(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--from-archive", "--folds", "0"]) == 1
    assert "0 labelled photos are too few" in capsys.readouterr().err


def test_train_prints_its_figures_and_misses(
    tmp_path: Path, state_dir: Path, photo_set: PhotoSet, capsys: pytest.CaptureFixture[str],
) -> None:
    manifest = photo_set.write_manifest(tmp_path / "photos.csv", photo_set.rows())
    assert main(["train", "--manifest", str(manifest), "--root", str(photo_set.data),
                 "--folds", "2", "--augment", "flip", "--version", "v2", "--no-register",
                 "--unseen-species", "--out", str(tmp_path / "packages")]) == 0
    out = capsys.readouterr().out
    assert "held-out figures (each photo scored by a head trained without it):" in out
    assert "coop-v2 head alone (held out): predator recall" in out
    assert "package coop-v2 written to" in out and "registered" not in out
    assert "predators of a species held out whole (10 photos, " in out
    misses = [line for line in out.splitlines() if line.startswith("  miss ")]
    assert misses and all(" called " in line for line in misses)


def test_train_register_promote_rollback(
    tmp_path: Path, state_dir: Path, photo_set: PhotoSet, asset_store: AssetStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest = photo_set.write_manifest(tmp_path / "photos.csv", photo_set.rows())
    assert main(["train", "--manifest", str(manifest), "--root", str(photo_set.data),
                 "--folds", "3", "--augment", "flip", "--name", "coop", "--version", "v1",
                 "--out", str(tmp_path / "packages"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    report = result["report"]
    assert result["model"] == "coop-v1" and result["registered"] == "shadow"
    assert report["n"] == 26 and sum(map(sum, (r.values() for r in
                                                report["confusion"].values()))) == 26
    # The held-out figures (the head blended with the current models, and the head alone) sit
    # beside the current models' on the same photos.
    assert set(report["per_model"]) == {
        "coop-v1 (held out)", "coop-v1 head alone (held out)", "current classifier (combined)",
        "mobilenet_v2_imagenet", "mobilenet_v2_inat_birds"}
    assert 0.0 <= report["predator_recall"] <= 1.0

    registry = ModelRegistry(state_dir, ModelsConfig())  # type: ignore[call-arg]
    shadow = next(u for u in registry.effective().use if u.name == "coop-v1")
    assert shadow.role == "shadow" and shadow.package == result["package"]

    # Compared on the photos it learnt from, the head is flagged: those figures are not a test.
    assert main(["models", "compare", "--manifest", str(manifest), "--root", str(photo_set.data),
                 "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)["models"]
    assert compared["coop-v1"]["trained_on"] == 26
    assert compared["mobilenet_v2_imagenet"]["trained_on"] is None
    # ... and judged as it would decide once promoted: blended with the zero-shot models.
    assert compared["coop-v1"]["blended_with"] == ["mobilenet_v2_imagenet",
                                                   "mobilenet_v2_inat_birds"]
    assert compared["mobilenet_v2_imagenet"]["blended_with"] is None

    # Promoted, the blending head joins the critical path: the zero-shot primary stays, and
    # the verdict is the two answers blended.
    assert main(["models", "promote", "coop-v1"]) == 0
    promoted = registry.effective()
    assert promoted.primary.name == "mobilenet_v2_imagenet"
    assert next(u for u in promoted.use if u.name == "coop-v1").role == "critical"
    hen = photo_set.photos(photo_set.rows()[:1])[0].load()
    with load_classifier(promoted, asset_store) as classifier:
        answer = classifier.classify(hen)
    # The zero-shot combination alone: the joined head takes the default head's place.
    zero_shot_cfg = ModelsConfig(default_head=False)  # type: ignore[call-arg]
    with load_classifier(zero_shot_cfg, asset_store) as zero_shot:
        before = zero_shot.classify(hen)
    head = answer.models["coop-v1"]
    assert head.verdict is Verdict.CHICKEN and answer.verdict is Verdict.CHICKEN
    assert answer.predator_score == pytest.approx(
        blend(head.predator_score, before.predator_score, 0.5), abs=2e-4)

    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert (listed["coop-v1"]["role"], listed["coop-v1"]["version"]) == ("critical", "v1")
    assert listed["coop-v1"]["blend"] == 0.5 and listed["mobilenet_v2_imagenet"]["blend"] is None

    # A head trained now is fitted to the zero-shot answers alone, not to coop-v1's blend: it
    # will replace coop-v1 when promoted.
    assert main(["train", "--manifest", str(manifest), "--root", str(photo_set.data),
                 "--folds", "2", "--augment", "flip", "--version", "v3", "--no-register",
                 "--out", str(tmp_path / "packages"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["report"]
    assert again["compared_with"] == ["mobilenet_v2_imagenet", "mobilenet_v2_inat_birds"]

    assert main(["models", "rollback"]) == 0
    rolled_back = registry.effective()
    assert rolled_back.primary.name == "mobilenet_v2_imagenet"
    assert next(u for u in rolled_back.use if u.name == "coop-v1").role == "shadow"


def test_a_missed_bar_names_the_count_that_misses_it() -> None:
    report = {
        "predator_recall": 0.9839, "chicken_false_alarm": 0.0102, "background_false_alarm": 0.0,
        "confusion": {"chicken": {"chicken": 97, "predator": 1, "background": 0}},
        "empty_clips": {"yard.mp4": {"called_predator": {"coop (held out)": 0.06}}},
    }
    assert missed_bars(report, TrainSettings()) == [
        "chickens called predator 1 of 98 (0.0102) > 0.01",
        "yard.mp4 examples called predator 0.060 > 0.05"]
    assert missed_bars(None, TrainSettings()) == []
