"""How well verdicts match labels: the confusion matrix and headline rates that ``eval``,
``train`` and ``models compare`` report.

A picture may be labelled ``person``: the appliance has no person verdict, so a person is right
when not called a predator, and "people called predator" is a reported rate. Rows labelled
``video`` in a manifest are skipped (:data:`SKIPPED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from classifier import Verdict

LABELS = tuple(v.value for v in Verdict)
PERSON = "person"
TRUTHS = (*LABELS, PERSON)
SKIPPED = "video"


def is_miss(truth: str, verdict: str) -> bool:
    """Whether ``verdict`` is wrong for a picture labelled ``truth`` (a person: called predator)."""
    return verdict == Verdict.PREDATOR.value if truth == PERSON else verdict != truth


def rates(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Confusion (true → verdict → count) and the headline rates of (label, verdict) pairs.

    ``chicken_recognised`` is the share of chickens called chicken (what the chicken veto needs),
    ``person_false_alarm`` the share of people called predator; a rate is None when no picture
    has that label, and a label without pictures has no row in the confusion matrix.
    """
    confusion = {t: {v: 0 for v in LABELS} for t in TRUTHS}
    for truth, verdict in pairs:
        confusion[truth][verdict] += 1

    def share(truth: str, verdict: str) -> float | None:
        total = sum(confusion[truth].values())
        return round(confusion[truth][verdict] / total, 4) if total else None

    return {
        "confusion": {t: row for t, row in confusion.items() if t != PERSON or any(row.values())},
        "predator_recall": share("predator", "predator"),
        "chicken_false_alarm": share("chicken", "predator"),
        "chicken_recognised": share("chicken", "chicken"),
        "background_false_alarm": share("background", "predator"),
        "person_false_alarm": share(PERSON, "predator"),
    }


def per_scene(triples: list[tuple[str, str, str]], chicken: Sequence[float] | None = None,
              veto: float | None = None) -> dict[str, Any]:
    """:func:`rates` per scene kind of (scene, label, verdict) triples; rows without a scene are
    left out (an empty dict when none has one). With each row's ``chicken`` score and the
    ``veto``, also :func:`reaching_veto` per scene."""
    scenes = sorted({scene for scene, _, _ in triples if scene})
    out: dict[str, Any] = {}
    for scene in scenes:
        rows = [i for i, (s, _, _) in enumerate(triples) if s == scene]
        out[scene] = {"n": len(rows), **rates([triples[i][1:] for i in rows])}
        if chicken is not None and veto is not None:
            out[scene].update(reaching_veto([(triples[i][1], chicken[i]) for i in rows], veto))
    return out


def reaching_veto(scored: Sequence[tuple[str, float]], veto: float) -> dict[str, float]:
    """``chicken_reaching_veto``: the share of the chickens among (label, chicken score) pairs
    whose score reaches the chicken veto (``decision.chicken_veto``), or nothing when there is
    no chicken. The verdict calls a hen chicken from ``models.chicken_threshold`` (0.3); the
    veto keeps the sprinkler off only from its own, higher, threshold (0.4)."""
    hens = [score for label, score in scored if label == Verdict.CHICKEN.value]
    if not hens:
        return {}
    return {"chicken_reaching_veto": round(sum(s >= veto for s in hens) / len(hens), 4)}
