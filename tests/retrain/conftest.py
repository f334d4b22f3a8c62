"""Fixtures for the retraining tests: a small, fixed subset of the real photos, and a package
trained on it once per session (real extractor, real head, real files)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import pytest

import edge.train.trainer as trainer
from edge.assets import AssetStore
from edge.train.dataset import Photo, make_photo
from edge.train.retrain import Outcome, RetrainPlan, retrain
from edge.train.trainer import TrainSettings
from tests.conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[2]


class PhotoSet:
    """A fixed, varied subset of the shared manifest: every n-th photo of each label."""

    data = SHARED_DATA
    per_label: ClassVar[dict[str, int]] = {"chicken": 10, "predator": 10, "background": 6}
    # No held-out figures and no blending (which needs the zero-shot models' answers): the
    # quickest real training.
    fast = TrainSettings(folds=0, blend=None)

    def rows(self, exclude_subclass: str = "") -> list[dict[str, str]]:
        """The subset's manifest rows, without ``exclude_subclass``."""
        with (self.data / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r["subclass"] != exclude_subclass]
        chosen = []
        for label, count in self.per_label.items():
            of_label = [r for r in rows if r["label"] == label]
            chosen += of_label[::max(1, len(of_label) // count)][:count]
        return chosen

    def files_of(self, subclass: str) -> list[str]:
        """Every file of one subclass in the whole manifest."""
        with (self.data / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
            return [r["file"] for r in csv.DictReader(fh) if r["subclass"] == subclass]

    def photos(self, rows: list[dict[str, str]]) -> list[Photo]:
        """The rows as training photos."""
        return [make_photo(self.data / r["file"], r["label"], r["subclass"], r["file"])
                for r in rows]

    @staticmethod
    def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
        """A file,label,subclass CSV of ``rows``."""
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "label", "subclass"])
            writer.writerows((r["file"], r["label"], r["subclass"]) for r in rows)
        return path


@pytest.fixture(scope="session")
def photo_set() -> PhotoSet:
    """The subset of the shared photos the retraining tests use."""
    return PhotoSet()


@pytest.fixture(scope="session")
def small_photos(photo_set: PhotoSet) -> list[Photo]:
    """The subset as photos."""
    return photo_set.photos(photo_set.rows())


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, asset_store: AssetStore, small_photos: list[Photo]
) -> Outcome:
    """A package trained on the subset (no held-out figures, one augmentation: fast)."""
    plan = RetrainPlan(name="test", version="1", packages=tmp_path_factory.mktemp("packages"),
                       settings=PhotoSet.fast, augmentations=["flip"])
    return retrain(small_photos, asset_store, plan)


@pytest.fixture
def fits_seen(monkeypatch: pytest.MonkeyPatch) -> list[set[int]]:
    """Every head fit from now on records the items it saw, read from feature 0: tag each row
    with its item (``features[:, 0] = photo_index``) before training."""
    seen: list[set[int]] = []
    real_fit = trainer.fit_head

    def recording_fit(features, targets, classes, settings=None, sample_weight=None):  # type: ignore[no-untyped-def]
        seen.append(set(features[:, 0].astype(int).tolist()))
        return real_fit(features, targets, classes, settings, sample_weight)

    monkeypatch.setattr(trainer, "fit_head", recording_fit)
    return seen
