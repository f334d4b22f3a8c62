#!/usr/bin/env python3
"""Leave one camera out: does re-fitting on a camera's own empty scenes (and a few of its hens)
cut its false alarms at unchanged predator recall?

For each fixed camera of ``../shared/data/train`` with enough empty frames, and for the shared
car clip (a fixed road camera, motion that is never an animal):

1. a **base head** is trained as ``tensorchicken train`` would (blended 50/50 with the zero-shot
   models, operating point by inner folds) on every picture of ``../shared/data`` and
   ``train/`` except that camera's and except the **test predators** (every predator frame of
   the fixed cameras listed in ``TEST_PREDATOR_CAMERAS``, never trained on by any base);
2. the camera's empty frames are split in time (alternate frames): the first half is given to
   the appliance as its collector would take it (crops at random places and motion-like sizes,
   ``edge.learn.places``, plus the whole frame); the second half is held out, cut the same way
   with other boxes;
3. the head is re-fitted from the base (``edge.learn.refit``) on the given crops, and separately
   on those plus ``--hens`` labelled hens of the camera when it has hens (the rest held out);
4. before (the base, blended) and after (the re-fit, gated by the crops it was fitted on as
   the product's is, ``classifier.scene_gate``; ``--no-gate``: ungated), and the zero-shot
   models alone, are measured on the held-out empty crops, the held-out hens, the camera's own
   predators and the test predators.

With ``--start default`` the base is the shipped default head's kind instead
(``edge.train.default_head``: the two MobileNet v2s' 2560 pre-logits features, night copies,
per-camera weights) fitted without that camera and the test predators, blended as the
classifier blends it (at the shipped operating points, in the lights its head.yaml names), and
also at 0.5 in every light; the re-fit starts from its weights. The base learns no detector
boxes (the shipped head does: ``scripts/build_default_head.py --detector``).

Run from the repository (a few minutes on two cores; embeddings are cached in ``--cache``)::

    nice -n 10 .venv/bin/python scripts/learn_loco.py [--prior-l2 0.05] [--start default] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("TENSORCHICKEN_SHARED", REPO.parent / "shared"))
os.environ.setdefault("TENSORCHICKEN_MIRROR", f"{SHARED / 'models'}:{SHARED / 'data'}")

from camera.box import Box  # noqa: E402
from classifier import load_classifier  # noqa: E402
from classifier.config import ModelsConfig  # noqa: E402
from classifier.crop import crop_square  # noqa: E402
from classifier.embeddings import load_extractor  # noqa: E402
from classifier.feature_head import CLASSES, class_scores, shipped_head  # noqa: E402
from classifier.regime import Regime, regime_of  # noqa: E402
from classifier.scene_gate import GatedHead  # noqa: E402
from edge.assets import AssetStore  # noqa: E402
from edge.learn.heads import zero_shot_config  # noqa: E402
from edge.learn.places import MotionPlaces  # noqa: E402
from edge.learn.refit import decider_of, refit_head, scheme_of, targets_for  # noqa: E402
from edge.train import default_head as dh  # noqa: E402
from edge.train.clips import ClipSettings, clip_crops  # noqa: E402
from edge.train.dataset import Embedded  # noqa: E402
from edge.train.trainer import TrainSettings, class_scheme, fit_calibrated  # noqa: E402

DATA = SHARED / "data"
# Fixed cameras whose predator frames are never trained on: the predators every base must
# still find after its re-fit (IR and day trail cameras, a patio, a feeder, a cat door).
TEST_PREDATOR_CAMERAS = (
    "noahpbrown:web_trailcams_other (mixed unknown cameras)", "ratsakatika-camtraps:carpathians",
    "cdzombak-trailcamai:meidase-trailcam", "gabegalindo:moultrie_feeder_cam",
    "garethstoyle:test_fox1", "garethstoyle:test_badger", "garethstoyle:example_fox2",
    "catdoor:fisheye_door_cam", "nccandid:HC09", "nccandid:NRC22", "nccandid:NCCC365",
    "nccandid:backyard_unknown",
)
MIN_EMPTY = 8
CROPS_PER_FRAME = 3
CAR_CLIP = DATA / "train" / "video" / "intel__car-detection.mp4"
PREDATOR_THRESHOLD, CHICKEN_THRESHOLD = 0.5, 0.3


@dataclass
class Picture:
    file: str
    label: str
    subclass: str
    camera: str
    rgb: np.ndarray | None = None


def rows(photo_share: int) -> list[Picture]:
    """Every picture of the two manifests except clips; of ``train/``'s ordinary photos, one
    in ``photo_share`` (every fixed-camera frame is kept)."""
    found = []
    for manifest in (DATA / "MANIFEST.csv", DATA / "train" / "MANIFEST.csv"):
        with manifest.open(newline="", encoding="utf-8") as fh:
            photos = 0
            for r in csv.DictReader(fh):
                if r["label"] in ("video",) or r["file"].endswith(".mp4"):
                    continue
                if r.get("scene") == "photo":
                    photos += 1
                    if photos % photo_share:
                        continue
                found.append(Picture(r["file"], r["label"], r["subclass"],
                                     r.get("camera") or f"photo:{r['file']}"))
    return found


def load_rgb(file: str) -> np.ndarray:
    bgr = cv2.imread(str(DATA / file), cv2.IMREAD_COLOR)
    if bgr is None:  # webp and friends OpenCV cannot read are skipped by the caller
        raise OSError(file)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Scorer:
    """Embeddings and zero-shot scores of pictures, cached by key."""

    def __init__(self, store: AssetStore, cache: Path) -> None:
        self.extractor = load_extractor(store, threads=2)
        # The zero-shot models alone, as `train` blends a package with them: the shipped default
        # head steps aside for the owner's head, and it learnt every camera here, the held-out
        # one too.
        self.zero_shot = load_classifier(zero_shot_config(ModelsConfig()), store)
        self.cache = cache
        # The default configuration's zero-shot models are the default head's sources.
        self.stamp = dh.cache_stamp(dh.load_sources(store, threads=1))
        self.known = self.load(cache, self.stamp)

    @staticmethod
    def load(cache: Path, stamp: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The cached outputs, unless the models or their verdict maps have changed since
        (:func:`edge.train.default_head.cache_stamp`)."""
        npz = dh.read_stamped(cache, stamp)
        if not npz:
            return {}
        keys = [str(k) for k in npz["keys"]]
        return {k: (f, p) for k, f, p in zip(keys, npz["features"], npz["partner"], strict=True)}

    def of(self, key: str, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if key not in self.known:
            features, _ = self.extractor.embed(rgb)
            answer = self.zero_shot.classify(rgb)
            self.known[key] = (features.copy(),
                               np.array([answer.predator_score, answer.chicken_score]))
        return self.known[key]

    def save(self) -> None:
        keys = sorted(self.known)
        dh.write_stamped(self.cache, self.stamp, keys=np.array(keys),
                         features=np.array([self.known[k][0] for k in keys]),
                         partner=np.array([self.known[k][1] for k in keys]))


LIGHTS = tuple(Regime)


class DefaultScorer(Scorer):
    """The default head's inputs instead: the two MobileNet v2s' 2560 pooled features; the
    partner columns are the zero-shot predator and chicken scores and the picture's light
    (an index into LIGHTS), which decides whether the head is used."""

    def __init__(self, store: AssetStore, cache: Path) -> None:
        self.models = dh.load_sources(store, threads=2)
        self.cache = cache
        self.stamp = dh.cache_stamp(self.models)
        self.known = self.load(cache, self.stamp)

    def of(self, key: str, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if key not in self.known:
            x, z = dh.source_outputs(self.models, rgb)
            self.known[key] = (x.astype(np.float32),
                               np.array([*z, LIGHTS.index(regime_of(rgb))], np.float32))
        return self.known[key]


def crops_of(rgb: np.ndarray, seed: int) -> list[np.ndarray]:
    """The whole frame and CROPS_PER_FRAME squares where a collector would cut them."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    places = MotionPlaces(seed=seed)
    h, w = rgb.shape[:2]
    boxes: list[Box] = [places.sample("c", aspect=w / h) for _ in range(CROPS_PER_FRAME)]
    return [crop_square(bgr, (), size=224)] + [crop_square(bgr, [b], size=224) for b in boxes]


@dataclass
class Set:
    """Embedded items: features, zero-shot partner scores, verdict labels."""

    features: np.ndarray
    partner: np.ndarray
    labels: list[str]

    @staticmethod
    def of(items: Sequence[tuple[np.ndarray, np.ndarray, str]]) -> Set:
        if not items:
            return Set(np.zeros((0, 1024), np.float32), np.zeros((0, 2)), [])
        return Set(np.array([i[0] for i in items]), np.array([i[1] for i in items]),
                   [i[2] for i in items])


def base_head(train: Set, groups: np.ndarray):
    labels = ["background" if label == "person" else label for label in train.labels]
    photos = [type("P", (), {"label": label, "subclass": ""})() for label in labels]
    scheme = class_scheme(photos, fine=False, min_per_class=4)
    n = len(labels)
    emb = Embedded(train.features, np.arange(n), ("original",) * n, np.arange(n), np.zeros(n))
    settings = TrainSettings(blend=0.5, predator_threshold=PREDATOR_THRESHOLD,
                             chicken_threshold=CHICKEN_THRESHOLD)
    head, _ = fit_calibrated(emb, np.arange(n), labels, groups, scheme, settings,
                                 train.partner)
    return head, scheme


def rates(verdicts: list[str], labels: list[str]) -> dict[str, object]:
    v, t = np.array(verdicts), np.array(labels)
    out: dict[str, object] = {}
    for label in ("background", "chicken", "predator"):
        mine = t == label
        if not mine.any():
            continue
        n = int(mine.sum())
        if label == "predator":
            out["predator_recall"] = f"{int((v[mine] == 'predator').sum())}/{n}"
        else:
            out[f"{label}_called_predator"] = f"{int((v[mine] == 'predator').sum())}/{n}"
        if label == "chicken":
            out["chicken_called_chicken"] = f"{int((v[mine] == 'chicken').sum())}/{n}"
    return out


def evaluate(head, scheme, sets: dict[str, Set]) -> dict[str, object]:
    rule = decider_of(scheme_of(scheme.classes, scheme.verdict_of), 0.5, PREDATOR_THRESHOLD,
                      CHICKEN_THRESHOLD)
    out: dict[str, object] = {}
    for name, s in sets.items():
        if s.labels:
            out[name] = rates(rule.verdicts(head.probabilities(s.features), s.partner), s.labels)
    return out


def verdicts_of(scores: np.ndarray) -> list[str]:
    """Verdicts of (predator, chicken) score rows at the appliance's thresholds."""
    return ["predator" if p >= PREDATOR_THRESHOLD else "chicken" if c >= CHICKEN_THRESHOLD
            else "background" for p, c in scores[:, :2]]


def zero_shot(sets: dict[str, Set]) -> dict[str, object]:
    return {name: rates(verdicts_of(s.partner), s.labels) for name, s in sets.items()
            if s.labels}


# The default head's classes, each its own verdict.
DEFAULT_SCHEME = scheme_of(CLASSES, {c: c for c in CLASSES})


def judged(head, scheme, sets: dict[str, Set], default: bool
           ) -> dict[str, dict[str, object]]:
    """Figures per way of blending: the default head's two, or the package's one."""
    return evaluate_default(head, sets) if default else {"": evaluate(head, scheme, sets)}


def default_base(examples: Sequence[dh.Example], feats: dh.Features, camera: str):
    """A head of the default head's kind (its recipe, night copies and weights) that never saw
    ``camera`` nor the test predators."""
    keep = [i for i, e in enumerate(examples) if e.camera != camera
            and not (e.camera in TEST_PREDATOR_CAMERAS and e.label == "predator")]
    return dh.fit(examples, feats, np.flatnonzero(np.isin(feats.example, keep)), dh.Recipe())


def evaluate_default(head, sets: dict[str, Set]) -> dict[str, dict[str, object]]:
    """Blended as the classifier blends the default head: at the shipped operating points in
    the lights its head.yaml names, and, for comparison, at 0.5 in every light."""
    shipped = shipped_head().info.operating_points
    out: dict[str, dict[str, object]] = {}
    for how, points in ((" (as shipped)", shipped),
                        (" (every light)", dict.fromkeys(LIGHTS, 0.5))):
        out[how] = {}
        for name, s in sets.items():
            if s.labels:
                lights = [LIGHTS[int(r)] for r in s.partner[:, 2]]
                blended = dh.blended_scores(class_scores(head, s.features), s.partner[:, :2],
                                            lights, points, 0.5)
                out[how][name] = rates(verdicts_of(blended), s.labels)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior-l2", type=float, default=0.05)
    p.add_argument("--hens", type=int, default=5, help="labelled hens given, when it has some")
    p.add_argument("--cache", type=Path,
                   default=Path("/tmp/tensorchicken-learn-loco-zero-shot.npz"))
    p.add_argument("--photo-share", type=int, default=3,
                   help="train on one in N of train/'s ordinary photos (all fixed-camera frames)")
    p.add_argument("--start", choices=("package", "default"), default="package",
                   help="re-fit a head trained as tensorchicken train does (package), or one "
                        "of the default head's kind (default)")
    p.add_argument("--default-cache", type=Path,
                   default=Path("/tmp/tensorchicken-learn-loco-default.npz"))
    p.add_argument("--no-gate", action="store_true",
                   help="let the re-fit decide every crop (the product gates it by the crops it "
                        "was fitted on: classifier.scene_gate)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    started = time.perf_counter()
    scorer: Scorer | DefaultScorer
    if args.start == "default":
        scorer = DefaultScorer(AssetStore(), args.default_cache)
    else:
        scorer = Scorer(AssetStore(), args.cache)
    pictures = []
    for pic in rows(args.photo_share):
        try:
            pic.rgb = load_rgb(pic.file)
        except OSError:
            continue
        pictures.append(pic)
    whole = {}
    for n, pic in enumerate(pictures, start=1):
        assert pic.rgb is not None  # read just above
        whole[pic.file] = scorer.of(f"whole:{pic.file}", pic.rgb)
        if n % 200 == 0:
            scorer.save()
            print(f"{n} of {len(pictures)} pictures embedded and scored "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    scorer.save()
    test_predators = Set.of([(*whole[q.file], "predator") for q in pictures
                             if q.camera in TEST_PREDATOR_CAMERAS and q.label == "predator"])
    examples: list[dh.Example] | None = None
    if isinstance(scorer, DefaultScorer):
        examples = dh.read_examples([DATA / "MANIFEST.csv", DATA / "train" / "MANIFEST.csv"])
        cache_file = args.default_cache.with_suffix(".examples.npz")
        cache = dh.load_cache(cache_file, scorer.stamp)
        feats = dh.extract(examples, DATA, scorer.models, cache)
        dh.save_cache(cache_file, cache, scorer.stamp)
        print(f"default head's examples embedded ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr)
    counts: dict[str, int] = {}
    for q in pictures:
        if q.label == "background" and not q.camera.startswith("photo:"):
            counts[q.camera] = counts.get(q.camera, 0) + 1
    cameras = sorted(c for c, n in counts.items() if n >= MIN_EMPTY)
    report: dict[str, object] = {"prior_l2": args.prior_l2, "start": args.start,
                                 "gate": not args.no_gate, "cameras": {}}
    for camera in [*cameras, "clip:intel__car-detection"]:
        mine = [q for q in pictures if q.camera == camera]
        train_pics = [q for q in pictures if q.camera != camera
                      and not (q.camera in TEST_PREDATOR_CAMERAS and q.label == "predator")]
        if examples is not None:
            head, scheme = default_base(examples, feats, camera), DEFAULT_SCHEME
        else:
            train = Set.of([(*whole[q.file], q.label) for q in train_pics])
            _, groups = np.unique([q.camera for q in train_pics], return_inverse=True)
            head, scheme = base_head(train, groups)
        given, held = camera_split(camera, mine, scorer)
        hens = [q for q in sorted(mine, key=lambda q: q.file) if q.label == "chicken"]
        own_predators = Set.of([(*whole[q.file], "predator") for q in mine
                                if q.label == "predator"])
        variants = {"empty scenes": given}
        held_hens = Set.of([(*whole[q.file], "chicken") for q in hens])
        if len(hens) > args.hens:
            given_hens = hens[::max(1, len(hens) // args.hens)][:args.hens]
            rest = [q for q in hens if q not in given_hens]
            held_hens = Set.of([(*whole[q.file], "chicken") for q in rest])
            variants[f"empty scenes + {args.hens} hens"] = Set.of(
                [*zip(given.features, given.partner, given.labels, strict=True),
                 *[(*whole[q.file], "chicken") for q in given_hens]])
        sets = {"held-out empty": held, "held-out hens": held_hens,
                "own predators": own_predators, "test predators": test_predators}
        entry: dict[str, object] = {"given_empty_crops": len(given.labels),
                                    "held_out_empty_crops": len(held.labels),
                                    "zero-shot alone": zero_shot(sets)}
        for how, figures in judged(head, scheme, sets, examples is not None).items():
            entry[f"before (base head, blended){how}"] = figures
        for name, data in variants.items():
            fitted = refit_head(head, data.features, targets_for(data.labels, scheme),
                                args.prior_l2)
            # As the product's re-fit: deciding near its own crops only (unless --no-gate).
            refit = fitted if args.no_gate else GatedHead.around(head, fitted, data.features)
            for how, figures in judged(refit, scheme, sets, examples is not None).items():
                entry[f"after: {name}{how}"] = figures
        report["cameras"][camera] = entry  # type: ignore[index]
        scorer.save()
        print(f"{camera}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=1) if args.json else table(report))
    return 0


def camera_split(camera: str, mine: list[Picture], scorer: Scorer) -> tuple[Set, Set]:
    """The camera's empty crops: given (even frames) and held out (odd frames)."""
    given: list[tuple[np.ndarray, np.ndarray, str]] = []
    held: list[tuple[np.ndarray, np.ndarray, str]] = []
    if camera.startswith("clip:"):
        crops, _, count = clip_crops(CAR_CLIP, ClipSettings(still_every=10, still_crops=3))
        for index, kind, rgb in crops:
            # First half: what the appliance collects (its still scene, and motion called
            # nothing joining it); second half held out: the cars' motion crops.
            key = f"clip:{index}:{kind}:{len(given) + len(held)}"
            if index < count / 2:
                given.append((*scorer.of(key, rgb), "background"))
            elif kind == "motion":
                held.append((*scorer.of(key, rgb), "background"))
        return Set.of(given), Set.of(held)
    empty = sorted((q for q in mine if q.label == "background"), key=lambda q: q.file)
    for n, q in enumerate(empty):
        assert q.rgb is not None
        side = given if n % 2 == 0 else held
        for k, crop in enumerate(crops_of(q.rgb, seed=n * 2 + (n % 2))):
            side.append((*scorer.of(f"crop:{q.file}:{n % 2}:{k}", crop), "background"))
    return Set.of(given), Set.of(held)


def table(report: dict[str, object]) -> str:
    lines = [f"prior_l2 {report['prior_l2']}, gated {report['gate']}, {report.get('seconds')} s"]
    for camera, entry in report["cameras"].items():  # type: ignore[attr-defined]
        lines.append(f"\n{camera}: {entry['given_empty_crops']} empty crops given, "
                     f"{entry['held_out_empty_crops']} held out")
        for what, figures in entry.items():
            if isinstance(figures, dict):
                cells = "; ".join(f"{s}: " + ", ".join(f"{k} {v}" for k, v in f.items())
                                  for s, f in figures.items())
                lines.append(f"  {what:34s} {cells}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
