"""Which models run, in which role, and how their answers are combined."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.config.base import Section

Role = Literal["primary", "critical", "shadow", "canary"]


class ModelUse(Section):
    """One model from the manifest (``models/manifest.yaml``) and its role.

    ``primary`` and ``critical`` models are on the critical path and decide; ``shadow`` and
    ``canary`` models score the same crops off the critical path, for comparison only.
    """

    name: str = Field(description="Model name in the manifest")
    role: Role = "primary"
    threads: int = Field(2, ge=1, le=16, description="Interpreter threads")


class ModelsConfig(Section):
    """The models in use."""

    use: list[ModelUse] = Field(
        default_factory=lambda: [
            ModelUse(name="mobilenet_v2_imagenet", role="primary", threads=2),
            ModelUse(name="mobilenet_v2_inat_birds", role="critical", threads=2),
        ],
        description="Models in use and their roles",
    )
    deadline_ms: float = Field(
        1000.0, gt=0, le=60000,
        description="Critical-path answers later than this are not waited for",
    )
    predator_threshold: float = Field(
        0.3, gt=0, le=1,
        description="Predator probability (summed over the verdict map's predator labels) at or "
        "above which a model, or the combination, says predator",
    )
    chicken_threshold: float = Field(
        0.3, gt=0, le=1, description="Chicken probability at or above which the verdict is chicken"
    )
    top_k: int = Field(3, ge=1, le=20, description="Best labels kept per model for events and logs")

    @model_validator(mode="after")
    def _one_primary(self) -> ModelsConfig:
        primaries = [m.name for m in self.use if m.role == "primary"]
        if len(primaries) != 1:
            raise ValueError(f"exactly one model must have role primary, found {len(primaries)}")
        names = [m.name for m in self.use]
        if len(set(names)) != len(names):
            raise ValueError("a model is listed twice")
        return self
