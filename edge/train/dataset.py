"""Labelled photos for training: from a manifest CSV or from the owner's archived crops, and
their embeddings under every augmentation.

A :class:`Photo` is one picture with its verdict label (chicken, predator, background), an
optional finer subclass (breed, species) and the sha256 of its bytes, which the package records
and the split uses to keep copies together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifier import ClassifierError, Verdict, load_image
from classifier.embeddings import Extractor
from classifier.model import as_rgb
from edge.events.archive import load_exact
from edge.events.errors import ArchiveError
from edge.train.augment import BACKGROUND_TILES, variations
from edge.train.clips import ClipExamples
from edge.train.errors import TrainError
from groundwork.digest import sha256_of

log = logging.getLogger(__name__)

VERDICTS = tuple(v.value for v in Verdict)


@dataclass(frozen=True, slots=True)
class Photo:
    """One labelled picture. ``exact`` marks an archived model input (PNG/.npy, read bit for
    bit), as opposed to a photo file in any format."""

    path: Path
    label: str
    subclass: str
    sha256: str
    source: str
    exact: bool = False
    camera: str = ""

    def load(self) -> np.ndarray:
        """The picture as RGB uint8; TrainError naming the file if it cannot be read."""
        try:
            return as_rgb(load_exact(self.path)) if self.exact else load_image(self.path)
        except (ClassifierError, ArchiveError, ValueError, OSError) as exc:
            raise TrainError(f"{self.path}: cannot read it for training: {exc}") from None


def make_photo(
    path: Path, label: str, subclass: str, source: str, exact: bool = False, camera: str = ""
) -> Photo:
    """A :class:`Photo` with its sha256; TrainError if the file is missing or the label unknown.
    ``camera`` names the camera it came from (cross-validation keeps a camera's photos together)."""
    if label not in VERDICTS:
        raise TrainError(f"{path}: label {label!r} is not one of {', '.join(VERDICTS)}")
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise TrainError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return Photo(path, label, subclass, digest, source, exact, camera)


@dataclass(frozen=True, slots=True)
class Embedded:
    """Embeddings of every photo under every augmentation.

    ``features[i]`` comes from photo ``photo_index[i]`` under augmentation ``augmentation[i]``;
    ``original[p]`` is the row of photo ``p`` without augmentation; ``original_ms[p]`` the
    milliseconds the extractor took on it (preparation and inference). After
    :func:`with_clips`, examples from clips follow the photos as items of one row each
    (``original`` covers them, ``original_ms`` only the photos).
    """

    features: np.ndarray
    photo_index: np.ndarray
    augmentation: tuple[str, ...]
    original: np.ndarray
    original_ms: np.ndarray

    def rows_of(self, photos: np.ndarray) -> np.ndarray:
        """Every row (all augmentations) of the given photo indices."""
        return np.flatnonzero(np.isin(self.photo_index, photos))


# Called with each photo's index and its picture as loaded, so that other work on the same
# pictures (scoring them with the current models) does not decode every file twice.
OnPicture = Callable[[int, np.ndarray], None]


def embed_photos(
    photos: Sequence[Photo], extractor: Extractor, augmentations: list[str],
    on_picture: OnPicture | None = None,
) -> Embedded:
    """Embed each photo under each augmentation (``augmentations[0]`` must be ``original``);
    background photos also under :data:`BACKGROUND_TILES` when any augmentation is asked for."""
    if not augmentations or augmentations[0] != "original":
        raise ValueError("the first augmentation must be 'original'")
    tiles = list(BACKGROUND_TILES) if len(augmentations) > 1 else []
    rows: list[np.ndarray] = []
    owner: list[int] = []
    names: list[str] = []
    original, original_ms = [], np.zeros(len(photos))
    for p, photo in enumerate(photos):
        rgb = photo.load()
        started = time.perf_counter()
        features, _ = extractor.embed(rgb)
        original_ms[p] = (time.perf_counter() - started) * 1000.0
        original.append(len(rows))
        extra = augmentations[1:] + (tiles if photo.label == "background" else [])
        rows += [features] + [extractor.embed(v)[0] for v in variations(rgb, extra)]
        owner += [p] * (1 + len(extra))
        names += ["original", *extra]
        if on_picture is not None:
            on_picture(p, rgb)
    return Embedded(
        features=np.array(rows, dtype=np.float32).reshape(len(rows), extractor.ref.outputs),
        photo_index=np.array(owner, dtype=np.intp), augmentation=tuple(names),
        original=np.array(original, dtype=np.intp), original_ms=original_ms,
    )


def with_clips(emb: Embedded, clips: Sequence[ClipExamples]) -> Embedded:
    """``emb`` followed by every example of ``clips``, each an item of its own (one row)."""
    if not clips:
        return emb
    extra = np.concatenate([c.features for c in clips])
    first_item, first_row = len(emb.original), len(emb.features)
    items = np.arange(first_item, first_item + len(extra), dtype=np.intp)
    return Embedded(
        features=np.concatenate([emb.features, extra]),
        photo_index=np.concatenate([emb.photo_index, items]),
        augmentation=emb.augmentation + tuple(f"clip_{k}" for c in clips for k in c.kind),
        original=np.concatenate([emb.original, first_row + items - first_item]),
        original_ms=emb.original_ms,
    )


def clip_groups(photo_groups: np.ndarray, clips: Sequence[ClipExamples]) -> np.ndarray:
    """Photo groups followed by one new group per (clip, time segment)."""
    groups = [photo_groups]
    next_group = int(photo_groups.max()) + 1 if len(photo_groups) else 0
    for clip in clips:
        _, segment = np.unique(clip.segment, return_inverse=True)
        groups.append(next_group + segment.astype(np.intp))
        next_group += int(segment.max()) + 1
    return np.concatenate(groups).astype(np.intp)
