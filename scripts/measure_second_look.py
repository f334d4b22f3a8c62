#!/usr/bin/env python3
"""Would a second look by the embedding extractor earn its cost? Prints the figures.

The default head reads the 2560 pooled numbers the two zero-shot MobileNet v2s already compute,
so it is nearly free. The MobileNet v1 embedding extractor (``mobilenet_v1_embedding``) gives
1024 numbers more, but it is a third network on the crop. This measures, held out by camera
exactly as ``scripts/build_default_head.py`` does (the same examples, copies, folds, operating
points and figures, ``edge/train/default_head.py``):

- ``as_shipped``: the head on the 2560 pooled numbers, as the appliance runs today;
- ``with_extractor``: a head on the 2560 and the extractor's 1024, on every crop;
- ``second_look_from_L``: the shipped blend, except where its predator score lies in [L, 0.5),
  the undecided band just under the threshold: there the extractor's head decides, at its own
  operating points and at the lowest points that keep the cascade's false alarms within the
  builder's rule. Only the crops in the band would pay for the third network; ``band_share``
  says how many, per label;

and the cost: medians of the bare ``invoke()`` of each network on one real picture. Run::

    TENSORCHICKEN_MIRROR=../shared/models:../shared/data nice -n 10 \\
        .venv/bin/python scripts/measure_second_look.py --cache /tmp/second-look.npz

It takes about 4 minutes with no cache on a 2-core machine (2.5 with it).
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
from classifier.regime import Regime  # noqa: E402

SHARED = REPO.parent / "shared"


def summary(fig: dict[str, Any]) -> dict[str, Any]:
    """The headline rates, and predator recall and hens per scene kind."""
    out = dh.headline(fig)
    out["fixed_cameras_recall"] = round(fig["fixed_cameras"]["predator_recall"], 3)
    out["fixed_cameras_hens_reaching_veto"] = round(
        fig["fixed_cameras"]["chicken_reaching_veto"], 3)
    out["recall_per_scene"] = {s: round(v["predator_recall"], 3)
                               for s, v in fig["per_scene"].items() if "predator_recall" in v}
    return out


def held_out(examples: Sequence[dh.Example], feats: dh.Features, regimes: list[Regime],
             recipe: dh.Recipe) -> tuple[np.ndarray, np.ndarray, dict[Regime, float]]:
    """Held-out head probabilities on ``feats``, the zero-shot scores, and the builder's
    operating points for them."""
    zero_shot = feats.zero_shot[feats.originals()]
    probs = dh.held_out(examples, feats, recipe)
    return probs, zero_shot, dh.operating_points(examples, probs, zero_shot, regimes, recipe)


def named(points: dict[Regime, float]) -> dict[str, float]:
    """Operating points by the light's name."""
    return {r.value: p for r, p in points.items()}


def invoke_ms(infer: Any, rgb: np.ndarray, runs: int) -> float:
    """Median milliseconds of the bare ``invoke()`` over ``runs`` (after 10 to warm up)."""
    times = [infer(rgb) for _ in range(runs + 10)][10:]
    return round(float(np.median(times)), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    dh.measuring_args(p, SHARED)
    p.add_argument("--band", type=float, nargs="+", default=[0.2, 0.3],
                   help="lower ends of the undecided band (upper end 0.5)")
    p.add_argument("--runs", type=int, default=200, help="invokes timed per network")
    args = p.parse_args(argv)
    m = dh.open_measuring(args, SHARED)
    examples, models, extractor = m.examples, m.models, m.extractor
    both = m.features(args)
    recipe = dh.Recipe()
    regimes = dh.regimes_of(examples, args.data)
    pooled = dh.pooled_only(both, models)
    probs, zero_shot, points = held_out(examples, pooled, regimes, recipe)
    shipped = dh.blended_scores(probs, zero_shot, regimes, points, recipe.blend)
    probs2, zero_shot2, points2 = held_out(examples, both, regimes, recipe)
    second = dh.blended_scores(probs2, zero_shot2, regimes, points2, recipe.blend)
    report: dict[str, Any] = {
        "as_shipped": {"points": named(points), **summary(dh.figures(examples, shipped))},
        "with_extractor": {"points": named(points2), **summary(dh.figures(examples, second))},
    }
    for low in args.band:
        band = dh.undecided(shipped, low)
        report[f"second_look_from_{low}"] = {
            "band_share": dh.undecided_share(examples, band),
            "at_the_second_head_s_points": summary(
                dh.figures(examples, dh.cascaded(shipped, second, low))),
        }
        chosen = dh.second_look_points(examples, probs2, zero_shot2, regimes, recipe, shipped,
                                       low)
        report[f"second_look_from_{low}"]["at_points_chosen_on_it"] = (
            "none keeps the false alarms down" if chosen is None
            else {"points": named(chosen[1]), **summary(dh.figures(examples, chosen[0]))})
    rgb = load_image(args.data / examples[0].file)
    report["invoke_ms_median"] = {
        **{m.name: invoke_ms(lambda x, m=m: m.infer(x)[2], rgb, args.runs) for m in models},
        extractor.model.name: invoke_ms(lambda x: extractor.embed(x)[1], rgb, args.runs),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
