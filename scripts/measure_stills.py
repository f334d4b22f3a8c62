#!/usr/bin/env python3
"""Whole pictures judged by their squares (``classifier/still.py``) or by their centred square
alone: the held-out figures of each. Prints them.

A model's input is square; a wide picture fed whole keeps its centred square only. The
appliance never has that problem (it classifies a square around whatever moved), but
``tensorchicken classify`` and ``tensorchicken eval`` take whole pictures, and so does an owner
checking a camera's frames. This measures, held out by camera exactly as
``scripts/build_default_head.py`` does (the same examples, copies, folds, operating points and
figures, ``edge/train/default_head.py``), each picture judged

- ``centre``: by its centred square, as the builder's figures are;
- ``squares_from_P``: by :func:`classifier.still.squares`, put together by
  :func:`classifier.still.deciding` with a side point of P, each square in its own light
  (``classifier/regime.py``); and the side point the builder's rule would choose
  (``classifier.still.SIDE_POINT`` should be it);

both with the default head alone and with its second look (``classifier/second_look.py``: the
extractor's head decides the squares the default head leaves undecided). Run::

    TENSORCHICKEN_MIRROR=../shared/models:../shared/data nice -n 10 \\
        .venv/bin/python scripts/measure_stills.py --cache /tmp/stills.npz

About 5 minutes with the squares not yet in the cache on a 2-core machine, 3 with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import edge.train.default_head as dh  # noqa: E402
from classifier import load_image  # noqa: E402
from classifier.embeddings import Extractor  # noqa: E402
from classifier.model import TFLiteModel  # noqa: E402
from classifier.regime import Regime, regime_of  # noqa: E402
from classifier.still import deciding, squares  # noqa: E402

SHARED = REPO.parent / "shared"
SQUARE_COPY = "square"
SIDE_POINTS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def summary(fig: dict[str, Any]) -> dict[str, Any]:
    """The headline rates; predator recall and hens recognised per scene kind."""
    out = dh.headline(fig)
    for name, part in (("fixed_cameras", fig["fixed_cameras"]), *fig["per_scene"].items()):
        out[name] = {k: round(part[k], 3) for k in
                     ("predator_recall", "chicken_recognised", "chicken_reaching_veto")
                     if part.get(k) is not None}
    return out


def square_features(examples: Sequence[dh.Example], root: Path, models: Sequence[TFLiteModel],
                    extractor: Extractor, cache: dh.Cache
                    ) -> tuple[dh.Features, list[Regime]]:
    """The model outputs of every square but the centred one of each picture (cached under the
    square's place), and each square's light."""
    rows, xs, zs, regimes = [], [], [], []
    for i, ex in enumerate(examples):
        rgb = load_image(root / ex.file)
        for top, left, side in squares(*rgb.shape[:2])[1:]:
            square = np.ascontiguousarray(rgb[top:top + side, left:left + side])
            key = (ex.sha256, f"{SQUARE_COPY}:{top},{left},{side}")
            if key not in cache:
                cache[key] = dh.source_outputs(models, square, extractor)
            rows.append(i)
            xs.append(np.asarray(cache[key][0], np.float32))
            zs.append(cache[key][1])
            regimes.append(regime_of(square))
    feats = dh.Features(np.array(rows, np.intp), (SQUARE_COPY,) * len(rows), np.stack(xs),
                        np.stack(zs))
    return feats, regimes


def judged_scores(centre: np.ndarray, rows: np.ndarray, more: np.ndarray, side_point: float
                  ) -> np.ndarray:
    """(predator, chicken) per picture from its centred square's (``centre``) and its other
    squares' (``more``, of pictures ``rows``), put together as ``classifier.still`` does."""
    out = centre.copy()
    for i in np.unique(rows):
        both = np.vstack([centre[i:i + 1], more[rows == i]])
        top, hen = deciding(both[:, 0].tolist(), both[:, 1].tolist(), side_point)
        out[i] = (both[top, 0], both[hen, 1])
    return out


def by_squares(examples: Sequence[dh.Example], centre: np.ndarray, rows: np.ndarray,
               more: np.ndarray) -> dict[str, Any]:
    """The figures of pictures judged by their centred square and by their squares at each
    side point tried; the side point chosen by the builder's rule for operating points: the
    lowest that calls no more hens, empty scenes or people predator than the centre alone."""
    alarms = {k: v for k, v in dh.called_predator(examples, centre).items() if k != "predator"}
    out: dict[str, Any] = {"centre": summary(dh.figures(examples, centre))}
    chosen = None
    for point in SIDE_POINTS:
        scores = judged_scores(centre, rows, more, point)
        called = dh.called_predator(examples, scores)
        out[f"squares_from_{point}"] = {"called_predator": called,
                                        **summary(dh.figures(examples, scores))}
        if chosen is None and all(called[k] <= n for k, n in alarms.items()):
            chosen = point
    out["side_point_chosen"] = chosen
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    dh.measuring_args(p, SHARED)
    args = p.parse_args(argv)
    m = dh.open_measuring(args, SHARED)
    examples, models = m.examples, m.models
    both = m.features(args)
    more_both, more_regimes = square_features(examples, args.data, models, m.extractor, m.cache)
    m.save(args)
    print(f"{len(more_both.x)} more squares", file=sys.stderr)
    recipe = dh.Recipe()
    regimes = dh.regimes_of(examples, args.data)
    zero_shot = both.zero_shot[both.originals()]
    pooled, more_pooled = dh.pooled_only(both, models), dh.pooled_only(more_both, models)
    probs, more_probs = dh.held_out_with(examples, pooled, recipe, more_pooled)
    points = dh.operating_points(examples, probs, zero_shot, regimes, recipe)
    first = dh.blended_scores(probs, zero_shot, regimes, points, recipe.blend)
    more_first = dh.blended_scores(more_probs, more_both.zero_shot, more_regimes, points,
                                   recipe.blend)
    probs2, more_probs2 = dh.held_out_with(examples, both, recipe, more_both)
    chosen = dh.second_look_points(examples, probs2, zero_shot, regimes, recipe, first,
                                   dh.UNDECIDED_FROM)
    report: dict[str, Any] = {"points": {r.value: v for r, v in points.items()}}
    rows = more_both.example
    report["default_head_alone"] = by_squares(examples, first, rows, more_first)
    if chosen is not None:
        points2 = chosen[1]
        more_second = dh.blended_scores(more_probs2, more_both.zero_shot, more_regimes, points2,
                                        recipe.blend)
        centre = chosen[0]
        more = dh.cascaded(more_first, more_second, dh.UNDECIDED_FROM)
        report["second_look_points"] = {r.value: v for r, v in points2.items()}
        report["with_second_look"] = by_squares(examples, centre, rows, more)
    share = {label: f"{sum(1 for i in set(rows.tolist()) if examples[i].label == label)} of "
             f"{sum(1 for e in examples if e.label == label)}"
             for label in ("predator", "chicken", "background", "person")}
    report["pictures_with_more_than_one_square"] = share
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
