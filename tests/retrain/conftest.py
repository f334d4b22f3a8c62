"""Fixtures for the retraining tests: a small, fixed subset of the real photos, and a package
trained on it once per session (real extractor, real head, real files)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from edge.assets import AssetStore
from edge.train.dataset import Photo, make_photo
from edge.train.retrain import Outcome, RetrainPlan, retrain
from edge.train.trainer import TrainSettings

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PER_LABEL = {"chicken": 10, "predator": 10, "background": 6}


def manifest_rows(exclude_subclass: str = "") -> list[dict[str, str]]:
    """A fixed, varied subset of the shared manifest: every n-th photo of each label."""
    with (SHARED_DATA / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["subclass"] != exclude_subclass]
    chosen = []
    for label, count in PER_LABEL.items():
        of_label = [r for r in rows if r["label"] == label]
        step = max(1, len(of_label) // count)
        chosen += of_label[::step][:count]
    return chosen


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    """A file,label,subclass CSV of ``rows``."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "subclass"])
        writer.writerows((r["file"], r["label"], r["subclass"]) for r in rows)
    return path


def photos_of(rows: list[dict[str, str]]) -> list[Photo]:
    """The rows as training photos."""
    return [make_photo(SHARED_DATA / r["file"], r["label"], r["subclass"], r["file"])
            for r in rows]


FAST = TrainSettings(folds=0)


@pytest.fixture(scope="session")
def small_photos() -> list[Photo]:
    """The subset as photos."""
    return photos_of(manifest_rows())


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, asset_store: AssetStore, small_photos: list[Photo]
) -> Outcome:
    """A package trained on the subset (no held-out figures, one augmentation: fast)."""
    plan = RetrainPlan(name="test", version="1", packages=tmp_path_factory.mktemp("packages"),
                       settings=FAST, augmentations=["flip"])
    return retrain(small_photos, asset_store, plan)
