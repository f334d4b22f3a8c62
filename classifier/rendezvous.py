"""The rendezvous of models (Dunning and Friedman, "Machine Learning Logistics"), on one Pi.

Every model sees the same crop; a rendezvous picks the answer that decides. Here:

- the **critical path** is a :class:`~classifier.ensemble.Classifier`: the primary, plus any
  ``critical`` models, answered within ``deadline_ms`` (late ones are logged, not waited for);
- **shadows** (candidates) and the **canary** (a fixed trusted baseline) score the same crop
  afterwards, each on its own low-priority worker with a short queue: when one falls behind, it
  skips crops (counted), so it never adds to the decision-to-pin latency;
- their answers, and late critical answers, meet on a :class:`~classifier.board.ScoreBoard` by
  the crop's ticket. The event writer asks :meth:`Rendezvous.late_answers` for them just
  before writing an event, so the event, written once, carries every model that saw its crop;
- the primary's verdicts are compared with the canary's (:class:`~classifier.canary.CanaryMonitor`);
- :meth:`Rendezvous.swap` changes models without a restart: new models are loaded, checked and
  warmed up first (a failure leaves the running plan in place and says why); the switch itself
  is one reference assignment, so the frame being classified finishes on the old plan and the
  next one starts on the new: no frame is lost. The previous primary stays loaded (as a shadow
  when the registry made the change, on standby otherwise) so that a rollback is instant.

Example::

    rendezvous = load_rendezvous(registry.effective(), store)
    answer = rendezvous.classify(crop)               # critical path only; returns at once after
    ...
    late = rendezvous.late_answers(answer.ticket)     # on the event writer's thread
    report = rendezvous.swap(registry.effective())    # after models promote / SIGHUP
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from classifier.assets import AssetFiles
from classifier.board import Joined, ScoreBoard
from classifier.canary import CanaryMonitor
from classifier.config import ModelsConfig, ModelUse
from classifier.ensemble import (
    CRITICAL_ROLES,
    Answer,
    Classifier,
    evidence_of,
    load_any,
    thresholds_of,
)
from classifier.errors import ModelError
from classifier.feature_head import camera_heads_for, head_for
from classifier.model import Model
from classifier.pace import Pace
from classifier.second_look import SecondLook, fitting, try_load_second_look
from classifier.spec import ModelSpec, load_specs
from classifier.verdict import ModelScore
from classifier.worker import BoundedWorker

log = logging.getLogger(__name__)

Key = tuple[str, int, str | None]
OFF_PATH_NICE = 10
WARMUP_RUNS = 3


class SwapError(ModelError):
    """A model change refused: the running models stay; the message says why."""


def key_of(use: ModelUse) -> Key:
    """What makes two entries the same loaded model."""
    return (use.name, use.threads, use.package)


@dataclass(frozen=True, slots=True)
class LateAnswers:
    """What an event gains from the answers that were not in when it was decided.

    ``scores``: each added model's answer as an event stores it, with its ``role`` (``shadow``,
    ``canary`` or ``late``); ``decision``: ``late`` (critical models past the deadline),
    ``skipped`` (off-path models that were behind) and ``missing`` (answers still not in after
    ``join_wait_ms``), each only when not empty.
    """

    scores: dict[str, dict[str, Any]]
    decision: dict[str, list[str]]


@dataclass(slots=True)
class Loaded:
    """A model in memory, its worker, and its figures."""

    use: ModelUse
    model: Model
    worker: BoundedWorker
    warmup_ms: float = 0.0
    scored: int = 0
    late: int = 0
    ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    # Its cost on this board, which its critical-path deadline follows; kept across swaps.
    pace: Pace = field(default_factory=Pace)

    def record(self, score: ModelScore) -> None:
        """Count one answer and its time."""
        self.scored += 1
        self.ms.append(score.total_ms)

    def figures(self) -> dict[str, Any]:
        """Version, load, warm-up and inference times, counts."""
        spec = getattr(self.model, "spec", None)
        return {
            "name": self.use.name, "version": getattr(spec, "version", "?"),
            "threads": self.use.threads, "package": self.use.package,
            "blend": getattr(spec, "blend", None),
            "load_ms": round(float(getattr(self.model, "load_ms", 0.0)), 1),
            "warmup_ms": round(self.warmup_ms, 1),
            "inference_ms_p50": round(float(np.median(self.ms)), 2) if self.ms else None,
            "pace_ms": None if (pace := self.pace.typical_ms()) is None else round(pace, 1),
            "scored": self.scored, "skipped": self.worker.skipped, "late": self.late,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """Which loaded model plays which role; replaced whole by a swap, never changed.

    ``loaded`` maps each of ``cfg``'s model names to its :class:`Loaded`: a classify that
    began on this plan finds its models here even after a swap has released them from the
    rendezvous (a released model's worker is closed, its interpreter stays usable).
    """

    cfg: ModelsConfig
    classifier: Classifier
    # Each off-path model with the worker this plan gives it: a crop decided on this plan
    # goes to that worker even if a later swap has given the model another.
    off_path: tuple[tuple[ModelUse, Loaded, BoundedWorker], ...]
    canary: str | None
    loaded: Mapping[str, Loaded]
    # The retrained head blended into the decision (classifier/blend.py), if any: the first
    # critical model whose spec blends, as classifier.ensemble.by_priority takes it. Found
    # once per plan, not per crop.
    joined_head: str | None = None

    @property
    def primary(self) -> str:
        """The primary model's name."""
        return self.classifier.model_names[0]

    @property
    def decider(self) -> str:
        """What the canary watches: the primary's own answer, or with a head joined, the
        blended decision, named ``<primary>+<head>``."""
        return f"{self.primary}+{self.joined_head}" if self.joined_head else self.primary


@dataclass(frozen=True, slots=True)
class SwapReport:
    """What a swap did and how long it took (milliseconds)."""

    previous_primary: str | None
    primary: str
    loaded: tuple[str, ...]
    released: tuple[str, ...]
    prepare_ms: float
    switch_ms: float
    at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def check_model(model: Model, runs: int = WARMUP_RUNS) -> float:
    """Run ``model`` on test pictures and check its outputs; the milliseconds it took.

    The first invocations of an interpreter are slow (allocation, caches): doing them here
    keeps them off the first frame the model decides on. Raises ModelError on outputs that are
    not probabilities.
    """
    side = int(model.prepare.side)
    rng = np.random.default_rng(0)
    pictures = [np.full((side, side, 3), 128, np.uint8),
                rng.integers(0, 256, (side, side, 3), dtype=np.uint8)]
    started = time.perf_counter()
    for i in range(max(runs, 1)):
        probs, _ = model.probabilities(pictures[i % len(pictures)])
        total = float(np.sum(probs))
        if not np.all(np.isfinite(probs)) or float(np.min(probs)) < -1e-3 or not 0.5 < total < 1.5:
            raise ModelError(
                f"model {model.name}: warm-up gave outputs that are not probabilities "
                f"(sum {total:.3g}, min {float(np.min(probs)):.3g})"
            )
        evidence_of(model, probs)  # a verdict map is there and fits
    return (time.perf_counter() - started) * 1000.0


class Rendezvous:
    """Primary, critical, shadow and canary models over the same crops; see the module doc.

    ``load(use)`` loads one model (ModelError when it cannot); ``clock`` (seconds) times swaps.
    """

    def __init__(
        self, cfg: ModelsConfig, load: Callable[[ModelUse], Model], *,
        clock: Callable[[], float] = time.perf_counter,
        second_look: Callable[[], SecondLook | None] | None = None,
    ) -> None:
        self._load = load
        # Loaded when a plan first wants it, then kept for every later plan (its extractor is
        # a network of its own); a failure to load is not retried.
        self._load_second_look = second_look
        self._second_look: SecondLook | None = None
        self._clock = clock
        self._swap_lock = threading.Lock()
        self._loaded: dict[Key, Loaded] = {}
        self._standby: Key | None = None
        self.board = ScoreBoard()
        self.canary = CanaryMonitor(
            cfg.canary_window, cfg.canary_min_samples, cfg.canary_max_disagreement
        )
        self.last_swap: SwapReport | None = None
        self.last_error: str | None = None
        self._plan: Plan | None = None
        self._closed = False
        try:
            self.swap(cfg)
        except BaseException:
            self.close()
            raise

    # -- the critical path ---------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        """The models in use now."""
        assert self._plan is not None, "the rendezvous has no models"
        return self._plan

    @property
    def crop_side(self) -> int:
        """The primary's input side (see :attr:`Classifier.crop_side`)."""
        return self.plan.classifier.crop_side

    @property
    def model_names(self) -> tuple[str, ...]:
        """Critical-path models, primary first."""
        return self.plan.classifier.model_names

    def classify(self, rgb: np.ndarray, camera: str | None = None) -> Answer:
        """Decide on ``rgb`` (a crop of ``camera``, None: unknown) with the critical path,
        then hand it to the off-path models.

        Returns as soon as the decision is taken; the off-path answers join the board later.
        ``rgb`` must not be changed afterwards (the pipeline's crops are new arrays).
        """
        if self._closed:
            raise RuntimeError("the rendezvous is closed")
        plan = self._plan  # read once: a swap during this call does not affect it
        assert plan is not None
        answer = plan.classifier.classify(rgb, camera)
        own = answer.models[plan.primary]
        # With a head joined, the primary's own verdict is not what decides: the canary is
        # compared with the blended decision too, under the decider's name; when the head did
        # not answer in time the decision was not blended, and is not counted as if it were.
        head = plan.joined_head
        decision = None if head is None or head not in answer.models else replace(
            own, model=plan.decider, verdict=answer.verdict, score=answer.score,
            predator_score=answer.predator_score, chicken_score=answer.chicken_score,
            label=answer.label)
        self.board.open(answer.ticket, own, plan.canary, decision)
        for name, score in answer.models.items():
            if name in plan.loaded:  # the default head answers too, but is no loaded model
                plan.loaded[name].record(score)
        for name in answer.late:
            plan.loaded[name].late += 1
            self.board.expect(answer.ticket, name, "late")
        for use, loaded, worker in plan.off_path:
            job = functools.partial(self._off_path, plan, loaded, answer.ticket, rgb)
            if worker.offer(job):
                self.board.expect(answer.ticket, use.name, use.role)
            else:
                self.board.skip(answer.ticket, use.name)
        return answer

    def _off_path(self, plan: Plan, loaded: Loaded, ticket: int, rgb: np.ndarray) -> None:
        score, _ = plan.classifier.score(loaded.model, rgb)
        loaded.record(score)
        self._arrived(ticket, score)

    def _arrived(self, ticket: int, score: ModelScore) -> None:
        for model, agrees in self.board.add(ticket, score):
            self.canary.observe(model, agrees)

    def _on_late(self, ticket: int, score: ModelScore) -> None:
        self._arrived(ticket, score)

    def join(self, ticket: int, wait_s: float | None = None) -> Joined | None:
        """The answers to ``ticket`` that came after its decision (see :class:`ScoreBoard`)."""
        wait = self.plan.cfg.join_wait_ms / 1000.0 if wait_s is None else wait_s
        return self.board.join(ticket, wait)

    def late_answers(self, ticket: int) -> LateAnswers | None:
        """The off-path and late answers for crop ``ticket``, waiting up to ``join_wait_ms``
        for them; None if the ticket is unknown.

        Called by the event writer just before it writes the crop's event (so the event is
        still written once, with them).
        """
        joined = self.join(ticket)
        if joined is None:
            return None
        scores = {name: {**score.to_dict(), "role": joined.roles[name]}
                  for name, score in joined.scores.items()}
        late = sorted(n for n, r in joined.roles.items() if r == "late")
        extra = {"late": late, "skipped": list(joined.skipped), "missing": list(joined.missing)}
        if joined.missing:
            log.info("crop %d: %s not in after %.0f ms; its event is written without them",
                     ticket, ", ".join(joined.missing), self.plan.cfg.join_wait_ms)
        return LateAnswers(scores, {k: v for k, v in extra.items() if v})

    # -- changing models -------------------------------------------------------------------

    def swap(self, cfg: ModelsConfig) -> SwapReport:
        """Run ``cfg``'s models from the next crop on; SwapError leaves the running ones."""
        with self._swap_lock:
            started = self._clock()
            old = self._plan
            fresh, refits = self._load_missing(cfg, old)
            self._loaded.update(fresh)
            plan = self._plan_for(cfg, refits)
            prepared = self._clock()
            self._plan = plan  # the switch: the next classify() takes the new plan
            switched = self._clock()
            self._refit_workers(refits)
            released = self._release(plan, old)
            self.canary.reset(plan.decider, plan.canary)
            report = SwapReport(
                previous_primary=old.primary if old else None, primary=plan.primary,
                loaded=tuple(k[0] for k in fresh), released=released,
                prepare_ms=round((prepared - started) * 1000.0, 2),
                switch_ms=round((switched - prepared) * 1000.0, 4), at=time.time(),
            )
            self.last_swap, self.last_error = report, None
        log.info("models: primary %s (was %s); loaded %s; released %s; prepared in %.0f ms",
                 report.primary, report.previous_primary, list(report.loaded),
                 list(report.released), report.prepare_ms)
        return report

    def _load_missing(
        self, cfg: ModelsConfig, old: Plan | None
    ) -> tuple[dict[Key, Loaded], dict[Key, BoundedWorker]]:
        """The models ``cfg`` needs that are not loaded yet, and new workers for loaded ones
        that move between on- and off-path (given to them only at the switch)."""
        fresh: dict[Key, Loaded] = {}
        refits: dict[Key, BoundedWorker] = {}
        for use in cfg.use:
            key = key_of(use)
            if key in self._loaded:
                if key not in refits and self._needs_refit(self._loaded[key], use):
                    refits[key] = self._worker_for(use, cfg)
                continue
            if key in fresh:
                continue
            try:
                model = self._load(use)
                warmup_ms = check_model(model)
            except Exception as exc:
                for worker in [*(x.worker for x in fresh.values()), *refits.values()]:
                    worker.close()
                running = f"; still running {old.primary}" if old else ""
                self.last_error = f"model {use.name}: {exc}{running}"
                raise SwapError(self.last_error) from None
            # The warm-up is the first measure of the model's pace on this board.
            fresh[key] = Loaded(use, model, self._worker_for(use, cfg), warmup_ms,
                                pace=Pace(seed_ms=warmup_ms))
        return fresh, refits

    @staticmethod
    def _worker_for(use: ModelUse, cfg: ModelsConfig) -> BoundedWorker:
        """A critical model's worker keeps one crop at normal priority; an off-path model's
        keeps ``shadow_queue`` crops at a lower priority."""
        if use.role in CRITICAL_ROLES:
            return BoundedWorker(f"model-{use.name}", capacity=1)
        return BoundedWorker(f"model-{use.name}", capacity=cfg.shadow_queue, nice=OFF_PATH_NICE)

    @staticmethod
    def _needs_refit(loaded: Loaded, use: ModelUse) -> bool:
        """Whether a loaded model changes between on- and off-path (and so needs the other
        kind of worker)."""
        return (use.role in CRITICAL_ROLES) != (loaded.worker.nice == 0)

    def _refit_workers(self, refits: dict[Key, BoundedWorker]) -> None:
        """After the switch: the moved models take their new workers. The old ones finish
        their queued crops on their own threads; until the switch the running plan kept them,
        so a swap that is refused, or still loading, never leaves a model without its worker."""
        for key, worker in refits.items():
            loaded = self._loaded[key]
            old, loaded.worker = loaded.worker, worker
            old.close(timeout_s=0)

    def _second_look_for(self, cfg: ModelsConfig) -> SecondLook | None:
        """The second look when ``cfg`` wants it (loaded the first time), else None."""
        if not (cfg.default_head and cfg.second_look):
            return None
        if self._second_look is None and self._load_second_look is not None:
            load, self._load_second_look = self._load_second_look, None
            self._second_look = load()
        return self._second_look

    def _plan_for(self, cfg: ModelsConfig, refits: Mapping[Key, BoundedWorker]) -> Plan:
        critical = sorted(cfg.by_role(*CRITICAL_ROLES), key=lambda u: u.role != "primary")
        loaded = [(u, self._loaded[key_of(u)]) for u in critical]
        models = [x.model for _, x in loaded]
        classifier = Classifier(
            models, thresholds_of(cfg), cfg.deadline_ms,
            workers={x.use.name: refits.get(key_of(u), x.worker) for u, x in loaded},
            paces={x.use.name: x.pace for _, x in loaded},
            head=head_for(cfg.default_head, models),
            camera_heads=camera_heads_for(cfg.default_head, models, cfg.camera_heads, "blended"),
            shadow_heads=camera_heads_for(cfg.default_head, models, cfg.camera_head_shadows,
                                          "shadow"),
            second_look=fitting(self._second_look_for(cfg), models),
        )
        classifier.on_late = self._on_late
        shadows = [(u, self._loaded[key_of(u)]) for u in cfg.by_role("shadow", "canary")]
        off_path = tuple((u, x, refits.get(key_of(u), x.worker)) for u, x in shadows)
        canary = next((u.name for u in cfg.by_role("canary")), None)
        by_name = MappingProxyType({u.name: self._loaded[key_of(u)] for u in cfg.use})
        head = next((x.use.name for _, x in loaded[1:] if x.model.spec.blend is not None), None)
        return Plan(cfg, classifier, off_path, canary, by_name, head)

    def _release(self, plan: Plan, old: Plan | None) -> tuple[str, ...]:
        """Unload what the new plan does not use, except the previous primary (standby)."""
        in_use = {key_of(u) for u in plan.cfg.use}
        if old is not None and old.primary != plan.primary:
            self._standby = key_of(old.cfg.primary)
        keep = in_use | ({self._standby} if self._standby else set())
        released = []
        for key in [k for k in self._loaded if k not in keep]:
            self._loaded.pop(key).worker.close()  # finishes its queued crops first
            released.append(key[0])
        return tuple(released)

    # -- figures ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Roles, versions, times, skips, agreement with the canary, the alarm, the last swap
        (what ``tensorchicken models list`` and ``doctor`` show)."""
        plan = self.plan
        roles = {key_of(u): u.role for u in plan.cfg.use}
        models = []
        for key, loaded in list(self._loaded.items()):
            figures = loaded.figures()
            figures["role"] = roles.get(key, "standby")
            figures["agreement_with_canary"] = self.canary.agreement(key[0])
            models.append(figures)
        return {
            "primary": plan.primary, "deadline_ms": plan.cfg.deadline_ms, "models": models,
            "canary": self.canary.status().to_dict(),
            "last_swap": self.last_swap.to_dict() if self.last_swap else None,
            "last_error": self.last_error,
        }

    def close(self) -> None:
        """Stop every worker (each finishes its queued crops); idempotent."""
        self._closed = True
        for loaded in list(self._loaded.values()):
            loaded.worker.close()
        self._loaded.clear()

    def __enter__(self) -> Rendezvous:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unloadable_off_path(cfg: ModelsConfig, store: AssetFiles) -> list[tuple[ModelUse, ModelError]]:
    """The shadow and canary models of ``cfg`` that cannot be loaded, each with why (each is
    loaded once to find out, and let go)."""
    specs = load_specs()
    failed = []
    for use in cfg.by_role("shadow", "canary"):
        try:
            load_any(use, store, specs)
        except ModelError as exc:
            failed.append((use, exc))
    return failed


def load_rendezvous(
    cfg: ModelsConfig, store: AssetFiles, specs: dict[str, ModelSpec] | None = None
) -> Rendezvous:
    """The rendezvous of ``cfg``'s models, loaded from ``store``; ModelError naming a problem."""
    specs = specs if specs is not None else load_specs()
    return Rendezvous(cfg, lambda use: load_any(use, store, specs),
                      second_look=lambda: try_load_second_look(store))
