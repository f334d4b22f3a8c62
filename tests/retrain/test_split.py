"""The split never leaks: a photo, its variations, its copies and near-twins stay on one side."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from classifier.embeddings import load_extractor
from edge.assets import AssetStore
from edge.train.augment import gain
from edge.train.dataset import Photo, embed_photos, make_photo
from edge.train.split import grouped_folds, photo_groups
from edge.train.trainer import TrainSettings, class_scheme, cross_validate, unseen_species


def test_folds_partition_the_photos_by_group_and_hold_every_label() -> None:
    labels = ["chicken"] * 12 + ["predator"] * 9 + ["background"] * 5
    groups = np.array([i // 2 for i in range(len(labels))])  # pairs of twins
    folds = grouped_folds(labels, groups, k=3, seed=4)
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(labels)))
    for f in folds:
        assert not set(f.train) & set(f.test)
        assert not set(groups[f.train]) & set(groups[f.test])
        assert {labels[i] for i in f.test} == {"chicken", "predator", "background"}


def test_too_few_photos_for_the_folds_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 distinct photos cannot make 3 folds"):
        grouped_folds(["chicken", "predator", "chicken"], np.array([0, 1, 1]), k=3)


def test_frames_of_one_camera_share_a_group_and_never_straddle_folds() -> None:
    cameras = ["nestbox"] * 4 + ["porch"] * 3 + [""] * 6
    hashes = [f"h{i}" for i in range(len(cameras))]
    groups = photo_groups(hashes, cameras=cameras)
    assert len(set(groups[:4].tolist())) == 1 and len(set(groups[4:7].tolist())) == 1
    assert groups[0] != groups[4]
    assert len(set(groups[7:].tolist())) == 6  # no camera named: each photo its own group
    labels = ["chicken"] * 4 + ["predator"] * 3 + ["chicken", "predator", "background"] * 2
    for fold in grouped_folds(labels, groups, k=2, seed=1):
        assert not {cameras[i] for i in fold.train if cameras[i]} & {
            cameras[i] for i in fold.test if cameras[i]}


def test_copies_and_near_twins_share_a_group(
    tmp_path: Path, asset_store: AssetStore, small_photos: list[Photo]
) -> None:
    original = small_photos[0]
    copy = tmp_path / "renamed_copy.jpg"
    shutil.copyfile(original.path, copy)
    photos = [*small_photos[:4], make_photo(copy, original.label, "", "copy")]
    extractor = load_extractor(asset_store)
    twin = gain(1.08)(original.load())
    features = np.stack([extractor.embed(p.load())[0] for p in photos]
                        + [extractor.embed(twin)[0]])
    groups = photo_groups([p.sha256 for p in photos] + ["twin"], features)
    assert groups[0] == groups[4] == groups[5]  # copy by bytes, twin by embedding
    assert len(set(groups[:4].tolist())) == 4   # different photos stay apart


def test_cross_validation_never_fits_on_a_held_out_photo_or_its_variations(
    asset_store: AssetStore, small_photos: list[Photo], fits_seen: list[set[int]]
) -> None:
    emb = embed_photos(small_photos, load_extractor(asset_store), ["original", "flip", "grey"])
    # Tag each row with its photo, so every fit can be traced back to the photos it saw.
    tagged = emb.features.copy()
    tagged[:, 0] = emb.photo_index
    emb = replace(emb, features=tagged)
    labels = [p.label for p in small_photos]
    groups = photo_groups([p.sha256 for p in small_photos])
    settings = TrainSettings(folds=3, inner_folds=3)
    held = cross_validate(emb, labels, groups, class_scheme(small_photos, False, 4), settings)
    per_fold = 1 + settings.inner_folds  # the fold's head, then its inner heads for the shift
    assert len(fits_seen) == per_fold * len(held.folds)
    for n, fold in enumerate(held.folds):
        for photos_fitted in fits_seen[n * per_fold:(n + 1) * per_fold]:
            assert photos_fitted, "a fit saw no photo"
            assert not photos_fitted & set(fold.test.tolist())
    assert np.allclose(held.probs.sum(axis=1), 1.0, atol=1e-4)


def test_a_held_out_species_is_never_fitted_on(
    asset_store: AssetStore, small_photos: list[Photo], fits_seen: list[set[int]]
) -> None:
    emb = embed_photos(small_photos, load_extractor(asset_store), ["original", "flip"])
    tagged = emb.features.copy()
    tagged[:, 0] = emb.photo_index
    emb = replace(emb, features=tagged)
    labels = [p.label for p in small_photos]
    species = [p.subclass for p in small_photos]
    groups = photo_groups([p.sha256 for p in small_photos])
    settings = TrainSettings(inner_folds=3, blend=None)
    probs = unseen_species(emb, labels, species, groups, class_scheme(small_photos, False, 4),
                           settings)
    names = sorted({sp for sp, label in zip(species, labels, strict=True) if label == "predator"})
    per_species = 1 + settings.inner_folds
    assert len(names) > 3 and len(fits_seen) == per_species * len(names)
    for n, name in enumerate(names):
        held = {i for i, sp in enumerate(species) if labels[i] == "predator" and sp == name}
        for photos_fitted in fits_seen[n * per_species:(n + 1) * per_species]:
            assert photos_fitted and not photos_fitted & held
    predators = np.array(labels) == "predator"
    assert not np.isnan(probs[predators]).any() and np.isnan(probs[~predators]).all()
