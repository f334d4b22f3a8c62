"""Honest held-out folds: a photo, its copies and its near-twins are always on one side.

Training uses several variations of each photo (``edge/train/augment.py``); all of them carry the
photo's index, and folds are made over *groups* of photos, never over variations. A group joins
photos that are byte-identical (same sha256) or near-identical (their original embeddings' cosine
similarity at least ``near``: the same hen shot twice a second apart, a re-encoded copy), so a
fold is never tested on a picture it has, in effect, already seen.

Folds are stratified: groups are dealt out per label, largest first, to the fold that has the
fewest of that label so far, so every fold holds some of every class. Labels with the
:data:`EXTRA` prefix (examples from clips, ``edge/train/clips.py``, whose groups are whole time
segments of a clip) are dealt after the photos' labels, so adding clips never moves a photo to
another fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NEAR_DUPLICATE = 0.97
EXTRA = "clip:"


@dataclass(frozen=True, slots=True)
class Fold:
    """Photo indices to train on and to test on (disjoint)."""

    train: np.ndarray
    test: np.ndarray


def photo_groups(
    hashes: Sequence[str], embeddings: np.ndarray | None = None, near: float = NEAR_DUPLICATE,
    cameras: Sequence[str] | None = None,
) -> np.ndarray:
    """A group id per photo: equal for identical bytes, (with embeddings) near-identical ones
    and (with ``cameras``) the frames of one camera: a fixed camera's frames are near-duplicates
    of each other, so a fold is never tested on a camera it was trained on. An empty camera
    name joins nothing."""
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        parent[root(i)] = root(j)

    first: dict[str, int] = {}
    for i, digest in enumerate(hashes):
        join(i, first.setdefault(digest, i))
    first_of_camera: dict[str, int] = {}
    for i, camera in enumerate(cameras or ()):
        if camera:
            join(i, first_of_camera.setdefault(camera, i))
    if embeddings is not None and len(hashes) > 1:
        unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        similar = np.argwhere(np.triu(unit @ unit.T, k=1) >= near)
        for i, j in similar:
            join(int(i), int(j))
    roots = [root(i) for i in range(len(hashes))]
    _, ids = np.unique(roots, return_inverse=True)
    return ids.astype(np.intp)


def grouped_folds(labels: Sequence[str], groups: np.ndarray, k: int, seed: int = 0) -> list[Fold]:
    """``k`` stratified folds over photo groups (a group takes its first photo's label)."""
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < k:
        raise ValueError(f"{n_groups} distinct photos cannot make {k} folds")
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in range(n_groups)]
    label_of = [labels[int(m[0])] for m in members]
    fold_of = np.empty(n_groups, dtype=np.intp)
    size = np.zeros(k)
    for label in sorted(set(label_of), key=lambda name: (name.startswith(EXTRA), name)):
        ids = [g for g in range(n_groups) if label_of[g] == label]
        rng.shuffle(ids)
        ids.sort(key=lambda g: -len(members[g]))  # stable: shuffled within equal sizes
        count = np.zeros(k)
        for g in ids:
            # Fewest of this label first, then fewest photos overall, then a random tie-break.
            order = np.lexsort((rng.random(k), size, count))
            fold_of[g] = order[0]
            count[order[0]] += len(members[g])
            size[order[0]] += len(members[g])
    photo_fold = fold_of[groups]
    return [
        Fold(np.flatnonzero(photo_fold != f), np.flatnonzero(photo_fold == f)) for f in range(k)
    ]
