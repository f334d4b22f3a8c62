"""What a classification means for the henhouse."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """The three answers the appliance acts on. ``background`` means nothing to act on."""

    CHICKEN = "chicken"
    PREDATOR = "predator"
    BACKGROUND = "background"


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One model's answer for one crop.

    ``predator_score`` and ``chicken_score`` are the summed probabilities of the labels the
    model's verdict map assigns to each verdict; ``top`` holds the best labels.
    """

    model: str
    verdict: Verdict
    score: float
    predator_score: float
    chicken_score: float
    label: str
    top: tuple[tuple[str, float], ...]
    invoke_ms: float
    total_ms: float

    def to_dict(self) -> dict[str, Any]:
        """The answer as an event stores it: verdict, scores and label, and its milliseconds."""
        return {
            "verdict": self.verdict.value,
            "score": round(self.score, 4),
            "predator": round(self.predator_score, 4),
            "chicken": round(self.chicken_score, 4),
            "label": self.label,
            "ms": round(self.total_ms, 2),
        }


@dataclass(frozen=True, slots=True)
class Classification:
    """The answer the decision is taken on, with every model's own answer beside it.

    ``zero_shot_chicken`` is, where a head was blended with the zero-shot models, their own
    combined chicken score (the decided ``chicken_score`` is the higher of it and the head's;
    ``classifier/blend.py``), so that another head's answer can be judged on the same crop
    later; None where no head was blended.
    """

    verdict: Verdict
    score: float
    predator_score: float
    chicken_score: float
    label: str
    decided_by: str
    models: dict[str, ModelScore] = field(default_factory=dict)
    zero_shot_chicken: float | None = None
