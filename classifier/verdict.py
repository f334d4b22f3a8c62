"""What a classification means for the henhouse."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class Classification:
    """The answer the decision is taken on, with every model's own answer beside it."""

    verdict: Verdict
    score: float
    predator_score: float
    chicken_score: float
    label: str
    decided_by: str
    models: dict[str, ModelScore] = field(default_factory=dict)
