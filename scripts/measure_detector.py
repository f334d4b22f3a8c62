#!/usr/bin/env python3
"""Would the COCO SSD detector earn its place in front of the classifier? Prints the figures.

Two uses of ``coco_ssd_mobilenet_v1_1.0_quant_detect.tflite`` (``../shared/models/README.md``)
are measured on labelled pictures, against the zero-shot models on the picture alone (what the
motion crop of a photo is: the whole of it; the shipped default head learnt these pictures, so it
is left out):

- ``person`` as a veto: a picture in which the detector finds a person at or above a score is
  never called predator. Reported per threshold: people, predators, hens and empty scenes
  called predator (the predators a veto loses are its cost);
- the detector's best animal box (bird, cat, dog, horse, sheep, cow, bear...) as the crop the
  classifier sees, instead of the picture: the same rates, per scene kind.

And the cost: milliseconds per frame of one detector invoke against one classify step (every
configured model), medians and p99 over the same pictures. Run::

    TENSORCHICKEN_MIRROR=../shared/models:../shared/data nice -n 10 \\
        .venv/bin/python scripts/measure_detector.py \\
        --manifest ../shared/data/MANIFEST.csv --manifest ../shared/data/train/MANIFEST.csv \\
        --root ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier import load_classifier, load_image  # noqa: E402
from classifier.crop import crop_regions  # noqa: E402
from edge.assets import AssetStore, mirrors_from_env  # noqa: E402
from edge.cli.eval import Row, headline, read_manifest  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.latency import percentile  # noqa: E402
from edge.learn.heads import zero_shot_config  # noqa: E402
from edge.train.confusion import per_scene, rates  # noqa: E402
from edge.train.detector import ANIMALS, SsdDetector  # noqa: E402

SHARED_MODELS = REPO.parent / "shared" / "models"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


@dataclass(frozen=True, slots=True)
class Seen:
    """What one picture gave: the verdicts with and without the detector, and the costs."""

    row: Row
    verdict: str
    person: float  # the detector's best person score (0 if none)
    box_verdict: str | None  # the verdict on the best animal box's crop, if there was one
    detect_ms: float
    classify_ms: float


def look(row: Row, root: Path, classifier: object, detector: SsdDetector) -> Seen:
    rgb = load_image(root / row.file)
    started = time.perf_counter()
    whole = classifier.classify(rgb)  # type: ignore[attr-defined]
    classify_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    found = detector.detect(rgb)
    detect_ms = (time.perf_counter() - started) * 1000
    person = max((f.score for f in found if f.label == "person"), default=0.0)
    animals = [f for f in found if f.label in ANIMALS and f.box.w > 0 and f.box.h > 0]
    box_verdict = None
    if animals:
        best = max(animals, key=lambda f: f.score)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        (crop,) = crop_regions(bgr, (best.box,), limit=1,
                               size=classifier.crop_side)  # type: ignore[attr-defined]
        box_verdict = classifier.classify(crop).verdict.value  # type: ignore[attr-defined]
    return Seen(row, whole.verdict.value, person, box_verdict, detect_ms, classify_ms)


def vetoed(seen: Seen, threshold: float) -> str:
    """The verdict once a person at ``threshold`` or above vetoes "predator"."""
    if seen.verdict == "predator" and seen.person >= threshold:
        return "background"
    return seen.verdict


def report(seen: list[Seen]) -> None:
    print(f"{len(seen)} pictures")
    print(f"  classifier alone: {headline(rates([(s.row.label, s.verdict) for s in seen]))}")
    for t in THRESHOLDS:
        pairs = [(s.row.label, vetoed(s, t)) for s in seen]
        lost = sum(s.row.label == "predator" and s.verdict == "predator" and s.person >= t
                   for s in seen)
        print(f"  person veto >= {t:.1f}: {headline(rates(pairs))}; predators vetoed {lost}")
    boxed = [s for s in seen if s.box_verdict is not None]
    print(f"  {len(boxed)} pictures with an animal box: whole picture: "
          f"{headline(rates([(s.row.label, s.verdict) for s in boxed]))}")
    print("  ... the box's crop instead: "
          f"{headline(rates([(s.row.label, s.box_verdict or '') for s in boxed]))}")
    whole_scenes = per_scene([(s.row.scene or "photo", s.row.label, s.verdict) for s in seen])
    box_scenes = per_scene([(s.row.scene or "photo", s.row.label, s.box_verdict or s.verdict)
                            for s in seen])
    for scene in whole_scenes:
        print(f"  {scene}: whole picture: {headline(whole_scenes[scene])}")
        print(f"  {scene}: best animal box where found: {headline(box_scenes[scene])}")
    for name, values in (("detector invoke", [s.detect_ms for s in seen]),
                         ("classify step", [s.classify_ms for s in seen])):
        print(f"  {name}: median {percentile(values, 50):.1f} ms, "
              f"p99 {percentile(values, 99):.1f} ms per frame")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, action="append", required=True,
                        help="CSV of labelled pictures (repeatable)")
    parser.add_argument("--root", type=Path, required=True, help="folder the files are in")
    parser.add_argument("--detector", type=Path,
                        default=SHARED_MODELS / "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite")
    parser.add_argument("--labels", type=Path, default=SHARED_MODELS / "coco_labels.txt")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = [row for manifest in args.manifest for row in read_manifest(manifest)]
    detector = SsdDetector(args.detector, args.labels, args.threads)
    store = AssetStore(mirrors=mirrors_from_env())
    # The zero-shot models: the shipped default head learnt these very pictures, so beside it
    # the detector would be judged against answers given on the head's own training set.
    with load_classifier(zero_shot_config(load_config(None).models), store) as classifier:
        seen = [look(row, args.root, classifier, detector) for row in rows]
    report(seen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
