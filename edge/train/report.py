"""The held-out report: ``tensorchicken eval``'s figures for the new head, beside the current
models' on the very same photos.

The dict has the keys of :func:`edge.cli.eval.evaluate` (so :func:`edge.cli.eval.print_report`
prints it): the top-level figures are the head's held-out answers; ``per_model`` holds the head
again, the current classifier's combined verdict and each of its models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from classifier import Classification
from edge.train.clips import ClipExamples
from edge.train.confusion import rates
from edge.train.dataset import Photo
from edge.train.trainer import ClassScheme, Decided, TrainSettings, decide, verdicts_of

CURRENT = "current classifier"


def _miss(photo: Photo, verdict: str, score: float, top: str) -> dict[str, Any]:
    return {"file": photo.source, "label": photo.label, "subclass": photo.subclass,
            "verdict": verdict, "score": round(score, 4), "top": top}


def held_out_report(
    photos: Sequence[Photo], probs: np.ndarray, decided: Decided, scheme: ClassScheme,
    head_name: str, latency_ms: np.ndarray, current: Sequence[Classification] | None = None,
) -> dict[str, Any]:
    """The report for the held-out head ``probs`` of ``photos`` and the verdicts the package
    gives (``decided``), beside ``current``'s answers."""
    verdicts = decided.verdicts
    pairs = [(p.label, v) for p, v in zip(photos, verdicts, strict=True)]
    misses = [_miss(p, v, decided.scores[i], scheme.classes[int(np.argmax(probs[i]))])
              for i, (p, v) in enumerate(zip(photos, verdicts, strict=True)) if v != p.label]
    per_model = {f"{head_name} (held out)": rates(pairs)}
    if decided.alone is not None:
        per_model[f"{head_name} head alone (held out)"] = rates(
            [(p.label, v) for p, v in zip(photos, decided.alone, strict=True)])
    names: list[str] = []
    if current:
        per_model[f"{CURRENT} (combined)"] = rates(
            [(p.label, c.verdict.value) for p, c in zip(photos, current, strict=True)])
        names = list(current[0].models)
        for name in names:
            per_model[name] = rates([(p.label, c.models[name].verdict.value)
                                     for p, c in zip(photos, current, strict=True)
                                     if name in c.models])
    return {
        "n": len(photos),
        "models_used": [head_name],
        "compared_with": names,
        **rates(pairs),
        "misses": misses,
        "misses_by_subclass": dict(Counter(f"{m['label']}/{m['subclass']}" for m in misses)),
        "latency_ms": {
            "median": round(float(np.median(latency_ms)), 2) if len(latency_ms) else 0.0,
            "p99": round(float(np.percentile(latency_ms, 99)), 2) if len(latency_ms) else 0.0,
        },
        "per_model": per_model,
    }


def _called_predator(verdicts: Sequence[str]) -> float:
    return round(sum(v == "predator" for v in verdicts) / len(verdicts), 4) if verdicts else 0.0


def clip_report(
    clips: Sequence[ClipExamples], probs: np.ndarray, scheme: ClassScheme, s: TrainSettings,
    head_name: str, current: Sequence[Sequence[Classification]],
    partner: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per clip: how many of its (no animal) examples each model calls predator. ``probs`` are
    the head's held-out answers, clip after clip (``partner`` the zero-shot scores of the same
    examples, for a blending head); ``current`` the current models' per clip."""
    out: dict[str, Any] = {}
    start = 0
    for clip, answers in zip(clips, current, strict=True):
        part = None if partner is None else partner[start:start + len(clip)]
        said = verdicts_of(probs[start:start + len(clip)], scheme, s, part)
        start += len(clip)
        rates_of = {f"{head_name} (held out)": _called_predator(said)}
        if answers:
            rates_of[f"{CURRENT} (combined)"] = _called_predator([a.verdict.value for a in answers])
            for name in answers[0].models:
                rates_of[name] = _called_predator([a.models[name].verdict.value for a in answers
                                                   if name in a.models])
        kinds = {k: _called_predator([v for v, c in zip(said, clip.kind, strict=True) if c == k])
                 for k in sorted(set(clip.kind))}
        out[clip.source] = {"examples": len(clip), "segments": len(set(clip.segment.tolist())),
                            "called_predator": rates_of, "head_by_kind": kinds}
    return out


def unseen_species_report(
    photos: Sequence[Photo], probs: np.ndarray, scheme: ClassScheme, s: TrainSettings,
    partner: np.ndarray | None, current: Sequence[Classification],
) -> dict[str, Any]:
    """Recall on predators whose whole species was held out (``probs`` from
    :func:`edge.train.trainer.unseen_species`): as the package decides, the head alone and the
    current classifier, and the species it missed."""
    rows = np.flatnonzero(~np.isnan(probs[:len(photos), 0]))
    decided = decide(probs[rows], scheme, s, None if partner is None else partner[rows])
    caught = np.array(decided.verdicts) == "predator"
    alone = decided.alone if decided.alone is not None else decided.verdicts
    out: dict[str, Any] = {
        "photos": len(rows), "species": len({photos[int(i)].subclass for i in rows}),
        "recall": round(float(caught.mean()), 4) if len(rows) else None,
        "head_alone": round(float(np.mean([v == "predator" for v in alone])), 4)
        if len(rows) else None,
        "missed": dict(Counter(photos[int(i)].subclass for i, ok in zip(rows, caught,
                                                                         strict=True) if not ok)),
    }
    if current:
        out[CURRENT] = round(float(np.mean(
            [current[int(i)].verdict.value == "predator" for i in rows])), 4) if len(rows) else None
    return out
