"""A package loads as a model the Classifier uses, and refuses to load when a file is wrong."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from classifier import Classifier, ModelError, Verdict
from classifier.config import ModelUse
from classifier.ensemble import load_any
from classifier.head import SoftmaxHead
from classifier.package import (
    HEAD_FILE,
    PACKAGE_FILE,
    VERDICTS_FILE,
    load_package_model,
    write_package,
)
from classifier.spec import load_specs
from edge.assets import AssetStore
from edge.train.dataset import Photo
from edge.train.retrain import Outcome


@pytest.fixture()
def package(tmp_path: Path, trained: Outcome) -> Path:
    """A private copy of the trained package, free to damage."""
    return Path(shutil.copytree(trained.package, tmp_path / trained.package.name))


def test_a_package_classifies_like_any_model(
    trained: Outcome, asset_store: AssetStore, small_photos: list[Photo]
) -> None:
    model = load_package_model(trained.package, asset_store, threads=1)
    assert model.name == "test-1" and model.labels == ["background", "chicken", "predator"]
    assert model.prepare.side == 224
    with Classifier([model]) as classifier:
        for photo in (small_photos[0], small_photos[12]):  # a hen, then a predator
            answer = classifier.classify(photo.load())
            assert answer.verdict is Verdict(photo.label)
            assert answer.models["test-1"].label == photo.label


def test_the_registry_hook_loads_a_package_by_its_use(
    trained: Outcome, asset_store: AssetStore
) -> None:
    use = ModelUse(name="test-1", role="shadow", package=str(trained.package))  # type: ignore[call-arg]
    model = load_any(use, asset_store, load_specs())
    assert model.name == "test-1" and model.verdicts is not None


def test_a_missing_head_is_named(package: Path, asset_store: AssetStore) -> None:
    (package / HEAD_FILE).unlink()
    with pytest.raises(ModelError, match=rf"{HEAD_FILE}: the package's head is missing"):
        load_package_model(package, asset_store, threads=1)


def test_a_tampered_head_is_named(package: Path, asset_store: AssetStore) -> None:
    head = SoftmaxHead.load(package / HEAD_FILE)
    head.bias[2] += 5.0  # a well-formed head that always says predator
    (package / HEAD_FILE).write_bytes(head.to_bytes())
    with pytest.raises(ModelError, match=rf"{HEAD_FILE}: the package's head has sha256 .* changed"):
        load_package_model(package, asset_store, threads=1)


def test_a_tampered_verdict_map_is_named(package: Path, asset_store: AssetStore) -> None:
    text = (package / VERDICTS_FILE).read_text()
    (package / VERDICTS_FILE).write_text(text.replace("predator:\n", "chicken_too:\n"))
    with pytest.raises(ModelError, match=rf"{VERDICTS_FILE}: the package's verdict map has"):
        load_package_model(package, asset_store, threads=1)


def test_another_extractor_is_refused(package: Path, asset_store: AssetStore) -> None:
    info = yaml.safe_load((package / PACKAGE_FILE).read_text())
    info["extractor"]["sha256"] = "0" * 64
    (package / PACKAGE_FILE).write_text(yaml.safe_dump(info))
    with pytest.raises(ModelError, match=r"the head was trained on .* retrain the head"):
        load_package_model(package, asset_store, threads=1)


def test_a_folder_without_package_yaml_is_not_a_package(
    tmp_path: Path, asset_store: AssetStore
) -> None:
    with pytest.raises(ModelError, match=r"package\.yaml: missing; .* is not a model package"):
        load_package_model(tmp_path, asset_store, threads=1)


def test_the_package_records_extractor_data_and_operating_point(trained: Outcome) -> None:
    info = yaml.safe_load((trained.package / PACKAGE_FILE).read_text())
    assert info["extractor"]["model"] == "mobilenet_v1_embedding"
    assert len(info["extractor"]["sha256"]) == 64
    assert len(info["training"]["photos"]) == 26
    assert all(len(p["sha256"]) == 64 for p in info["training"]["photos"])
    assert info["training"]["augmentations"] == ["original", "flip"]
    assert "predator_shift" in info["training"]["operating_point"]
    assert not list(trained.package.parent.glob(".*"))  # no temporary folder left behind


def test_versions_are_never_overwritten(trained: Outcome) -> None:
    head = SoftmaxHead.load(trained.package / HEAD_FILE)
    with pytest.raises(ModelError, match="versions are never overwritten"):
        write_package(trained.package.parent, trained.info, head, {"chicken": {}, "predator": {}})


def test_a_damaged_head_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / HEAD_FILE
    bad.write_bytes(b"not an npz")
    with pytest.raises(ModelError, match=rf"{re.escape(str(bad))}: not a head file"):
        SoftmaxHead.load(bad)
