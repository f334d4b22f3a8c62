"""Fit a head on embedded photos, choose its operating point, and measure it honestly.

Three steps, all on photo indices (every augmentation of a photo follows its photo):

1. **Classes** (:func:`class_scheme`): the three verdicts, or finer classes (a breed, a species)
   where a subclass has enough photos; each finer class maps to its verdict in the package's
   verdict map, exactly like an ImageNet label does.
2. **Operating point** (:func:`fit_calibrated`): a softmax head ranks predators above chickens
   well, but where the predator/background line falls depends on how few empty scenes there are.
   So the predator classes' bias is moved by a *shift* (:func:`choose_shift`): false alarms are
   hard limits (at most ``max_chicken_fa`` of chickens and ``max_background_fa`` of empty
   scenes, photos and clip examples each, called predators), and within them the smallest shift
   that reaches ``target_recall``, else the one with the highest recall. The shift is chosen on
   out-of-fold answers of the training photos only.
3. **Held-out answers** (:func:`cross_validate`): grouped, stratified folds
   (``edge/train/split.py``); each fold's head, *including its shift*, is fitted without the
   fold's photos, so the figures are what an unseen photo would get.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from classifier.head import HeadSettings, SoftmaxHead, fit_head, softmax
from edge.train.dataset import Embedded, Photo
from edge.train.errors import TrainError
from edge.train.split import EXTRA, Fold, grouped_folds

log = logging.getLogger(__name__)

# Negative shifts too: with few empty scenes, the head's own balance may already call too many
# of them predators, and only a lower predator bias keeps within the false-alarm limits.
SHIFTS = np.round(np.arange(-2.0, 4.01, 0.25), 2)
CLIP_LABEL = f"{EXTRA}background"


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Everything that shapes a trained head."""

    fine: bool = False
    min_per_class: int = 4
    head: HeadSettings = field(default_factory=HeadSettings)
    folds: int = 5
    inner_folds: int = 4
    seed: int = 0
    calibrate: bool = True
    target_recall: float = 0.97
    max_chicken_fa: float = 0.01
    max_background_fa: float = 0.05
    predator_threshold: float = 0.3
    chicken_threshold: float = 0.3


@dataclass(frozen=True, slots=True)
class ClassScheme:
    """The head's classes, each photo's class, and which verdict each class stands for."""

    classes: tuple[str, ...]
    targets: np.ndarray
    verdict_of: dict[str, str]

    def indices(self, verdict: str) -> list[int]:
        """Output indices of the classes that mean ``verdict``."""
        return [i for i, c in enumerate(self.classes) if self.verdict_of[c] == verdict]

    def groups(self) -> dict[str, dict[str, list[str]]]:
        """The verdict map, in the format of ``models/verdicts/*.yaml``."""
        out: dict[str, dict[str, list[str]]] = {"chicken": {}, "predator": {}}
        for name in self.classes:
            verdict = self.verdict_of[name]
            if verdict in out:
                out[verdict][name] = [name]
        return out


def class_scheme(photos: Sequence[Photo], fine: bool, min_per_class: int) -> ClassScheme:
    """Verdict classes, or (``fine``) subclasses with at least ``min_per_class`` photos."""
    counts = Counter((p.label, p.subclass) for p in photos)
    names = []
    for p in photos:
        finer = fine and p.subclass and counts[(p.label, p.subclass)] >= min_per_class
        # A finer class is named verdict/subclass so it can never collide with a verdict name.
        names.append(f"{p.label}/{p.subclass}" if finer else p.label)
    classes = tuple(sorted(set(names)))
    verdict_of = {c: c.split("/")[0] for c in classes}
    missing = {"chicken", "predator"} - set(verdict_of.values())
    if missing:
        raise TrainError(f"the training photos have no {' and no '.join(sorted(missing))}: "
                         "a head needs examples of both")
    targets = np.array([classes.index(n) for n in names], dtype=np.intp)
    return ClassScheme(classes, targets, verdict_of)


def with_clip_examples(scheme: ClassScheme, count: int) -> ClassScheme:
    """``scheme`` with ``count`` more examples (after the photos) of the class ``background``."""
    classes = scheme.classes
    if "background" not in classes:
        classes = tuple(sorted((*classes, "background")))
    remap = np.array([classes.index(c) for c in scheme.classes], dtype=np.intp)
    extra = np.full(count, classes.index("background"), dtype=np.intp)
    return ClassScheme(classes, np.concatenate([remap[scheme.targets], extra]),
                       {c: c.split("/")[0] for c in classes})


def verdicts_of(probs: np.ndarray, scheme: ClassScheme, settings: TrainSettings) -> list[str]:
    """The verdict for each row of probabilities, by the classifier's own thresholds."""
    predator = probs[:, scheme.indices("predator")].sum(axis=1)
    chicken = probs[:, scheme.indices("chicken")].sum(axis=1)
    return [
        "predator" if p >= settings.predator_threshold
        else "chicken" if c >= settings.chicken_threshold else "background"
        for p, c in zip(predator, chicken, strict=True)
    ]


def shifted(head: SoftmaxHead, scheme: ClassScheme, shift: float) -> SoftmaxHead:
    """``head`` with ``shift`` added to the bias of every predator class."""
    bias = head.bias.copy()
    bias[scheme.indices("predator")] += np.float32(shift)
    return replace(head, bias=bias)


def _fit(emb: Embedded, photos: np.ndarray, scheme: ClassScheme, s: TrainSettings) -> SoftmaxHead:
    rows = emb.rows_of(photos)
    return fit_head(emb.features[rows], scheme.targets[emb.photo_index[rows]], scheme.classes,
                    s.head)


def _folds(labels: Sequence[str], groups: np.ndarray, k: int, seed: int) -> list[Fold]:
    try:
        return grouped_folds(labels, groups, k, seed)
    except ValueError as exc:
        raise TrainError(f"cannot cross-validate: {exc}") from None


@dataclass(frozen=True, slots=True)
class Point:
    """What the verdicts of a set of labelled answers are at one predator shift."""

    shift: float
    recall: float
    alarms: dict[str, float]


def operating_point(
    logits: np.ndarray, truth: np.ndarray, scheme: ClassScheme, s: TrainSettings, shift: float
) -> Point:
    """Predator recall and the share of each other label (chickens, background photos, clip
    examples) called predators, with ``shift`` added to the predator classes' logits."""
    z = logits.copy()
    z[:, scheme.indices("predator")] += shift
    said = np.array(verdicts_of(softmax(z), scheme, s))
    called = said == "predator"
    alarms = {label: float(called[truth == label].mean())
              for label in sorted(set(truth.tolist()) - {"predator"})}
    recall = float(called[truth == "predator"].mean()) if (truth == "predator").any() else 1.0
    return Point(float(shift), recall, alarms)


def within_limits(point: Point, s: TrainSettings) -> bool:
    """Whether ``point``'s false alarms respect the chicken and the empty-scene limits."""
    return all(rate <= (s.max_chicken_fa if label == "chicken" else s.max_background_fa)
               for label, rate in point.alarms.items())


def choose_shift(
    logits: np.ndarray, labels: Sequence[str], scheme: ClassScheme, s: TrainSettings
) -> float:
    """The smallest predator shift reaching the target recall within the false-alarm limits;
    if none reaches it, the one with the highest recall within them; if no shift keeps within
    them, the lowest (fewest false alarms), with a warning."""
    truth = np.asarray(labels)
    points = [operating_point(logits, truth, scheme, s, shift) for shift in SHIFTS]
    allowed = [p for p in points if within_limits(p, s)]
    if not allowed:
        log.warning("no predator shift keeps within the false-alarm limits: using %.2f",
                    SHIFTS[0])
        return float(SHIFTS[0])
    reaching = [p for p in allowed if p.recall >= s.target_recall]
    if reaching:
        return reaching[0].shift
    return max(allowed, key=lambda p: (p.recall, -p.shift)).shift


def fit_calibrated(
    emb: Embedded, photos: np.ndarray, labels: Sequence[str], groups: np.ndarray,
    scheme: ClassScheme, s: TrainSettings,
) -> tuple[SoftmaxHead, float]:
    """A head on ``photos`` with its predator shift chosen by inner folds on the same photos."""
    head = _fit(emb, photos, scheme, s)
    if not s.calibrate:
        return head, 0.0
    sub_labels = [labels[int(p)] for p in photos]
    inner = _folds(sub_labels, np.unique(groups[photos], return_inverse=True)[1],
                   min(s.inner_folds, len(set(groups[photos].tolist()))), s.seed + 1)
    logits = np.zeros((len(photos), len(scheme.classes)), dtype=np.float32)
    for fold in inner:
        inner_head = _fit(emb, photos[fold.train], scheme, s)
        logits[fold.test] = inner_head.logits(emb.features[emb.original[photos[fold.test]]])
    shift = choose_shift(logits, sub_labels, scheme, s)
    return shifted(head, scheme, shift), shift


@dataclass(frozen=True, slots=True)
class HeldOut:
    """Out-of-fold probabilities of every photo and the shift each fold chose."""

    probs: np.ndarray
    shifts: tuple[float, ...]
    folds: tuple[Fold, ...]


def cross_validate(
    emb: Embedded, labels: Sequence[str], groups: np.ndarray, scheme: ClassScheme,
    s: TrainSettings,
) -> HeldOut:
    """Each photo's probabilities from a head (and shift) fitted without its group."""
    folds = _folds(labels, groups, s.folds, s.seed)
    probs = np.zeros((len(labels), len(scheme.classes)), dtype=np.float32)
    shifts = []
    for n, fold in enumerate(folds, start=1):
        started = time.perf_counter()
        head, shift = fit_calibrated(emb, fold.train, labels, groups, scheme, s)
        probs[fold.test] = head.probabilities(emb.features[emb.original[fold.test]])
        shifts.append(shift)
        log.info("fold %d/%d: %d held out, predator shift %.2f, %.1f s", n, len(folds),
                 len(fold.test), shift, time.perf_counter() - started)
    return HeldOut(probs, tuple(shifts), tuple(folds))
