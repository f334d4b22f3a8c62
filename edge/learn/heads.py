"""Which head decides now, what it was re-fitted from, and the zero-shot models beside it."""

from __future__ import annotations

from pathlib import Path

from classifier.config import ModelsConfig, ModelUse
from classifier.package import read_package
from edge.learn.errors import LearnError

# Where a re-fitted package records the package it started from (its training record).
LEARN_KEY = "learn"


def blends(use: ModelUse) -> bool:
    """Whether ``use`` is a model package whose head is blended with the zero-shot models."""
    return bool(use.package) and read_package(Path(str(use.package))).blend is not None


def joined_head(cfg: ModelsConfig) -> ModelUse | None:
    """The blending head on the critical path (joined by a promotion or configured), if any."""
    return next((u for u in cfg.by_role("critical") if blends(u)), None)


def zero_shot_config(cfg: ModelsConfig) -> ModelsConfig:
    """``cfg`` without its joined heads nor the default head: the zero-shot models a head is
    blended with."""
    return cfg.model_copy(update={"use": [u for u in cfg.use
                                          if not (u.role == "critical" and blends(u))],
                                  "default_head": False})


def base_package(head: ModelUse) -> Path:
    """The package a re-fit starts from: the one ``head`` was itself re-fitted from (so nightly
    re-fits never drift from re-fit to re-fit), or ``head``'s own."""
    own = Path(str(head.package))
    started = read_package(own).training.get(LEARN_KEY, {}).get("base_package")
    if started and (Path(started) / "package.yaml").is_file():
        return Path(started)
    return own


def running_head(cfg: ModelsConfig) -> ModelUse:
    """The joined head, or a LearnError saying what to do without one."""
    head = joined_head(cfg)
    if head is None:
        raise LearnError(
            "no retrained head decides now and the default head is off (models.default_head), "
            "so there is nothing to re-fit from: train one (tensorchicken train) and promote it")
    return head
