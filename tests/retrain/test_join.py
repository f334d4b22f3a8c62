"""A blending head promoted while the appliance runs: it joins the critical path at the next
swap, the verdicts become blended, and a rollback takes it off again."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from classifier import Classifier, load_classifier
from classifier.blend import blend
from classifier.config import ModelsConfig, ModelUse
from classifier.package import load_package_model
from classifier.registry import ModelRegistry
from classifier.rendezvous import load_rendezvous
from edge.assets import AssetStore
from edge.train.dataset import Photo
from edge.train.retrain import RetrainPlan, retrain
from edge.train.trainer import TrainSettings


def test_a_blending_head_joins_the_running_critical_path_and_leaves_on_rollback(
    tmp_path: Path, asset_store: AssetStore, small_photos: list[Photo]
) -> None:
    # Without the default head, so that "before" is the zero-shot combination the joined head
    # is blended with (a joined head takes the default head's place).
    base = ModelsConfig(default_head=False)  # type: ignore[call-arg]
    plan = RetrainPlan("coop", "j1", tmp_path / "packages", TrainSettings(folds=0), ["flip"])
    with load_classifier(base, asset_store) as current:
        package = retrain(small_photos, asset_store, plan, current).package
    registry = ModelRegistry(tmp_path / "state", base)
    registry.register("coop-j1", package=package)
    fox = next(p for p in small_photos if p.label == "predator").load()

    with load_rendezvous(registry.effective(), asset_store) as rendezvous:
        before = rendezvous.classify(fox)
        assert "coop-j1" not in before.models  # a shadow: scored off the critical path
        registry.promote("coop-j1")
        report = rendezvous.swap(registry.effective())
        assert report.primary == "mobilenet_v2_imagenet"  # the zero-shot primary stays
        joined = rendezvous.classify(fox)
        head = joined.models["coop-j1"]
        assert joined.predator_score == pytest.approx(
            blend(head.predator_score, before.predator_score, 0.5), abs=2e-4)
        registry.rollback()
        rendezvous.swap(registry.effective())
        after = rendezvous.classify(fox)
    assert "coop-j1" not in after.models
    assert after.predator_score == pytest.approx(before.predator_score, abs=1e-4)


def test_a_blending_head_alone_on_the_critical_path_is_warned_about(
    tmp_path: Path, asset_store: AssetStore, small_photos: list[Photo],
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = RetrainPlan("coop", "j2", tmp_path, TrainSettings(folds=0), ["flip"])
    with load_classifier(ModelsConfig(), asset_store) as current:  # type: ignore[call-arg]
        package = retrain(small_photos, asset_store, plan, current).package
    head = load_package_model(package, asset_store, threads=1)
    with caplog.at_level(logging.WARNING, logger="classifier.ensemble"):
        Classifier([head]).close()
        assert "coop-j2 was trained to be blended with the zero-shot models" in caplog.text
        caplog.clear()
        with load_classifier(ModelsConfig(), asset_store) as zero_shot:  # type: ignore[call-arg]
            Classifier([*zero_shot.models, head]).close()
    assert not caplog.text


def test_the_canary_watches_the_blended_decision_once_a_head_joins(
    tmp_path: Path, asset_store: AssetStore, small_photos: list[Photo]
) -> None:
    base = ModelsConfig(use=[  # type: ignore[call-arg]
        ModelUse(name="mobilenet_v2_imagenet", role="primary"),  # type: ignore[call-arg]
        ModelUse(name="mobilenet_v1_025_imagenet", role="canary")])  # type: ignore[call-arg]
    plan = RetrainPlan("coop", "j3", tmp_path / "packages", TrainSettings(folds=0), ["flip"])
    with load_classifier(base, asset_store) as current:
        package = retrain(small_photos, asset_store, plan, current).package
    registry = ModelRegistry(tmp_path / "state", base)
    registry.register("coop-j3", package=package)
    registry.promote("coop-j3")
    with load_rendezvous(registry.effective(), asset_store) as rendezvous:
        tickets = [rendezvous.classify(p.load()).ticket for p in small_photos[:6]]
        for ticket in tickets:
            rendezvous.join(ticket, wait_s=5.0)  # the canary's answers are in
        status = rendezvous.canary.status()
    assert status.primary == "mobilenet_v2_imagenet+coop-j3" and status.compared == 6
