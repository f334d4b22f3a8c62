"""Examples from a clip with no animal: cut by the pipeline's own motion code, grouped by time
segment, and a segment never on both sides of a split (outer folds and the inner ones)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from classifier.embeddings import load_extractor
from edge.assets import AssetStore
from edge.train.clips import ClipSettings, clip_examples, make_clip, segment_of
from edge.train.dataset import Photo, clip_groups, embed_photos, with_clips
from edge.train.errors import TrainError
from edge.train.split import photo_groups
from edge.train.trainer import (
    CLIP_LABEL,
    TrainSettings,
    class_scheme,
    cross_validate,
    with_clip_examples,
)
from tests.retrain.conftest import PhotoSet

CLIP = "video/intel__one-by-one-person-detection.mp4"
# Few examples, so that the test stays quick: every 15th moving frame, one still frame in 60.
SPARSE = ClipSettings(motion_every=15, still_every=60, still_crops=1, segments=4)


def test_segments_are_equal_stretches_with_a_guard_band_at_each_cut() -> None:
    frames = np.arange(400)
    segment = segment_of(frames, 400, 10.0, ClipSettings(segments=4, guard_s=2.0))
    assert segment[0] == 0 and segment[-1] == 3
    assert (segment[81:120] == -1).all() and segment[80] == 0 and segment[120] == 1
    kept = segment[segment >= 0]
    assert (np.diff(kept) >= 0).all()  # time order: a segment is one stretch


def test_a_file_that_is_not_a_video_is_refused(photo_set: PhotoSet) -> None:
    with pytest.raises(TrainError, match="not a video file"):
        make_clip(photo_set.data / "MANIFEST.csv")


def test_clip_frames_never_leak_across_folds(
    asset_store: AssetStore, small_photos: list[Photo], photo_set: PhotoSet,
    fits_seen: list[set[int]],
) -> None:
    extractor = load_extractor(asset_store)
    clip = clip_examples(make_clip(photo_set.data / CLIP).path, extractor, SPARSE, CLIP)
    assert {"motion", "still"} <= set(clip.kind)
    assert set(clip.segment.tolist()) == {0, 1, 2, 3}
    emb = with_clips(embed_photos(small_photos, extractor, ["original", "flip"]), [clip])
    groups = clip_groups(photo_groups([p.sha256 for p in small_photos]), [clip])
    labels = [p.label for p in small_photos] + [CLIP_LABEL] * len(clip)
    # Tag each row with its item, so every fit can be traced back to the items it saw.
    tagged = emb.features.copy()
    tagged[:, 0] = emb.photo_index
    emb = replace(emb, features=tagged)
    scheme = with_clip_examples(class_scheme(small_photos, False, 4), len(clip))
    settings = TrainSettings(folds=3, inner_folds=3)
    held = cross_validate(emb, labels, groups, scheme, settings)
    per_fold = 1 + settings.inner_folds
    first_clip_item = len(small_photos)
    for n, fold in enumerate(held.folds):
        tested = {int(groups[i]) for i in fold.test}
        for fitted in fits_seen[n * per_fold:(n + 1) * per_fold]:
            assert not {int(groups[i]) for i in fitted} & tested
            # Every fit saw some clip segments: the clip is training data in each fold.
            assert any(i >= first_clip_item for i in fitted)
    # Each segment of the clip was held out whole, in exactly one fold.
    for segment in range(4):
        items = first_clip_item + np.flatnonzero(clip.segment == segment)
        holding = [f for f in held.folds if set(items.tolist()) <= set(f.test.tolist())]
        assert len(holding) == 1
