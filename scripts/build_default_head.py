#!/usr/bin/env python3
"""Rebuild the default head shipped under ``classifier/data/default_head/`` from the manifests.

    TENSORCHICKEN_MIRROR=../shared/models:../shared/data \\
        python scripts/build_default_head.py [--data ../shared/data] [--cache FILE.npz]

Runs every labelled picture of ``DATA/MANIFEST.csv`` and ``DATA/train/MANIFEST.csv`` through the
two zero-shot models (features and scores; also as night copies, and as crops of the COCO
detector's boxes, ``--detector``, standing in for motion crops), prints held-out figures
(cross-validation grouped by camera) of the zero-shot models alone and blended with the head,
per scene kind, then fits the head on everything and writes ``head.npz``, ``head.yaml`` and
``training_files.txt``. The same files give the same weights; ``--cache`` keeps the models'
outputs between runs (keyed by each file's sha256).
See ``edge/train/default_head.py`` for the recipe and why.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from classifier.embeddings import load_extractor
from classifier.feature_head import DEFAULT_HEAD_DIR, SECOND_LOOK_DIR
from classifier.model import TFLiteModel
from classifier.regime import Regime
from edge.assets import AssetStore
from edge.train.default_head import (
    UNDECIDED_FROM,
    Example,
    Features,
    Recipe,
    SecondLook,
    blended_scores,
    cache_stamp,
    extract,
    figures,
    fit,
    held_out,
    load_cache,
    load_sources,
    manifests_of,
    measuring_args,
    operating_points,
    pooled_only,
    read_examples,
    regimes_of,
    save_cache,
    second_look_points,
    undecided,
    undecided_share,
    write_head,
)
from edge.train.detector import DETECTOR_FILE, LABELS_FILE, SsdDetector

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _progress(done: int) -> None:
    if done % 100 == 99:
        print(f"  {done + 1} pictures", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    measuring_args(p, SHARED)
    p.add_argument("--out", type=Path, default=DEFAULT_HEAD_DIR, help="where the head is written")
    p.add_argument("--folds", type=int, default=Recipe().folds, help="0 skips the held-out figures")
    p.add_argument("--detector", type=Path, default=SHARED / "models" / DETECTOR_FILE,
                   help="the COCO SSD detector whose boxes give the motion-crop copies")
    p.add_argument("--detector-labels", type=Path, default=SHARED / "models" / LABELS_FILE)
    p.add_argument("--second-look", type=Path, nargs="?", const=SECOND_LOOK_DIR,
                   help="also build the second look (the default head's features and the "
                   "embedding extractor's, for the crops the default head leaves undecided) "
                   f"into this folder (default {SECOND_LOOK_DIR}); the default head is the same")
    p.add_argument("--undecided-from", type=float, default=UNDECIDED_FROM,
                   help="the second look's band: from this predator score to the threshold")
    args = p.parse_args(argv)
    manifests = manifests_of(args)
    examples = read_examples(manifests)
    store = AssetStore()
    models = load_sources(store, args.threads)
    second_look = (SecondLook(load_extractor(store, args.threads), args.undecided_from)
                   if args.second_look else None)
    # With a second look every row also holds the extractor's numbers: stamped apart.
    stamp = cache_stamp(models if second_look is None
                        else [*models, second_look.extractor.model])
    cache = load_cache(args.cache, stamp)
    started = time.perf_counter()
    detector = SsdDetector(args.detector, args.detector_labels, args.threads)
    both = extract(examples, args.data, models, cache, _progress, detector,
                   None if second_look is None else second_look.extractor)
    feats = pooled_only(both, models)
    if args.cache:
        save_cache(args.cache, cache, stamp)
    print(f"{len(examples)} pictures, {len(feats.x)} examples with night copies, "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    recipe = Recipe(folds=args.folds)
    zero_shot = feats.zero_shot[feats.originals()]
    metrics = {}
    # Unmeasured (no folds): used in the recipe's lights at the plain 0.5.
    points = dict.fromkeys(recipe.regimes, 0.5)
    if args.folds:
        probs = held_out(examples, feats, recipe)
        regimes = regimes_of(examples, args.data)
        points = operating_points(examples, probs, zero_shot, regimes, recipe)
        everywhere = dict.fromkeys(Regime, 0.5)
        metrics = {
            "held_out_by_camera": {
                "as_shipped": figures(examples, blended_scores(probs, zero_shot, regimes, points,
                                                               recipe.blend)),
                "blended_everywhere_at_0.5": figures(examples, blended_scores(
                    probs, zero_shot, regimes, everywhere, recipe.blend)),
                "head_alone": figures(examples, probs[:, [2, 1]]),
                "zero_shot_alone": figures(examples, zero_shot),
            },
        }
        print(json.dumps({"operating_points": points, **metrics}, indent=1))
    head = fit(examples, feats, np.arange(len(feats.x)), recipe)
    info = write_head(args.out, head, examples, models, store, recipe, points, metrics,
                      manifests, feats, args.detector)
    print(f"wrote {args.out} (version {info.version}, head sha256 {info.head.sha256})")
    if second_look is not None:
        _build_second_look(args, second_look, examples, both, recipe, points,
                           probs if args.folds else None, models, store, manifests)
    return 0


def _build_second_look(args: argparse.Namespace, second_look: SecondLook,
                       examples: list[Example], both: Features, recipe: Recipe,
                       first_points: dict[Regime, float], first_probs: np.ndarray | None,
                       models: list[TFLiteModel], store: AssetStore,
                       manifests: list[Path]) -> None:
    """Fit and write the second look; held out by camera (with folds), its operating points
    are chosen on the cascade with the default head (:func:`second_look_points`)."""
    points = dict.fromkeys(recipe.regimes, 0.5)
    metrics: dict[str, Any] = {}
    if first_probs is not None:
        zero_shot = both.zero_shot[both.originals()]
        regimes = regimes_of(examples, args.data)
        first = blended_scores(first_probs, zero_shot, regimes, first_points, recipe.blend)
        probs = held_out(examples, both, recipe)
        chosen = second_look_points(examples, probs, zero_shot, regimes, recipe, first,
                                    second_look.undecided_from)
        if chosen is None:
            raise SystemExit("the second look: no operating points keep the cascade's false "
                             "alarms within the default head's; not written")
        cascade, points = chosen
        band = undecided(first, second_look.undecided_from)
        metrics = {
            "held_out_by_camera": {
                "with_the_default_head": figures(examples, cascade),
                "undecided_share": undecided_share(examples, band),
            },
        }
        print(json.dumps({"second_look_points": points, **metrics}, indent=1))
    head = fit(examples, both, np.arange(len(both.x)), recipe)
    info = write_head(args.second_look, head, examples, models, store, recipe, points, metrics,
                      manifests, both, args.detector, second_look)
    print(f"wrote {args.second_look} (version {info.version}, head sha256 {info.head.sha256})")


if __name__ == "__main__":
    sys.exit(main())
