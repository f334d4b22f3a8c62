"""Build the default head (``classifier/feature_head.py``) from the project's manifests.

``scripts/build_default_head.py`` is the command; this is its work, importable for tests:

1. every labelled row of the manifests (``shared/data/MANIFEST.csv`` and
   ``shared/data/train/MANIFEST.csv``; ``person`` rows are learnt as background) is run through
   the two zero-shot models exactly as the appliance runs a crop, keeping their pre-logits
   features and the zero-shot combination's predator and chicken scores;
2. every picture also under :data:`NIGHT_COPIES` (``edge/train/augment.py``): the corpus has
   almost no hens under IR, and a head that never saw one calls it a predator; predators too,
   so that a night look is evidence of nothing; every picture of nothing (an empty scene,
   a person) also as its quarters and centre; and every hen also as a flock
   (:attr:`Example.copies`);
3. every picture also as the crops a motion crop would show: the COCO detector's boxes
   (:func:`training_boxes`, cut as the appliance cuts a moving region), since the appliance
   classifies a square around what moved, not the photographer's frame;
4. each example is weighted so that every camera counts about as much as the square root of its
   frame count (so the 152 low-resolution pet photos of one repository, or one nest-box camera's
   48 frames, do not dominate) and each class weighs the same in total;
5. cross-validation grouped by camera (the ``camera`` column; ``source_repo`` for the first
   manifest, which has none): a camera is never in training and test at once; the held-out
   scores are blended with the zero-shot ones in log-odds and reported per scene kind;
6. the head is fitted on everything and written with its description (``head.yaml``: source
   models and tensors, the training files' sha256 in ``training_files.txt``, the metrics).

Deterministic: the same manifests and files give the same weights, byte for byte, with the same
libraries (:func:`built_with`, recorded in ``head.yaml``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from camera.box import Box
from classifier import load_image
from classifier.blend import blend, hen_score
from classifier.crop import crop_regions
from classifier.embeddings import Extractor, load_extractor
from classifier.ensemble import combine, evidence_of
from classifier.feature_head import (
    CLASSES,
    HEAD_FILE,
    INFO_FILE,
    TRAINING_FILES,
    FeatureHeadInfo,
    FeatureSource,
    class_scores,
    to_operating_point,
)
from classifier.head import HeadSettings, SoftmaxHead, fit_head
from classifier.loader import load_model
from classifier.model import TFLiteModel
from classifier.package import FileRef
from classifier.regime import Regime, regime_of
from edge.assets import AssetStore, sha256_of
from edge.board import describe
from edge.config.decision import DecisionConfig
from edge.train.augment import BACKGROUND_TILES, FLOCK_COPIES, variations
from edge.train.confusion import PERSON, SKIPPED, per_scene, rates, reaching_veto
from edge.train.detector import ANIMALS, DETECTOR_FILE, LABELS_FILE, Found, SsdDetector
from edge.train.errors import TrainError
from edge.train.split import grouped_folds

log = logging.getLogger(__name__)

SOURCES = ("mobilenet_v2_imagenet", "mobilenet_v2_inat_birds")
NIGHT_COPIES = ("ir_night", "noir_purple")
BOX_COPY = "box"
# A detection counts as a region worth learning from this score up, and each picture gives at
# most this many (the best first). A box of nearly the whole picture is the picture itself.
BOX_SCORE = 0.4
BOXES_PER_PICTURE = 2
BOX_AREA = (0.01, 0.7)
# The second look's feature source for the extractor: its one output.
EXTRACTOR_TENSOR = "output"
# The second look's band, from this predator score up to the threshold: held out by camera, from
# 0.2 it looked at 5.7 % of the predators and 2.9 % of the hens and found 1.4 points more of
# them than the default head alone; from 0.3, 3.9 % and 1.8 %, 1.3 points
# (scripts/measure_second_look.py; README, "The default head").
UNDECIDED_FROM = 0.2


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled manifest row."""

    file: str
    label: str  # chicken, predator, background or person
    scene: str
    camera: str
    sha256: str

    @property
    def target(self) -> str:
        """What the head learns: a person is background (neither chicken nor predator)."""
        return "background" if self.label == PERSON else self.label

    @property
    def copies(self) -> tuple[str, ...]:
        """The copies this example is also learnt under. The night copies, for every class,
        predators too, so that a night look is evidence of nothing (with hens and empty scenes
        alone under it, the head learnt "night means no predator" and missed predators in IR
        frames). And a picture of nothing (an empty scene, a person) also as its quarters and
        centre at half size (:data:`~edge.train.augment.BACKGROUND_TILES`): a motion crop of
        a shadow or of grass in the wind is such a part, and is still nothing. And a hen also
        as a flock of herself (:data:`~edge.train.augment.FLOCK_COPIES`): a camera over a run
        or a broiler house sees many small hens, which photos of one hen never show."""
        if self.target == "background":
            return (*NIGHT_COPIES, *BACKGROUND_TILES)
        if self.target == "chicken":
            return (*NIGHT_COPIES, *FLOCK_COPIES)
        return NIGHT_COPIES


def read_examples(manifests: Sequence[Path]) -> list[Example]:
    """Every labelled row of ``manifests`` (video rows skipped); TrainError naming the line."""
    out: list[Example] = []
    for manifest in manifests:
        with Path(manifest).open(newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                label = row.get("label", "")
                if label == SKIPPED:
                    continue
                if label not in (*CLASSES, PERSON) or not row.get("sha256"):
                    raise TrainError(f"{manifest}:{line}: needs a label in {(*CLASSES, PERSON)} "
                                     f"and a sha256, got {label!r}")
                camera = row.get("camera") or row.get("source_repo") or row["file"]
                out.append(Example(row["file"], label, row.get("scene", ""), camera,
                                   row["sha256"]))
    return out


@dataclass(frozen=True, slots=True)
class Features:
    """Per example and copy (``copy`` 0 is the original): features and zero-shot scores."""

    example: np.ndarray   # (N,) index into the examples
    copy: tuple[str, ...]
    x: np.ndarray         # (N, 2560) float32
    zero_shot: np.ndarray  # (N, 2) predator, chicken

    def originals(self) -> np.ndarray:
        """Rows of the unaugmented pictures."""
        return np.flatnonzero(np.array([c == "original" for c in self.copy]))


Cache = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


def cache_stamp(models: Sequence[TFLiteModel]) -> str:
    """What the cached outputs depend on besides the pictures: each model's file and its verdict
    map (which labels count as predator, chicken or bird). A changed map changes every zero-shot
    score, so a cache stamped otherwise is not used."""
    h = hashlib.sha256()
    for model in models:
        h.update(f"{model.name}:{sha256_of(model.path)}".encode())
        verdicts = model.verdicts
        if verdicts is not None:
            for indices in (verdicts.predator, verdicts.chicken, verdicts.birds):
                h.update(np.asarray(indices, np.int64).tobytes() + b"|")
    return h.hexdigest()


def read_stamped(path: Path, stamp: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` cache written by :func:`write_stamped` with the same
    :func:`cache_stamp`; empty if there is none, or if the models or their verdict maps have
    changed since (logged)."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as npz:
        if "stamp" not in npz or str(npz["stamp"]) != stamp:
            log.warning("%s: made with other models or verdict maps; not used", path)
            return {}
        return {name: npz[name] for name in npz.files if name != "stamp"}


def write_stamped(path: Path, stamp: str, **arrays: np.ndarray) -> None:
    """Write ``arrays`` as an ``.npz`` cache stamped with :func:`cache_stamp`."""
    # NumPy's stubs type ``**kwds`` as its keyword options (allow_pickle), not as arrays.
    np.savez(path, stamp=np.array(stamp), **arrays)  # type: ignore[arg-type]


def load_cache(path: Path | None, stamp: str) -> Cache:
    """Features cached by (sha256, copy) from an earlier run with the same :func:`cache_stamp`
    (empty if none, or if the models or their verdict maps have changed since)."""
    npz = read_stamped(path, stamp) if path is not None else {}
    if not npz:
        return {}
    keys = [tuple(k.split("|")) for k in npz["keys"]]
    return {(k[0], k[1]): (x, z) for k, x, z in zip(keys, npz["x"], npz["z"], strict=True)}


def save_cache(path: Path, cache: Cache, stamp: str) -> None:
    """Write the cache (arrays only), stamped with :func:`cache_stamp`."""
    keys = sorted(cache)
    write_stamped(path, stamp, keys=np.array([f"{a}|{b}" for a, b in keys]),
                  x=np.stack([cache[k][0] for k in keys]).astype(np.float16),
                  z=np.stack([cache[k][1] for k in keys]))


def extract(examples: Sequence[Example], root: Path, models: Sequence[TFLiteModel],
            cache: Cache, progress: Callable[[int], None] | None = None,
            detector: SsdDetector | None = None, extractor: Extractor | None = None
            ) -> Features:
    """Features of every example and its night copies, taken from ``cache`` when there (keyed
    by the file's sha256, so a changed file is run again) and added to it otherwise; with a
    ``detector``, also of the crops of its :func:`training_boxes` (copy ``box``); with an
    ``extractor``, its embedding after the models' features (:func:`source_outputs`; a cache
    must then be stamped with it, :func:`cache_stamp`)."""
    rows, copies, xs, zs = [], [], [], []
    for i, ex in enumerate(examples):
        names = ("original", *ex.copies)
        missing = any((ex.sha256, n) not in cache for n in names)
        rgb: np.ndarray | None = None
        if missing or detector is not None:
            path = root / ex.file
            if sha256_of(path) != ex.sha256:
                raise TrainError(f"{path}: its sha256 is not the manifest's")
            rgb = load_image(path)
        if rgb is not None and missing:
            for name, picture in zip(names, [rgb, *variations(rgb, list(ex.copies))],
                                     strict=True):
                cache[(ex.sha256, name)] = source_outputs(models, picture, extractor)
        keys = [(ex.sha256, name) for name in names]
        if detector is not None and rgb is not None:
            keys += _box_keys(ex, rgb, detector, models, cache, extractor)
        for key in keys:
            x, z = cache[key]
            rows.append(i)
            copies.append(BOX_COPY if key[1].startswith(BOX_COPY) else key[1])
            xs.append(np.asarray(x, np.float32))
            zs.append(z)
        if progress is not None:
            progress(i)
    return Features(np.array(rows, np.intp), tuple(copies), np.stack(xs), np.stack(zs))


def training_boxes(found: Sequence[Found], label: str) -> list[Box]:
    """The detections of a picture of ``label`` learnt as motion crops, best first: animals in
    a picture of a predator or a hen, people in one of a person, and anything in an empty
    scene (a box the detector draws there is a region that looks like something, and the
    appliance must learn that it is nothing)."""
    low, high = BOX_AREA
    wanted = [f for f in found if f.score >= BOX_SCORE and low <= f.box.area <= high]
    if label in ("predator", "chicken"):
        wanted = [f for f in wanted if f.label in ANIMALS]
    elif label == PERSON:
        wanted = [f for f in wanted if f.label == "person"]
    return [f.box for f in sorted(wanted, key=lambda f: -f.score)[:BOXES_PER_PICTURE]]


def _box_keys(ex: Example, rgb: np.ndarray, detector: SsdDetector,
              models: Sequence[TFLiteModel], cache: Cache, extractor: Extractor | None
              ) -> list[tuple[str, str]]:
    """Cache keys of the crops of ``ex``'s training boxes, run through the models if new (the
    key names the box, so another detector's boxes are never taken for these)."""
    keys = []
    for box in training_boxes(detector.detect(rgb), ex.label):
        key = (ex.sha256, f"{BOX_COPY}:{box.x:.4f},{box.y:.4f},{box.w:.4f},{box.h:.4f}")
        if key not in cache:
            bgr = np.ascontiguousarray(rgb[..., ::-1])
            (crop,) = crop_regions(bgr, (box,), limit=1, size=models[0].spec.input.shape[1])
            cache[key] = source_outputs(models, np.ascontiguousarray(crop[..., ::-1]),
                                        extractor)
        keys.append(key)
    return keys


def source_outputs(models: Sequence[TFLiteModel], rgb: np.ndarray,
                   extractor: Extractor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The head's input (the source models' pooled features, float16; then ``extractor``'s
    embedding, if given) and the zero-shot combination's (predator, chicken) scores for one
    picture."""
    features, evidence = [], []
    for model in models:
        probs, pooled, _ = model.infer(rgb)
        if pooled is None:
            raise TrainError(f"model {model.name} gives no features (manifest 'features:')")
        features.append(pooled)
        evidence.append(evidence_of(model, probs))
    combined = combine(evidence, models[0].name)
    if extractor is not None:
        features.append(extractor.embed(rgb)[0])
    return (np.concatenate(features).astype(np.float16),
            np.array([combined.predator, combined.chicken], np.float32))


def load_sources(store: AssetStore, threads: int = 2) -> list[TFLiteModel]:
    """The two zero-shot models whose features the head reads, loaded and checked."""
    from classifier.spec import load_specs

    specs = load_specs()
    return [load_model(specs[name], store, threads) for name in SOURCES]


@dataclass(frozen=True, slots=True)
class Measuring:
    """What a measuring script (``scripts/measure_*.py``) works on: the corpus, the source
    models with the extractor, the detector, and the model outputs cached under ``stamp``."""

    examples: list[Example]
    models: list[TFLiteModel]
    extractor: Extractor
    detector: SsdDetector
    cache: Cache
    stamp: str

    def features(self, args: argparse.Namespace) -> Features:
        """Every example's features with the extractor's (:func:`extract`), the cache saved
        to ``args.cache`` (if given); how long it took goes to standard error."""
        started = time.perf_counter()
        feats = extract(self.examples, args.data, self.models, self.cache, None, self.detector,
                        self.extractor)
        self.save(args)
        print(f"{len(self.examples)} pictures, {len(feats.x)} examples, "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        return feats

    def save(self, args: argparse.Namespace) -> None:
        """The cache, to ``args.cache`` if given."""
        if args.cache:
            save_cache(args.cache, self.cache, self.stamp)


def manifests_of(args: argparse.Namespace) -> list[Path]:
    """The manifests of :func:`measuring_args`' options: ``--manifest`` as given, or the shared
    data's two."""
    return args.manifest or [args.data / "MANIFEST.csv", args.data / "train" / "MANIFEST.csv"]


def measuring_args(parser: argparse.ArgumentParser, shared: Path) -> None:
    """The options every measuring script takes: the data, its manifests, a cache, threads."""
    parser.add_argument("--data", type=Path, default=shared / "data",
                        help="the shared data folder")
    parser.add_argument("--manifest", type=Path, action="append",
                        help="manifest CSV (repeatable; default DATA/MANIFEST.csv and "
                        "DATA/train/MANIFEST.csv); its file paths are relative to --data")
    parser.add_argument("--cache", type=Path, help="model outputs cached between runs (.npz)")
    parser.add_argument("--threads", type=int, default=2)


def open_measuring(args: argparse.Namespace, shared: Path) -> Measuring:
    """The corpus and models of :func:`measuring_args`' options (the detector from
    ``shared``/models); the cache is stamped with the extractor too, whose numbers every row
    holds."""
    manifests = manifests_of(args)
    store = AssetStore()
    models = load_sources(store, args.threads)
    extractor = load_extractor(store, args.threads)
    stamp = cache_stamp([*models, extractor.model])
    detector = SsdDetector(shared / "models" / DETECTOR_FILE, shared / "models" / LABELS_FILE,
                           args.threads)
    return Measuring(read_examples(manifests), models, extractor, detector,
                     load_cache(args.cache, stamp), stamp)


def example_weights(examples: Sequence[Example], feats: Features, power: float) -> np.ndarray:
    """Per row: a camera's rows weigh ``n_camera ** -power`` each (so a camera counts as
    ``n ** (1 - power)`` frames), copies as much as their original, then each class the same."""
    cams = [examples[i].camera for i in feats.example]
    _, cam_id, cam_n = np.unique(cams, return_inverse=True, return_counts=True)
    w = cam_n[cam_id].astype(np.float64) ** -power
    targets = np.array([CLASSES.index(examples[i].target) for i in feats.example])
    for k in range(len(CLASSES)):
        mask = targets == k
        if mask.any():
            w[mask] *= len(w) / (len(CLASSES) * w[mask].sum())
    return w


@dataclass(frozen=True, slots=True)
class Recipe:
    """How the head is fitted and blended, and in which lights it may be used.

    In every light, each at its own operating point. By day in colour it was once left out:
    trained on whole pictures only, the blend confirmed a person walking past the demo's yard
    camera (no picture of the corpus comes from it; seen from behind, a dark-haired person in a
    fluffy grey cardigan) as a predator in 1 of 12 visits. Learnt also on the detector's boxes
    (:func:`training_boxes`: people as the appliance crops them), it confirms none there, and
    held out by camera it finds more predators by day at fewer false alarms
    (``tensorchicken eval --clips``; README, "The default head").
    """

    l2: float = 0.05
    blend: float = 0.5
    camera_power: float = 0.5
    iterations: int = 300
    folds: int = 5
    # Ways of grouping the cameras into folds whose held-out probabilities are averaged.
    groupings: int = 3
    regimes: tuple[Regime, ...] = (Regime.DAY_COLOUR, Regime.NIGHT_IR, Regime.NIGHT_COLOUR)
    # Operating points tried, lowest first: the first that keeps false alarms down is taken.
    points: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
    # The most hens, over all lights, the held-out blend may call predator (issue 13's limit).
    hens_limit: float = 0.01


def fit(examples: Sequence[Example], feats: Features, rows: np.ndarray, recipe: Recipe
        ) -> SoftmaxHead:
    """A head fitted on ``rows`` of ``feats``."""
    targets = np.array([CLASSES.index(examples[i].target) for i in feats.example[rows]])
    weights = example_weights(examples, feats, recipe.camera_power)[rows]
    return fit_head(feats.x[rows], targets, CLASSES,
                    HeadSettings(l2=recipe.l2, iterations=recipe.iterations, balanced=False),
                    sample_weight=weights)


def held_out(examples: Sequence[Example], feats: Features, recipe: Recipe) -> np.ndarray:
    """Head probabilities (examples, 3) of each original picture, from heads that never saw its
    camera: the mean over ``recipe.groupings`` ways of grouping the cameras into folds, so that
    the operating points chosen from them do not hang on which cameras one grouping happened
    to put together (with one grouping, the night IR point came out 0.55 or 0.65 by the
    seed)."""
    return held_out_with(examples, feats, recipe)[0]


def held_out_with(examples: Sequence[Example], feats: Features, recipe: Recipe,
                  more: Features | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`held_out`, and the same heads' probabilities of ``more``: crops of the examples
    never trained on (each row judged by the heads that never saw its example's camera)."""
    runs = [held_out_once(examples, feats, recipe, seed, more)
            for seed in range(recipe.groupings)]
    return (np.mean([r[0] for r in runs], axis=0), np.mean([r[1] for r in runs], axis=0))


def held_out_once(examples: Sequence[Example], feats: Features, recipe: Recipe, seed: int,
                  more: Features | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`held_out_with` for one grouping of the cameras into folds (``seed``)."""
    cameras = sorted({e.camera for e in examples})
    groups = np.array([cameras.index(e.camera) for e in examples])
    labels = [e.target for e in examples]
    out = np.zeros((len(examples), len(CLASSES)))
    more_out = np.zeros((0 if more is None else len(more.example), len(CLASSES)))
    for fold in grouped_folds(labels, groups, recipe.folds, seed):
        train_rows = np.flatnonzero(np.isin(feats.example, fold.train))
        head = fit(examples, feats, train_rows, recipe)
        originals = feats.originals()
        test_rows = originals[np.isin(feats.example[originals], fold.test)]
        out[feats.example[test_rows]] = class_scores(head, feats.x[test_rows])
        if more is not None:
            rows = np.flatnonzero(np.isin(more.example, fold.test))
            more_out[rows] = class_scores(head, more.x[rows])
    return out, more_out


def regimes_of(examples: Sequence[Example], root: Path) -> list[Regime]:
    """The light each example's picture was taken in, as the classifier tells it."""
    return [regime_of(load_image(root / e.file)) for e in examples]


def blended_scores(head_probs: np.ndarray, zero_shot: np.ndarray, regimes: Sequence[Regime],
                   points: dict[Regime, float], weight: float) -> np.ndarray:
    """(predator, chicken) per example as the classifier gives them: the predator scores
    blended, the head's moved to the operating point of the example's light, and the higher
    chicken score (``classifier/blend.py``); the zero-shot scores in a light the head is not
    used in."""
    out = zero_shot[:, :2].astype(np.float64).copy()
    for i, regime in enumerate(regimes):
        point = points.get(regime)
        if point is not None:
            head_predator = to_operating_point(head_probs[i:i + 1, 2], point, weight)[0]
            out[i] = (blend(float(head_predator), float(zero_shot[i, 0]), weight),
                      hen_score(float(head_probs[i, 1]), float(zero_shot[i, 1])))
    return out


def _false_alarms(examples: Sequence[Example], predator: np.ndarray, rows: np.ndarray
                  ) -> dict[str, int]:
    called = predator[rows] >= 0.5
    labels = np.array([examples[i].label for i in rows])
    return {label: int((called & (labels == label)).sum())
            for label in ("chicken", "background", PERSON)}


def operating_points(examples: Sequence[Example], head_probs: np.ndarray, zero_shot: np.ndarray,
                     regimes: Sequence[Regime], recipe: Recipe) -> dict[Regime, float]:
    """Per light of ``recipe.regimes``: the lowest of ``recipe.points`` at which the held-out
    blend calls no more hens, empty scenes or people predator than the zero-shot models do at
    0.5 in that light (so it finds more predators at no cost in false alarms); a light where
    none does, or with no held-out picture, is left to the zero-shot models. Then, while more
    than ``recipe.hens_limit`` of all hens are called predator, the light where most of them
    are moves up a point (a light with no point left is left to the zero-shot models): the
    zero-shot models themselves call more hens predator than that, so matching them is not
    enough for the hens."""
    rows_of = {regime: np.flatnonzero(np.array([r == regime for r in regimes]))
               for regime in recipe.regimes}
    chosen = _points_per_light(examples, head_probs, zero_shot, regimes, rows_of, recipe)
    everyone = np.arange(len(examples))
    limit = recipe.hens_limit * sum(e.label == "chicken" for e in examples)
    while chosen:
        predator = blended_scores(head_probs, zero_shot, regimes, chosen, recipe.blend)[:, 0]
        if _false_alarms(examples, predator, everyone)["chicken"] <= limit:
            break
        called = {r: _false_alarms(examples, predator, rows_of[r])["chicken"] for r in chosen}
        worst = max(called, key=called.__getitem__)
        if not called[worst]:
            break  # the rest are the zero-shot models' own, in lights the head is not used in
        higher = [p for p in recipe.points if p > chosen[worst]]
        if higher:
            chosen[worst] = higher[0]
        else:
            del chosen[worst]
    return chosen


def _points_per_light(examples: Sequence[Example], head_probs: np.ndarray,
                      zero_shot: np.ndarray, regimes: Sequence[Regime],
                      rows_of: dict[Regime, np.ndarray], recipe: Recipe) -> dict[Regime, float]:
    """Per light (its example rows in ``rows_of``), the lowest point at which the blend adds no
    false alarm there."""
    chosen: dict[Regime, float] = {}
    for regime, rows in rows_of.items():
        if not len(rows):
            continue
        baseline = _false_alarms(examples, zero_shot[:, 0], rows)
        for point in recipe.points:
            blended = blended_scores(head_probs, zero_shot, regimes, {regime: point},
                                     recipe.blend)[:, 0]
            alarms = _false_alarms(examples, blended, rows)
            if all(alarms[k] <= baseline[k] for k in baseline):
                chosen[regime] = point
                break
    return chosen


@dataclass(frozen=True, slots=True)
class SecondLook:
    """A second look to build: the extractor whose numbers follow the models' features, and
    the lower end of the undecided band it is asked about (the upper end is the threshold)."""

    extractor: Extractor
    undecided_from: float = UNDECIDED_FROM


def pooled_only(feats: Features, models: Sequence[TFLiteModel]) -> Features:
    """``feats`` without an extractor's numbers: the source ``models``' pooled features, which
    come first in every row (:func:`source_outputs`), as the default head reads them."""
    width = sum(m.features.shape[-1] for m in models if m.features is not None)
    return replace(feats, x=feats.x[:, :width])


def undecided(first: np.ndarray, undecided_from: float) -> np.ndarray:
    """Per example, whether the default head's blended (predator, chicken) scores ``first``
    leave it to the second look: its predator score from ``undecided_from`` up to 0.5 (the
    threshold the operating points are moved to)."""
    return (first[:, 0] >= undecided_from) & (first[:, 0] < 0.5)


def cascaded(first: np.ndarray, second: np.ndarray, undecided_from: float) -> np.ndarray:
    """(predator, chicken) per example as the classifier gives them with the second look: the
    default head's blend ``first``, except where it is :func:`undecided`, where the second
    look's ``second`` decides, the chicken score staying the higher one, the default head's
    included (``classifier/ensemble.py``, ``Classifier._look_again``)."""
    band = undecided(first, undecided_from)
    out = np.where(band[:, None], second, first)
    out[band, 1] = np.maximum(first[band, 1], second[band, 1])
    return out


def undecided_share(examples: Sequence[Example], band: np.ndarray) -> dict[str, float]:
    """Per label, the share of its pictures in the second look's ``band``."""
    labels = np.array([e.label for e in examples])
    return {k: round(float(band[labels == k].mean()), 4) for k in sorted(set(labels))}


def called_predator(examples: Sequence[Example], scores: np.ndarray) -> dict[str, int]:
    """How many pictures of each label (people apart) ``scores`` call predator."""
    labels = np.array([e.label for e in examples])
    return {k: int(((scores[:, 0] >= 0.5) & (labels == k)).sum())
            for k in ("predator", "chicken", "background", PERSON)}


def second_look_points(examples: Sequence[Example], probs: np.ndarray, zero_shot: np.ndarray,
                       regimes: Sequence[Regime], recipe: Recipe, first: np.ndarray,
                       undecided_from: float
                       ) -> tuple[np.ndarray, dict[Regime, float]] | None:
    """The cascade's scores and the second look's operating points: the lowest (by their sum,
    per light from ``recipe.points``) at which the cascade (``first``, the default head's
    held-out blend, except where its predator score lies in [``undecided_from``, 0.5), where
    the second look's ``probs`` blended at those points decide) calls no more empty scenes or
    people predator than ``first`` does, and no more than ``recipe.hens_limit`` of the hens.
    The builder's rule, applied to the cascade rather than to the second look alone: at its own
    points it called one more hen predator. None if no points do."""
    limit = called_predator(examples, first)
    hens = recipe.hens_limit * sum(e.label == "chicken" for e in examples)
    for combo in sorted(itertools.product(recipe.points, repeat=len(recipe.regimes)), key=sum):
        points = dict(zip(recipe.regimes, combo, strict=True))
        second = blended_scores(probs, zero_shot, regimes, points, recipe.blend)
        scores = cascaded(first, second, undecided_from)
        alarms = called_predator(examples, scores)
        if (alarms["chicken"] <= hens and alarms["background"] <= limit["background"]
                and alarms[PERSON] <= limit[PERSON]):
            return scores, points
    return None


# The rates a measuring script prints first, from :func:`figures`.
HEADLINES = ("predator_recall", "chicken_false_alarm", "chicken_recognised",
             "chicken_reaching_veto", "background_false_alarm", "person_false_alarm")


def headline(fig: dict[str, Any]) -> dict[str, Any]:
    """:data:`HEADLINES` of :func:`figures`' ``fig``, to three decimals."""
    return {k: round(fig[k], 3) for k in HEADLINES if k in fig}


def figures(examples: Sequence[Example], scores: np.ndarray, chicken_threshold: float = 0.3
            ) -> dict[str, Any]:
    """:func:`edge.train.confusion.rates` overall and per scene of ``scores`` (predator, chicken per
    example), judged as the classifier judges them (predator at 0.5); and, for each, the share
    of hens whose chicken score reaches the chicken veto's default (``chicken_reaching_veto``):
    a hen the verdict calls chicken at 0.3 is not yet one the sprinkler is kept off for."""
    predator, chicken = scores[:, 0], scores[:, 1]
    verdicts = np.where(predator >= 0.5, "predator",
                        np.where(chicken >= chicken_threshold, "chicken", "background"))
    pairs = [(e.label, str(v)) for e, v in zip(examples, verdicts, strict=True)]
    scenes = [(e.scene or "unlabelled", e.label, str(v))
              for e, v in zip(examples, verdicts, strict=True)]
    fixed_or_night = [(e.label, str(v)) for e, v in zip(examples, verdicts, strict=True)
                      if e.scene.startswith("fixed")]
    veto = DecisionConfig().chicken_veto
    scored = [(e.label, float(c)) for e, c in zip(examples, chicken, strict=True)]
    fixed = [p for p, e in zip(scored, examples, strict=True) if e.scene.startswith("fixed")]
    return {**_short(rates(pairs)), **reaching_veto(scored, veto),
            "fixed_cameras": {**_short(rates(fixed_or_night)), **reaching_veto(fixed, veto)},
            "per_scene": {k: _short(v) for k, v in per_scene(
                scenes, [c for _, c in scored], veto).items()}}


def _short(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "confusion" and v is not None}


def digest_of_files(examples: Sequence[Example]) -> tuple[str, str]:
    """The ``training_files.txt`` text (sha256, label, file per line, sorted) and its sha256."""
    text = "".join(f"{e.sha256} {e.label} {e.file}\n"
                   for e in sorted(examples, key=lambda e: (e.file, e.sha256)))
    return text, hashlib.sha256(text.encode()).hexdigest()


def built_with() -> dict[str, str | None]:
    """The libraries whose arithmetic the weights depend on. The same files give the same
    weights with the same ones; not always with others (the head shipped on 5 Dec, rebuilt in
    a fresh environment on 6 Dec: at most 0.003 apart in a weight, the held-out figures the
    same to the fourth decimal)."""
    described = describe()
    return {k: None if described[k] is None else str(described[k])
            for k in ("python", "machine", "runtime", "numpy", "opencv")}


def write_head(folder: Path, head: SoftmaxHead, examples: Sequence[Example],
               models: Sequence[TFLiteModel], store: AssetStore, recipe: Recipe,
               points: dict[Regime, float], metrics: dict[str, Any],
               manifests: Sequence[Path], feats: Features,
               detector: Path | None = None, second_look: SecondLook | None = None
               ) -> FeatureHeadInfo:
    """Write ``head.npz``, ``training_files.txt`` and ``head.yaml`` into ``folder``; ``feats``
    are the examples it was fitted on (their copies are counted), ``detector`` the file whose
    boxes gave the ``box`` copies; with ``second_look``, the head is one (its extractor's
    numbers follow the models' features)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / HEAD_FILE).write_bytes(head.to_bytes())
    text, files_sha = digest_of_files(examples)
    (folder / TRAINING_FILES).write_text(text, encoding="utf-8")
    sources = [FeatureSource(model=m.name, file=m.spec.file, sha256=sha256_of(m.path),
                             tensor=str(m.spec.features), size=m.features.shape[-1])
               for m in models if m.features is not None]
    if second_look is not None:
        ref = second_look.extractor.ref
        sources.append(FeatureSource(model=ref.model, file=ref.file, sha256=ref.sha256,
                                     tensor=EXTRACTOR_TENSOR, size=ref.outputs))
    counts: dict[str, int] = {}
    for e in examples:
        key = f"{e.label}/{e.scene or 'unlabelled'}"
        counts[key] = counts.get(key, 0) + 1
    info = FeatureHeadInfo(
        # Named by its weights: the same pictures under another recipe are another head.
        name="default" if second_look is None else "second-look",
        version=sha256_of(folder / HEAD_FILE)[:12],
        description=("head on the two MobileNet v2s' pre-logits features, trained on the "
                     "project's corpus (shared/data and shared/data/train), blended with the "
                     "zero-shot models") if second_look is None else (
                     "second look: head on the two MobileNet v2s' pre-logits features and the "
                     "embedding extractor's, trained on the same corpus, asked about the crops "
                     "the default head leaves undecided"),
        undecided_from=None if second_look is None else second_look.undecided_from,
        sources=sources, head=FileRef(file=HEAD_FILE, sha256=sha256_of(folder / HEAD_FILE)),
        blend=recipe.blend,
        operating_points=points,
        training={
            "manifests": [{"file": f"{Path(m).parent.name}/{Path(m).name}",
                           "sha256": sha256_of(m)} for m in manifests],
            "files": {"list": TRAINING_FILES, "count": len(examples), "sha256": files_sha},
            "examples": dict(sorted(counts.items())),
            "night_copies": list(NIGHT_COPIES),
            "copies": dict(sorted(Counter(feats.copy).items())),
            "boxes": None if detector is None else {
                "detector": detector.name, "sha256": sha256_of(detector),
                "min_score": BOX_SCORE, "per_picture": BOXES_PER_PICTURE,
                "area": list(BOX_AREA)},
            "recipe": {"l2": recipe.l2, "camera_power": recipe.camera_power,
                       "iterations": recipe.iterations, "folds": recipe.folds,
                       "groupings": recipe.groupings, "regimes": [str(r) for r in recipe.regimes],
                       "hens_limit": recipe.hens_limit},
            "built_with": built_with(),
        },
        metrics=metrics,
    )
    body = yaml.safe_dump(info.model_dump(mode="json"), sort_keys=False)
    what = "The default head" if second_look is None else "The second look"
    (folder / INFO_FILE).write_text(
        f"# {what} (classifier/feature_head.py), by scripts/build_default_head.py\n"
        + body, encoding="utf-8")
    return info
