"""Which models run, in which role, and how their answers are combined."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from groundwork.section import Section

Role = Literal["primary", "critical", "shadow", "canary"]
# An interpreter's threads at most: more than a Pi's cores only queue, and an absurd count
# would exhaust the process's threads.
MAX_THREADS = 16


class ModelUse(Section):
    """One model from the manifest (``models/manifest.yaml``) and its role.

    ``primary`` and ``critical`` models are on the critical path and decide (critical models in
    priority order, the primary being the fast fallback); ``shadow`` (a candidate) and ``canary``
    (a fixed trusted baseline) models score the same crops off the critical path, for comparison
    only. Off-path models are best given ``threads: 1``: their worker thread runs at a lower
    priority, and a single-threaded interpreter runs on that thread only.
    """

    name: str = Field(description="Model name in the manifest, or of a local model package")
    role: Role = "primary"
    threads: int = Field(2, ge=1, le=MAX_THREADS, description="Interpreter threads")
    package: str | None = Field(
        default=None,
        description="Folder of a local model package (package.yaml), instead of the manifest",
    )


class ModelsConfig(Section):
    """The models in use."""

    use: list[ModelUse] = Field(
        default_factory=lambda: [
            ModelUse(name="mobilenet_v2_imagenet", role="primary", threads=2, package=None),
            ModelUse(name="mobilenet_v2_inat_birds", role="critical", threads=2, package=None),
        ],
        description="Models in use and their roles",
    )
    default_head: bool = Field(
        True, description="Blend the head shipped with the product (trained on the project's "
        "photos, reading the two MobileNet v2s' features) with the zero-shot models' answer, "
        "in the lights its head.yaml names (all three as shipped) at the operating points chosen "
        "there; used when both models are on the critical path. A head the owner trains and "
        "promotes comes first")
    second_look: bool = Field(
        True, description="With the default head: ask the second look (the head shipped under "
        "classifier/data/second_look, reading the default head's features and the MobileNet v1 "
        "embedding extractor's) about the crops whose blended predator score the default head "
        "leaves just under the threshold (from its undecided_from, 0.2 as shipped). Only those "
        "crops pay for the extractor, about 0.7x the two models' inference more")
    camera_heads: dict[str, str] = Field(
        default_factory=dict, description="Per camera (its name), a re-fitted default head "
        "(head.yaml and head.npz, written by tensorchicken learn refit from that camera's own "
        "scenes and labels) blended for that camera's crops in place of the shipped one; set "
        "when it is promoted (the model registry), cleared by rollback")
    camera_head_shadows: dict[str, str] = Field(
        default_factory=dict, description="Per camera, a re-fitted default head waiting for its "
        "judgement: scored on every crop of that camera from the same features as the default "
        "head and recorded beside the decision, never deciding; set by tensorchicken learn "
        "refit (the model registry)")
    deadline_ms: float = Field(
        1000.0, gt=0, le=60000,
        description="Critical-path answers later than this are not waited for",
    )
    # 0.5, not the 0.3 that gives the best recall on whole photos (tensorchicken eval on the shared
    # set: recall 0.952 at 0.3, 0.903 at 0.5, chickens 1 %, empty scenes 0 % at both): motion crops
    # of people walking past reach 0.66 as "dogs", and at 0.3 or 0.4 two of three frames of a
    # passer-by pass it, so the siren would go off at the owner.
    predator_threshold: float = Field(
        0.5, gt=0, le=1,
        description="Predator probability (summed over the verdict map's predator labels) at or "
        "above which a model, or the combination, says predator",
    )
    chicken_threshold: float = Field(
        0.3, gt=0, le=1, description="Chicken probability at or above which the verdict is chicken"
    )
    top_k: int = Field(3, ge=1, le=20, description="Best labels kept per model for events and logs")
    shadow_queue: int = Field(
        2, ge=1, le=64,
        description="Crops waiting per off-path model; when full, a crop is skipped and counted",
    )
    join_wait_ms: float = Field(
        2000.0, ge=0, le=60000,
        description="How long the event writer waits for off-path and late answers to an "
        "event's crop before writing the event without them",
    )
    canary_window: int = Field(
        200, ge=10, le=100000,
        description="Crops over which the primary's agreement with the canary is measured",
    )
    canary_min_samples: int = Field(
        30, ge=1, le=100000,
        description="Crops compared before the canary alarm may fire",
    )
    canary_max_disagreement: float = Field(
        0.2, gt=0, le=1,
        description="Share of the window's crops on which the primary's verdict may differ from "
        "the canary's before the canary alarm fires",
    )

    @model_validator(mode="after")
    def _one_primary(self) -> ModelsConfig:
        primaries = [m.name for m in self.use if m.role == "primary"]
        if len(primaries) != 1:
            raise ValueError(f"exactly one model must have role primary, found {len(primaries)}")
        names = [m.name for m in self.use]
        if len(set(names)) != len(names):
            raise ValueError("a model is listed twice")
        if sum(m.role == "canary" for m in self.use) > 1:
            raise ValueError("at most one model may have role canary")
        return self

    @property
    def primary(self) -> ModelUse:
        """The primary model's entry."""
        return next(m for m in self.use if m.role == "primary")

    def by_role(self, *roles: Role) -> list[ModelUse]:
        """The entries with one of ``roles``, in configuration (priority) order."""
        return [m for m in self.use if m.role in roles]
