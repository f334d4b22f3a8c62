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
``background`` label. ``combine`` given several generalists lets the most alarmed one count; the
:class:`Classifier` gives it only one, the first to answer in priority order (the critical
models in configuration order, then the fast primary: see :func:`by_priority`). With no
generalist the specialist's own scores count. The verdict is predator when
``predator >= predator_threshold``, else chicken when ``chicken >= chicken_threshold``, else
background.

A head trained on the coop's own photos (a model package whose spec has ``blend``) is a third
kind: it does not replace the zero-shot combination above but is blended with it
(``classifier/blend.py``: the predator scores in log-odds, the chicken score the higher of the
two); if no zero-shot model answered in time, the head's own scores count,
and if the head did not, the zero-shot ones do.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from classifier.assets import AssetFiles
from classifier.blend import blend, hen_score
from classifier.config import ModelsConfig, ModelUse, Role
from classifier.errors import ModelError, UnknownModelError
from classifier.feature_head import CLASSES, FeatureHead, camera_heads_for, head_for
from classifier.loader import load_model
from classifier.model import Model
from classifier.pace import Pace
from classifier.regime import Regime, regime_of
from classifier.second_look import SecondLook, fitting, try_load_second_look
from classifier.spec import ModelSpec, load_specs
from classifier.verdict import Classification, ModelScore, Verdict
from classifier.worker import BoundedWorker

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a score becomes a verdict, and how many top labels to keep; the defaults are the
    configuration's (``models.predator_threshold`` and friends), defined there once."""

    predator: float = ModelsConfig.model_fields["predator_threshold"].default
    chicken: float = ModelsConfig.model_fields["chicken_threshold"].default
    top_k: int = ModelsConfig.model_fields["top_k"].default


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one model's probabilities say, reduced to the numbers the combination needs."""

    name: str
    predator: float
    chicken: float
    birds: float
    background: float
    specialist: bool
    blend: float | None = None
    # The model's pre-logits features (manifest ``features:``), for the default head.
    features: np.ndarray | None = field(default=None, compare=False, repr=False)


def evidence_of(
    model: Model, probs: np.ndarray, features: np.ndarray | None = None
) -> Evidence:
    """Sum ``probs`` over the model's verdict-map groups (``features`` ride along)."""
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
        blend=model.spec.blend,
        features=features,
    )


def verdict_for(predator: float, chicken: float, th: Thresholds) -> tuple[Verdict, float]:
    """The verdict for two scores and the score that goes with it."""
    if predator >= th.predator:
        return Verdict.PREDATOR, predator
    if chicken >= th.chicken:
        return Verdict.CHICKEN, chicken
    return Verdict.BACKGROUND, max(0.0, 1.0 - max(predator, chicken))


def top_labels(model: Model, probs: np.ndarray, k: int) -> tuple[tuple[str, float], ...]:
    """The ``k`` most probable labels, best first."""
    best = np.argpartition(-probs, min(k, probs.size - 1))[:k]
    best = best[np.argsort(-probs[best])]
    offset = model.spec.label_offset
    return tuple(
        (_label(model, int(i) - offset), round(float(probs[i]), 4)) for i in best
    )


def _label(model: Model, line: int) -> str:
    return model.labels[line] if 0 <= line < len(model.labels) else f"#{line}"


@dataclass(frozen=True, slots=True)
class Combined:
    """The combination's scores and which model's evidence carried the verdict; with a head
    blended in, the zero-shot models' own chicken score too."""

    predator: float
    chicken: float
    decided_by: str
    zero_shot_chicken: float | None = None


def combine(evidence: Sequence[Evidence], primary: str) -> Combined:
    """Combine per-model evidence as described in the module docstring."""
    heads = [e for e in evidence if e.blend is not None]
    zero_shot = [e for e in evidence if e.blend is None]
    if not heads:
        return _zero_shot(zero_shot, primary)
    head = heads[0]
    if not zero_shot:
        return Combined(head.predator, head.chicken, head.name)
    assert head.blend is not None
    known = _zero_shot(zero_shot, primary)
    return Combined(
        blend(head.predator, known.predator, head.blend),
        hen_score(head.chicken, known.chicken),
        head.name if head.predator >= known.predator else known.decided_by,
        known.chicken,
    )


def _zero_shot(evidence: Sequence[Evidence], primary: str) -> Combined:
    """The generalist refined by the specialists (the module docstring's formula)."""
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


@dataclass(frozen=True, slots=True)
class Answer(Classification):
    """A :class:`Classification` as the critical path gives it, with what the rendezvous needs.

    ``ticket`` identifies the crop, so that answers arriving later (late critical models,
    shadows, the canary) can be joined to the event that shows it; ``late`` names the critical
    models that had not answered by the deadline (their answers follow through ``on_late``);
    ``busy`` those that were still working on an earlier crop, so were not asked at all.
    ``regime`` is the light the crop was taken in (:mod:`classifier.regime`). ``within_scene``
    says, where the camera's head is a re-fit gated by its own scene
    (:mod:`classifier.scene_gate`), whether the re-fit decided this crop (True) or the head it
    was re-fitted from (False); None without such a head, or where it did not answer.
    """

    ticket: int = 0
    late: tuple[str, ...] = ()
    busy: tuple[str, ...] = ()
    regime: str = ""
    within_scene: bool | None = None


class CropClassifier(Protocol):
    """What the frame loop asks for a crop's answer: a :class:`Classifier` (the critical path
    alone) or a :class:`classifier.rendezvous.Rendezvous` (with shadows, canary and swaps)."""

    @property
    def crop_side(self) -> int:
        """The side a crop is sized to once, before :meth:`classify`."""
        ...

    def classify(self, rgb: np.ndarray, camera: str | None = None) -> Answer:
        """The verdict for one RGB uint8 crop of ``camera`` (None: unknown), with every
        model's own answer."""
        ...


# One sequence for every classifier of the process: tickets stay unique across model swaps.
_TICKETS = itertools.count(1)


class _Pending:
    """A critical model's answer to one crop, awaited until the deadline."""

    __slots__ = ("abandoned", "arrived", "at", "deadline_ms", "evidence", "lock", "model",
                 "score", "ticket")

    def __init__(self, model: Model, ticket: int, deadline_ms: float) -> None:
        self.model = model
        self.ticket = ticket
        self.deadline_ms = deadline_ms
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        self.score: ModelScore | None = None
        self.evidence: Evidence | None = None
        self.at = 0.0
        self.abandoned = False


class Classifier:
    """The critical-path models (roles ``primary`` and ``critical``) over one crop.

    The primary runs on the caller's thread; each ``critical`` model runs at the same time on its
    own worker thread (:class:`~classifier.worker.BoundedWorker`, one crop queued at most, so a
    model slower than the frames is skipped rather than left to build a backlog). The decision
    waits for each critical answer until its deadline after the call began: ``deadline_ms``, or
    longer for a model whose measured cost on this board needs it (:mod:`classifier.pace`: a
    model that is always late is the board's pace, not a stall), then takes the best
    answer available: the critical models in configuration (priority) order, then the primary,
    the fast model that is always there; a bird specialist (``refines: birds``) refines whichever
    generalist that is. Critical models that missed the deadline are named in
    :attr:`Answer.late`, and their answers, when they come, go to ``on_late(ticket, score)`` so
    that they still reach the log. ``classify`` is thread-safe: each model has its own lock.

    ``workers`` (model name → worker) lets the rendezvous share one worker per loaded model
    across model swaps; without it the classifier starts and closes its own. ``paces`` (model
    name → :class:`~classifier.pace.Pace`) likewise keeps each model's measured cost.
    """

    def __init__(
        self,
        models: Sequence[Model],
        thresholds: Thresholds | None = None,
        deadline_ms: float = 1000.0,
        clock: Callable[[], float] = time.perf_counter,
        *,
        workers: Mapping[str, BoundedWorker] | None = None,
        paces: Mapping[str, Pace] | None = None,
        head: FeatureHead | None = None,
        camera_heads: Mapping[str, FeatureHead] | None = None,
        shadow_heads: Mapping[str, FeatureHead] | None = None,
        second_look: SecondLook | None = None,
    ) -> None:
        if not models:
            raise ModelError("a classifier needs at least one model")
        self._critical = list(models)
        if all(m.spec.blend is not None for m in models):
            log.warning("model %s was trained to be blended with the zero-shot models, but none "
                        "is on the critical path: it decides alone, at an operating point not "
                        "chosen for that", models[0].name)
        self.thresholds = thresholds or Thresholds()
        self.head = head
        # Per camera, a re-fit of the default head on that camera's own scenes and labels,
        # blended for its crops in place of ``head`` (two cameras of one coop see different
        # things); they read the same features as ``head``, which must be there.
        self.camera_heads = dict(camera_heads or {}) if head is not None else {}
        # Per camera, a re-fitted default head waiting for its judgement: its answer is
        # recorded in the scores beside the decision (edge/learn/shadow.py reads it), never
        # blended.
        self.shadow_heads = dict(shadow_heads or {}) if head is not None else {}
        # Asked, in the default head's place, about the crops it leaves undecided
        # (classifier/second_look.py); not for a camera with a re-fit of its own, which was
        # fitted to that camera's scenes and decides them itself.
        self.second_look = second_look if head is not None else None
        self.deadline_ms = deadline_ms
        self._clock = clock
        self._closed = threading.Event()
        self.model_names: tuple[str, ...] = tuple(m.name for m in models)
        self.on_late: Callable[[int, ModelScore], None] | None = None
        self._own_workers = workers is None
        self._workers = dict(workers) if workers is not None else {
            m.name: BoundedWorker(f"critical-{m.name}", capacity=1) for m in models[1:]
        }
        self._paces = {m.name: (paces or {}).get(m.name) or Pace() for m in models}

    @property
    def models(self) -> tuple[Model, ...]:
        """The loaded models, primary first."""
        return tuple(self._critical)

    @property
    def crop_side(self) -> int:
        """The side to size a crop to once, in the crop stage: the primary model's input, so
        that its own pre-processing is a table look-up (other models resize from there)."""
        return self._critical[0].prepare.side

    def classify(self, rgb: np.ndarray, camera: str | None = None) -> Answer:
        """The verdict for one RGB uint8 picture (a crop) of ``camera``, with every model's
        own answer. A camera with a default head of its own (``camera_heads``) is decided with
        it; None (a picture of no camera) or another camera, with ``head``.

        ``rgb`` must not be changed until the late answers are in (the pipeline's crops are
        new arrays for every frame).
        """
        if self._closed.is_set():
            raise RuntimeError("the classifier is closed")
        ticket = next(_TICKETS)
        started = self._clock()
        pending, busy = self._dispatch(ticket, rgb)
        primary = self._critical[0]
        score, ev = self.score(primary, rgb)
        regime = regime_of(rgb)
        scores, evidence, late = {primary.name: score}, [ev], []
        for item in pending:
            if self._await(item, started):
                assert item.score is not None and item.evidence is not None
                scores[item.model.name] = item.score
                evidence.append(item.evidence)
            else:
                late.append(item.model.name)
        answer = self._decide(ticket, scores, evidence, tuple(late), busy, regime, camera)
        return replace(self._look_again(answer, rgb, evidence, regime, camera), regime=regime)

    def _dispatch(self, ticket: int, rgb: np.ndarray) -> tuple[list[_Pending], tuple[str, ...]]:
        pending, busy = [], []
        for model in self._critical[1:]:
            worker = self._workers[model.name]
            deadline_ms = self._paces[model.name].deadline_ms(self.deadline_ms, worker.backlog)
            item = _Pending(model, ticket, deadline_ms)
            if worker.offer(functools.partial(self._run, item, rgb)):
                pending.append(item)
            else:
                busy.append(model.name)
                log.debug("model %s still busy with an earlier crop: not asked", model.name)
        return pending, tuple(busy)

    def _run(self, item: _Pending, rgb: np.ndarray) -> None:
        """On the model's worker: score, stamp the arrival, hand a late answer on."""
        try:
            score, ev = self.score(item.model, rgb)
        except Exception:
            log.exception("model %s failed on crop %d", item.model.name, item.ticket)
            item.arrived.set()
            return
        self._paces[item.model.name].add(score.total_ms)
        with item.lock:
            item.score, item.evidence, item.at = score, ev, self._clock()
            abandoned = item.abandoned
            item.arrived.set()
        if abandoned:
            self._late(item.ticket, score)

    def _await(self, item: _Pending, started: float) -> bool:
        """Whether ``item`` arrived within the deadline (waiting for it at most until then)."""
        left_s = item.deadline_ms / 1000.0 - (self._clock() - started)
        item.arrived.wait(max(0.0, left_s))
        with item.lock:
            in_time = item.score is not None and (item.at - started) * 1000.0 <= item.deadline_ms
            if in_time:
                return True
            item.abandoned = True
            arrived_late = item.score
        if arrived_late is not None:  # here, but stamped after the deadline
            self._late(item.ticket, arrived_late)
        else:
            log.info("model %s missed its %.0f ms deadline on crop %d",
                     item.model.name, item.deadline_ms, item.ticket)
        return False

    def _late(self, ticket: int, score: ModelScore) -> None:
        log.debug("late answer of %s for crop %d: %s", score.model, ticket, score.verdict.value)
        if self.on_late is not None:
            self.on_late(ticket, score)

    def score(self, model: Model, rgb: np.ndarray) -> tuple[ModelScore, Evidence]:
        """One model's own answer for ``rgb`` and its evidence for the combination."""
        started = self._clock()
        # Features only where the default head reads them (a package model has none).
        wanted = self.head is not None and model.name in self.head.sources
        if wanted:
            probs, features, invoke_ms = model.infer(rgb)
        else:
            (probs, invoke_ms), features = model.probabilities(rgb), None
        ev = evidence_of(model, probs, features)
        verdict, value = verdict_for(ev.predator, ev.chicken, self.thresholds)
        top = top_labels(model, probs, self.thresholds.top_k)
        total_ms = (self._clock() - started) * 1000.0
        return ModelScore(
            model=model.name, verdict=verdict, score=round(value, 4),
            predator_score=round(ev.predator, 4), chicken_score=round(ev.chicken, 4),
            label=top[0][0], top=top, invoke_ms=round(invoke_ms, 3), total_ms=round(total_ms, 3),
        ), ev

    def _look_again(self, answer: Answer, rgb: np.ndarray, evidence: list[Evidence],
                    regime: Regime, camera: str | None) -> Answer:
        """``answer``, or, when the default head left it undecided (its predator score in the
        second look's band), the second look's: the extractor runs on ``rgb`` and the second
        look's head decides in the default head's place (both answers are in ``models``)."""
        look = self.second_look
        if (look is None or self.head is None or self.head.name not in answer.models
                or (camera is not None and camera in self.camera_heads)
                or not look.undecided(answer.predator_score, self.thresholds.predator)):
            return answer
        embedding, invoke_ms = look.embed(rgb)
        second = self._head_answer(look.head, evidence, regime,
                                   {look.extractor.ref.model: embedding}, invoke_ms)
        if second is None:
            return answer
        # The chicken score stays the higher one (classifier/blend.py, hen_score): a hen the
        # default head sees is not unseen because the second look was asked about her too.
        seen = max(second[1].chicken, answer.models[self.head.name].chicken_score)
        return self._combined(answer.ticket, {**answer.models, second[0].model: second[0]},
                              [*evidence, replace(second[1], chicken=seen)], answer.late,
                              answer.busy, None)

    def _head_answer(self, head: FeatureHead | None, evidence: list[Evidence], regime: Regime,
                     more: Mapping[str, np.ndarray] | None = None, more_ms: float = 0.0
                     ) -> tuple[ModelScore, Evidence, bool | None] | None:
        """A default head's answer (``head``: the one blended, its shadow or the second look)
        from the features of the models that answered in time (and ``more``, the second look's
        extractor's, which took ``more_ms``), and whether a re-fit decided it within its scene
        (:attr:`Answer.within_scene`); None without a head, when one of its source models did
        not answer, or in a light (``regime``) the head is not used in."""
        if head is None or any(e.blend is not None for e in evidence):
            return None  # no head, or the owner's own joined head decides in its place
        timed = head.timed_scores(
            {**{e.name: e.features for e in evidence if e.features is not None}, **(more or {})},
            regime)
        if timed is None:
            return None
        (background, chicken, predator) = (float(v) for v in timed.scores)
        ms = timed.ms + more_ms
        verdict, value = verdict_for(predator, chicken, self.thresholds)
        top = sorted(zip(CLASSES, (background, chicken, predator), strict=True),
                     key=lambda lv: -lv[1])
        score = ModelScore(
            model=head.name, verdict=verdict, score=round(value, 4),
            predator_score=round(predator, 4), chicken_score=round(chicken, 4),
            label=top[0][0], top=tuple((label, round(v, 4)) for label, v in top),
            invoke_ms=round(max(ms, 0.001), 3), total_ms=round(max(ms, 0.001), 3),
        )
        return score, Evidence(head.name, predator, chicken, 0.0, background, False,
                               head.info.blend), timed.within_scene

    def _decide(
        self, ticket: int, scores: dict[str, ModelScore], evidence: list[Evidence],
        late: tuple[str, ...], busy: tuple[str, ...], regime: Regime, camera: str | None,
    ) -> Answer:
        blended = self.camera_heads.get(camera, self.head) if camera is not None else self.head
        head = self._head_answer(blended, evidence, regime)
        if head is not None:
            shadow = self._head_answer(
                self.shadow_heads.get(camera) if camera is not None else None, evidence, regime)
            # Last in priority: a head the owner trained and joined (a package) comes first.
            scores = {**scores, head[0].model: head[0]}
            evidence = [*evidence, head[1]]
            if shadow is not None:
                scores[shadow[0].model] = shadow[0]
        return self._combined(ticket, scores, evidence, late, busy,
                              None if head is None else head[2])

    def _combined(self, ticket: int, scores: dict[str, ModelScore], evidence: list[Evidence],
                  late: tuple[str, ...], busy: tuple[str, ...], within_scene: bool | None
                  ) -> Answer:
        """The answer of the combination of ``evidence`` (its models' own in ``scores``)."""
        chosen = by_priority(evidence)
        combined = combine(chosen, self.model_names[0])
        verdict, value = verdict_for(combined.predator, combined.chicken, self.thresholds)
        decided_by = combined.decided_by
        if verdict is Verdict.BACKGROUND:
            decided_by = next((e.name for e in chosen if not e.specialist), chosen[0].name)
        elif verdict is Verdict.CHICKEN:
            decided_by = max(chosen, key=lambda e: e.chicken).name
        return Answer(
            verdict=verdict, score=round(value, 4), predator_score=round(combined.predator, 4),
            chicken_score=round(combined.chicken, 4), label=scores[decided_by].label,
            decided_by=decided_by, models=scores, ticket=ticket, late=late, busy=busy,
            within_scene=within_scene,
            zero_shot_chicken=(None if combined.zero_shot_chicken is None
                               else round(combined.zero_shot_chicken, 4)),
        )

    def close(self) -> None:
        """Release the interpreters (and the workers this classifier started); idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._own_workers:
            for worker in self._workers.values():
                worker.close()
        self._critical.clear()

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def by_priority(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence the decision is taken on: every specialist, one generalist and one trained
    head, each the first to have answered in priority order: the critical models
    (``evidence[1:]``, configuration order) before the primary (``evidence[0]``), the fast
    fallback."""
    ranked = [*evidence[1:], *evidence[:1]]
    generalist = next((e for e in ranked if not e.specialist and e.blend is None), None)
    head = next((e for e in ranked if e.blend is not None), None)
    specialists = [e for e in evidence if e.specialist]
    return specialists + [e for e in (generalist, head) if e is not None]


CRITICAL_ROLES: tuple[Role, ...] = ("primary", "critical")


def _spec_for(use: ModelUse, specs: dict[str, ModelSpec]) -> ModelSpec:
    spec = specs.get(use.name)
    if spec is None:
        known = ", ".join(sorted(specs))
        raise UnknownModelError(f"model {use.name!r} is not in the manifest; known: {known}")
    if spec.kind != "classifier":
        raise UnknownModelError(
            f"model {use.name!r} is an {spec.kind} model, not a classifier: it gives no verdict"
        )
    if spec.verdicts is None or spec.labels is None:
        raise ModelError(f"model {use.name!r} has no labels or verdict map in the manifest")
    return spec


def load_any(use: ModelUse, store: AssetFiles, specs: dict[str, ModelSpec]) -> Model:
    """The one place a model is loaded by name: a local model package when ``use.package`` is
    set (``classifier.package``, retraining's output), else the manifest's model."""
    try:
        if use.package:
            from classifier.package import load_package_model  # only when a package is used

            return load_package_model(Path(use.package), store, use.threads)
        return load_model(_spec_for(use, specs), store, use.threads)
    except ImportError as exc:
        raise ModelError(f"cannot load model {use.name}: {exc}") from None


def thresholds_of(cfg: ModelsConfig) -> Thresholds:
    """The thresholds of a models configuration."""
    return Thresholds(cfg.predator_threshold, cfg.chicken_threshold, cfg.top_k)


def load_classifier(
    cfg: ModelsConfig, store: AssetFiles, specs: dict[str, ModelSpec] | None = None
) -> Classifier:
    """Load and check each critical-path model of ``cfg``, primary first; ModelError on failure.

    Off-path models (shadow, canary) are the rendezvous' (:mod:`classifier.rendezvous`); here
    they are not loaded.
    """
    specs = specs if specs is not None else load_specs()
    uses = sorted(cfg.by_role(*CRITICAL_ROLES), key=lambda u: u.role != "primary")
    for use in cfg.use:
        if use.role not in CRITICAL_ROLES and not use.package:
            _spec_for(use, specs)  # a wrong name fails now, not at the first swap
    models = [load_any(use, store, specs) for use in uses]
    return Classifier(
        models, thresholds_of(cfg), cfg.deadline_ms,
        head=head_for(cfg.default_head, models),
        camera_heads=camera_heads_for(cfg.default_head, models, cfg.camera_heads, "blended"),
        shadow_heads=camera_heads_for(cfg.default_head, models, cfg.camera_head_shadows,
                                      "shadow"),
        second_look=fitting(try_load_second_look(store) if cfg.default_head and cfg.second_look
                            else None, models))
