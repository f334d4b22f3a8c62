"""From labelled photos to a model package, with its held-out report: the whole retraining.

Example (what ``tensorchicken train`` does)::

    packages = packages_dir(default_data_dir())
    plan = RetrainPlan(name="coop", version="20260501T2114Z", packages=packages)
    outcome = retrain(photos, store, plan, current=classifier)
    print(outcome.package, outcome.report["predator_recall"])
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifier import Classification, Classifier
from classifier.embeddings import DEFAULT_EXTRACTOR, Extractor, load_extractor
from classifier.package import PackageInfo, extractor_entry, write_package
from edge.assets import AssetStore
from edge.train.augment import BACKGROUND_TILES, augment_names
from edge.train.clips import (
    CLIP_SETTINGS_RECORDED,
    ClipExamples,
    ClipFile,
    ClipSettings,
    clip_examples,
)
from edge.train.dataset import Embedded, OnPicture, Photo, clip_groups, embed_photos, with_clips
from edge.train.errors import TrainError
from edge.train.report import clip_report, held_out_report, unseen_species_report
from edge.train.split import photo_groups
from edge.train.trainer import (
    CLIP_LABEL,
    ClassScheme,
    HeldOut,
    TrainSettings,
    class_scheme,
    cross_validate,
    decide,
    fit_calibrated,
    unseen_species,
    with_clip_examples,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetrainPlan:
    """What to train and where to put it."""

    name: str
    version: str
    packages: Path
    settings: TrainSettings = field(default_factory=TrainSettings)
    augmentations: list[str] | None = None
    extractor: str = DEFAULT_EXTRACTOR
    threads: int = 2
    description: str = ""
    clips: tuple[ClipFile, ...] = ()
    clip_settings: ClipSettings = field(default_factory=ClipSettings)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The package written, its description, the held-out report and what training cost."""

    package: Path
    info: PackageInfo
    report: dict[str, Any] | None
    seconds: float
    peak_mb: float


def peak_memory_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _check_photos(photos: Sequence[Photo]) -> None:
    if len(photos) < 6:
        raise TrainError(f"{len(photos)} labelled photos are too few to train a head "
                         "(label more crops, or add --manifest)")
    seen: dict[str, Photo] = {}
    for p in photos:
        other = seen.setdefault(p.sha256, p)
        if other.label != p.label:
            raise TrainError(f"{p.source} and {other.source} are the same picture (sha256 "
                             f"{p.sha256[:12]}…) but labelled {p.label} and {other.label}")


def retrain(
    photos: Sequence[Photo], store: AssetStore, plan: RetrainPlan,
    current: Classifier | None = None,
) -> Outcome:
    """Embed, cross-validate, fit, compare with ``current`` and write the package."""
    started = time.perf_counter()
    _check_photos(photos)
    s = plan.settings
    if s.blend is not None and current is None:
        raise TrainError("a head blended with the zero-shot models is trained on their answers: "
                         "give the current classifier (or train a head that decides alone)")
    names = augment_names(plan.augmentations)
    extractor = load_extractor(store, plan.threads, plan.extractor)
    scoring = current if s.folds or s.blend is not None else None
    answers: list[Classification] = []
    emb = embed_photos(photos, extractor, names, _scorer(scoring, answers))
    log.info("embedded %d photos x %d variations in %.1f s", len(photos), len(names),
             time.perf_counter() - started)
    clips, clip_answers = _clip_examples(plan, extractor, scoring)
    data = _TrainingData.of(photos, emb, clips, s)
    partner = _partner(answers, clip_answers) if s.blend is not None else None
    held = (cross_validate(data.emb, data.labels, data.groups, data.scheme, s, partner)
            if s.folds else None)
    head, shift = fit_calibrated(data.emb, np.arange(len(data.labels)), data.labels, data.groups,
                                 data.scheme, s, partner)
    model_name = f"{plan.name}-{plan.version}"
    report = None
    if held is not None:
        report = _report(photos, emb, held, data.scheme, s, model_name, answers, partner)
        report["empty_clips"] = clip_report(
            clips, held.probs[len(photos):], data.scheme, s, model_name, clip_answers,
            None if partner is None else partner[len(photos):])
    if report is not None and s.unseen_species:
        species = [p.subclass for p in photos] + [""] * (len(data.labels) - len(photos))
        unseen = unseen_species(data.emb, data.labels, species, data.groups, data.scheme, s,
                                partner)
        report["unseen_species"] = unseen_species_report(photos, unseen, data.scheme, s,
                                                         partner, answers)
    info = PackageInfo(
        name=plan.name, version=plan.version,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        description=plan.description or f"head on {plan.extractor}, {len(photos)} photos",
        extractor=extractor_entry(extractor.ref), labels=list(data.scheme.classes),
        thresholds={"predator": s.predator_threshold, "chicken": s.chicken_threshold},
        blend=s.blend,
        training=_training_record(photos, names, s, shift, data.groups, held, plan, clips),
        metrics=_metrics(report), head=None, verdicts=None,
    )
    path = write_package(plan.packages, info, head, data.scheme.groups())
    return Outcome(path, info, report, time.perf_counter() - started, peak_memory_mb())


def _partner(photos: Sequence[Classification],
             clips: Sequence[Sequence[Classification]]) -> np.ndarray:
    """The current classifier's predator and chicken scores of every item, photos then clips:
    what a blending head is blended with."""
    every = [*photos, *(a for clip in clips for a in clip)]
    return np.array([[a.predator_score, a.chicken_score] for a in every], dtype=np.float64)


def _scorer(current: Classifier | None, answers: list[Classification]) -> OnPicture | None:
    if current is None:
        return None
    return lambda _, rgb: answers.append(current.classify(rgb))


def _clip_examples(
    plan: RetrainPlan, extractor: Extractor, current: Classifier | None
) -> tuple[list[ClipExamples], list[list[Classification]]]:
    clips, answers = [], []
    for clip in plan.clips:
        mine: list[Classification] = []
        clips.append(clip_examples(clip.path, extractor, plan.clip_settings, clip.source,
                                   _scorer(current, mine)))
        answers.append(mine)
    return clips, answers


@dataclass(frozen=True, slots=True)
class _TrainingData:
    """Photos then clip examples, as items: their embeddings, labels, groups and classes."""

    emb: Embedded
    labels: list[str]
    groups: np.ndarray
    scheme: ClassScheme

    @classmethod
    def of(cls, photos: Sequence[Photo], emb: Embedded, clips: Sequence[ClipExamples],
           s: TrainSettings) -> _TrainingData:
        examples = sum(len(c) for c in clips)
        scheme = class_scheme(photos, s.fine, s.min_per_class)
        groups = photo_groups([p.sha256 for p in photos], emb.features[emb.original],
                              cameras=[p.camera for p in photos])
        return cls(
            emb=with_clips(emb, clips),
            labels=[p.label for p in photos] + [CLIP_LABEL] * examples,
            groups=clip_groups(groups, clips),
            scheme=with_clip_examples(scheme, examples) if examples else scheme,
        )


def _report(
    photos: Sequence[Photo], emb: Embedded, held: HeldOut, scheme: ClassScheme,
    s: TrainSettings, name: str, current: list[Classification], partner: np.ndarray | None,
) -> dict[str, Any]:
    probs = held.probs[:len(photos)]
    decided = decide(probs, scheme, s, None if partner is None else partner[:len(photos)])
    return held_out_report(photos, probs, decided, scheme, name, emb.original_ms,
                           current or None)


def _training_record(
    photos: Sequence[Photo], augmentations: list[str], s: TrainSettings, shift: float,
    groups: np.ndarray, held: HeldOut | None, plan: RetrainPlan, clips: Sequence[ClipExamples],
) -> dict[str, Any]:
    return {
        "clips": [{"source": c.source, "sha256": f.sha256, "label": "background",
                   "licence": f.licence, "examples": len(c),
                   "segments": len(set(c.segment.tolist()))}
                  for c, f in zip(clips, plan.clips, strict=True)],
        "clip_settings": {k: getattr(plan.clip_settings, k) for k in CLIP_SETTINGS_RECORDED},
        "photos": [{"source": p.source, "sha256": p.sha256, "label": p.label,
                    "subclass": p.subclass} for p in photos],
        "distinct_groups": int(groups.max()) + 1,
        "augmentations": augmentations,
        "background_tiles": list(BACKGROUND_TILES) if len(augmentations) > 1 else [],
        "head": {"l2": s.head.l2, "iterations": s.head.iterations, "balanced": s.head.balanced},
        "fine_classes": s.fine, "min_per_class": s.min_per_class,
        "folds": s.folds, "seed": s.seed,
        "operating_point": {"target_recall": s.target_recall,
                            "max_chicken_fa": s.max_chicken_fa,
                            "max_background_fa": s.max_background_fa, "predator_shift": shift,
                            "blend": s.blend,
                            "fold_shifts": list(held.shifts) if held else []},
    }


def _metrics(report: dict[str, Any] | None) -> dict[str, Any]:
    if report is None:
        return {}
    keep = ("n", "confusion", "predator_recall", "chicken_false_alarm",
            "background_false_alarm", "per_model", "compared_with", "empty_clips",
            "unseen_species")
    return {k: report[k] for k in keep if k in report}
