"""Several models on one crop, and one verdict from their answers.

How the answers are combined (measured with ``tensorchicken eval``, see the report of issue 4):
the ImageNet model is a *generalist*: it knows mammals and snakes, and it knows that something is
a bird, but its bird classes are coarse (a burrowing owl is a "ruffed grouse"). The iNat model is
a bird *specialist* (``refines: birds`` in the manifest): it tells an owl from a grouse, but on a
mammal or an empty yard it still answers with the nearest bird. So the specialist is asked only
about the part of the picture the generalist calls "some other bird"::

    predator = P_gen + U_gen * P_spec / (1 - bg_spec)
    chicken  = C_gen + U_gen * C_spec / (1 - bg_spec)

where ``P``/``C`` are the summed probabilities of each model's predator/chicken labels, ``U_gen``
is the generalist's probability on its ``birds`` labels and ``bg_spec`` the specialist's own
``background`` label. With several generalists the most alarmed one counts; with no generalist the
specialist's own scores count. The verdict is predator when ``predator >= predator_threshold``,
else chicken when ``chicken >= chicken_threshold``, else background.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from classifier.errors import ModelError
from classifier.loader import load_model
from classifier.model import TFLiteModel
from classifier.spec import ModelSpec, load_specs
from classifier.verdict import Classification, ModelScore, Verdict
from edge.assets import AssetStore
from edge.config.models import ModelsConfig, ModelUse

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a score becomes a verdict, and how many top labels to keep."""

    predator: float = 0.3
    chicken: float = 0.3
    top_k: int = 3


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one model's probabilities say, reduced to the numbers the combination needs."""

    name: str
    predator: float
    chicken: float
    birds: float
    background: float
    specialist: bool


def evidence_of(model: TFLiteModel, probs: np.ndarray) -> Evidence:
    """Sum ``probs`` over the model's verdict-map groups."""
    vm = model.verdicts
    if vm is None:
        raise ModelError(f"{model.path} (model {model.name}): has no verdict map")
    return Evidence(
        name=model.name,
        predator=float(probs[vm.predator].sum()),
        chicken=float(probs[vm.chicken].sum()),
        birds=float(probs[vm.birds].sum()),
        background=float(probs[model.background_indices].sum()),
        specialist=model.spec.refines == "birds",
    )


def verdict_for(predator: float, chicken: float, th: Thresholds) -> tuple[Verdict, float]:
    """The verdict for two scores and the score that goes with it."""
    if predator >= th.predator:
        return Verdict.PREDATOR, predator
    if chicken >= th.chicken:
        return Verdict.CHICKEN, chicken
    return Verdict.BACKGROUND, max(0.0, 1.0 - max(predator, chicken))


def top_labels(model: TFLiteModel, probs: np.ndarray, k: int) -> tuple[tuple[str, float], ...]:
    """The ``k`` most probable labels, best first."""
    best = np.argpartition(-probs, min(k, probs.size - 1))[:k]
    best = best[np.argsort(-probs[best])]
    offset = model.spec.label_offset
    return tuple(
        (_label(model, int(i) - offset), round(float(probs[i]), 4)) for i in best
    )


def _label(model: TFLiteModel, line: int) -> str:
    return model.labels[line] if 0 <= line < len(model.labels) else f"#{line}"


@dataclass(frozen=True, slots=True)
class Combined:
    """The combination's scores and which model's evidence carried the verdict."""

    predator: float
    chicken: float
    decided_by: str


def combine(evidence: Sequence[Evidence], primary: str) -> Combined:
    """Combine per-model evidence as described in the module docstring."""
    specialists = [e for e in evidence if e.specialist]
    generalists = [e for e in evidence if not e.specialist]
    if not generalists:
        alarmed = max(specialists, key=lambda e: e.predator)
        return Combined(alarmed.predator, max(e.chicken for e in specialists), alarmed.name)
    q, c, spec_name = 0.0, 0.0, primary
    for s in specialists:
        birds_share = max(1.0 - s.background, 1e-6)
        if min(1.0, s.predator / birds_share) >= q:
            q, spec_name = min(1.0, s.predator / birds_share), s.name
        c = max(c, min(1.0, s.chicken / birds_share))
    options = []
    for g in generalists:
        from_spec = g.birds * q
        decider = spec_name if from_spec > g.predator else g.name
        options.append(Combined(g.predator + from_spec, g.chicken + g.birds * c, decider))
    best = max(options, key=lambda o: o.predator)
    return Combined(best.predator, max(o.chicken for o in options), best.decided_by)


class Classifier:
    """The critical-path models (roles ``primary`` and ``critical``) over one crop.

    Models run one after the other (each interpreter already uses its configured threads); a
    ``critical`` model is skipped, with a warning, once ``deadline_ms`` has passed, so a slow
    model never holds back the primary's answer. ``classify`` is thread-safe: each model has its
    own lock. Models scored off the critical path (shadow, canary) are meant to be added beside
    ``_critical`` with their own executor, fed the same crop.
    """

    def __init__(
        self,
        models: Sequence[TFLiteModel],
        thresholds: Thresholds | None = None,
        deadline_ms: float = 1000.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not models:
            raise ModelError("a classifier needs at least one model")
        self._critical = list(models)
        self.thresholds = thresholds or Thresholds()
        self.deadline_ms = deadline_ms
        self._clock = clock
        self._closed = threading.Event()
        self.model_names: tuple[str, ...] = tuple(m.name for m in models)

    @property
    def models(self) -> tuple[TFLiteModel, ...]:
        """The loaded models, primary first."""
        return tuple(self._critical)

    @property
    def crop_side(self) -> int:
        """The side to size a crop to once, in the crop stage: the primary model's input, so
        that its own pre-processing is a table look-up (other models resize from there)."""
        return self._critical[0].prepare.side

    def classify(self, rgb: np.ndarray) -> Classification:
        """The verdict for one RGB uint8 picture (a crop), with every model's own answer."""
        if self._closed.is_set():
            raise RuntimeError("the classifier is closed")
        started = self._clock()
        scores: dict[str, ModelScore] = {}
        evidence: list[Evidence] = []
        for i, model in enumerate(tuple(self._critical)):
            elapsed_ms = (self._clock() - started) * 1000.0
            if i > 0 and elapsed_ms > self.deadline_ms:
                log.warning(
                    "model %s skipped: %.0f ms spent, deadline %.0f ms",
                    model.name, elapsed_ms, self.deadline_ms,
                )
                continue
            score, ev = self.score(model, rgb)
            scores[model.name] = score
            evidence.append(ev)
        return self._decide(scores, evidence)

    def score(self, model: TFLiteModel, rgb: np.ndarray) -> tuple[ModelScore, Evidence]:
        """One model's own answer for ``rgb`` and its evidence for the combination."""
        started = self._clock()
        probs, invoke_ms = model.probabilities(rgb)
        ev = evidence_of(model, probs)
        verdict, value = verdict_for(ev.predator, ev.chicken, self.thresholds)
        top = top_labels(model, probs, self.thresholds.top_k)
        total_ms = (self._clock() - started) * 1000.0
        return ModelScore(
            model=model.name, verdict=verdict, score=round(value, 4),
            predator_score=round(ev.predator, 4), chicken_score=round(ev.chicken, 4),
            label=top[0][0], top=top, invoke_ms=round(invoke_ms, 3), total_ms=round(total_ms, 3),
        ), ev

    def _decide(self, scores: dict[str, ModelScore], evidence: list[Evidence]) -> Classification:
        combined = combine(evidence, self.model_names[0])
        verdict, value = verdict_for(combined.predator, combined.chicken, self.thresholds)
        decided_by = combined.decided_by
        if verdict is Verdict.BACKGROUND:
            decided_by = self.model_names[0]
        elif verdict is Verdict.CHICKEN:
            decided_by = max(evidence, key=lambda e: e.chicken).name
        return Classification(
            verdict=verdict, score=round(value, 4), predator_score=round(combined.predator, 4),
            chicken_score=round(combined.chicken, 4), label=scores[decided_by].label,
            decided_by=decided_by, models=scores,
        )

    def close(self) -> None:
        """Release the interpreters; idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._critical.clear()

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


CRITICAL_ROLES = ("primary", "critical")


def _spec_for(use: ModelUse, specs: dict[str, ModelSpec]) -> ModelSpec:
    spec = specs.get(use.name)
    if spec is None:
        known = ", ".join(sorted(specs))
        raise ModelError(f"model {use.name!r} is not in the manifest; known: {known}")
    if spec.kind != "classifier":
        raise ModelError(
            f"model {use.name!r} is an {spec.kind} model, not a classifier: it gives no verdict"
        )
    if use.role not in CRITICAL_ROLES:
        raise ModelError(
            f"model {use.name!r} has role {use.role!r}: off-path roles (shadow, canary) are not "
            "implemented yet; give it role primary or critical, or remove it"
        )
    if spec.verdicts is None or spec.labels is None:
        raise ModelError(f"model {use.name!r} has no labels or verdict map in the manifest")
    return spec


def load_classifier(
    cfg: ModelsConfig, store: AssetStore, specs: dict[str, ModelSpec] | None = None
) -> Classifier:
    """Load and check each critical-path model of ``cfg``, primary first ; ModelError on failure."""
    specs = specs if specs is not None else load_specs()
    uses = sorted(cfg.use, key=lambda u: u.role != "primary")
    chosen = [(_spec_for(use, specs), use.threads) for use in uses]
    try:
        models = [load_model(spec, store, threads) for spec, threads in chosen]
    except ImportError as exc:
        raise ModelError(f"cannot load models: {exc}") from None
    thresholds = Thresholds(cfg.predator_threshold, cfg.chicken_threshold, cfg.top_k)
    return Classifier(models, thresholds, cfg.deadline_ms)
